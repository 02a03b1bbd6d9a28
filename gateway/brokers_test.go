package gateway

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

// Helpers of the broker tests (kafka_test.go, redis_test.go, jetstream_test.go): a gateway
// with the demo employees subgraph and one event subgraph from testdata, on providers the
// test configures, with its log captured.

// eventGateway is a gateway started by startEventGateway.
type eventGateway struct {
	*Gateway
	employees *minigraph.Subgraph
	logs      *logBuffer
}

// eventGatewayConfig describes the gateway of a broker test.
type eventGatewayConfig struct {
	// events is the event subgraph SDL, a file name in testdata.
	events string
	// providers is the YAML of events.providers, each line indented by four spaces.
	providers string
	// listen is the listen address; default 127.0.0.1:0. JetStream durable consumers are
	// named after it, so two replicas need two different addresses.
	listen string
	// extra is appended to the config as top-level YAML.
	extra string
	// options are New's options.
	options []Option
}

// startEventGateway starts a gateway and stops it when the test ends. Start a broker the
// test restarts or stops before the gateway, so that the gateway is shut down first.
func startEventGateway(t *testing.T, c eventGatewayConfig) *eventGateway {
	t.Helper()
	cfg, employees := loadEventConfig(t, c)
	logs := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("gateway log:\n%s", logs.String())
		}
	})
	gw := serveGateway(t, cfg, zerolog.New(logs).Level(zerolog.DebugLevel).With().Timestamp().Logger(), c.options...)
	return &eventGateway{Gateway: gw, employees: employees, logs: logs}
}

// loadEventConfig writes the config and schemas of c to a temporary directory, serves the
// demo employees subgraph and loads the config.
func loadEventConfig(t *testing.T, c eventGatewayConfig) (*config.Config, *minigraph.Subgraph) {
	t.Helper()
	if c.listen == "" {
		c.listen = "127.0.0.1:0"
	}
	employees := demo.Employees()
	es := httptest.NewServer(employees.Handler())
	t.Cleanup(es.Close)

	sdl, err := os.ReadFile(filepath.Join("testdata", c.events))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("employees.graphql", employees.SDL)
	write("events.graphql", string(sdl))
	write("edgate.yaml", fmt.Sprintf(`listen_addr: %q
subgraphs:
  - name: employees
    routing_url: %s
    schema: { file: employees.graphql }
  - name: events
    schema: { file: events.graphql }
events:
  providers:
%s
sse: { heartbeat_interval: 1s }
%s`, c.listen, es.URL, strings.TrimRight(c.providers, "\n"), c.extra))
	cfg, err := config.Load(filepath.Join(dir, "edgate.yaml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	return cfg, employees
}

// post runs a query or mutation and returns the response body.
func (g *eventGateway) post(t *testing.T, query, variables string) string {
	t.Helper()
	return (&testGateway{Gateway: g.Gateway}).post(t, query, variables)
}

// replicaAddr returns a free 127.0.0.1 address below Linux's ephemeral port range
// (32768-60999), so that no listener on port 0 (a test subgraph, the embedded NATS server)
// takes it between this call and the gateway's start, nor between a replica's shutdown and
// its restart, as can happen with freeAddr.
func replicaAddr(t *testing.T) string {
	t.Helper()
	for i := 0; i < 100; i++ {
		addr := fmt.Sprintf("127.0.0.1:%d", 20000+rand.IntN(12000))
		if l, err := net.Listen("tcp", addr); err == nil {
			_ = l.Close()
			return addr
		}
	}
	t.Fatal("no free port below the ephemeral range")
	return ""
}

// metrics returns the gateway's /metrics page.
func (g *eventGateway) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get("http://" + g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// logBuffer collects the gateway's log lines; the gateway writes from many goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// line returns the first log line containing every one of parts, or "".
func (b *logBuffer) line(parts ...string) string {
	for _, l := range strings.Split(b.String(), "\n") {
		all := true
		for _, p := range parts {
			all = all && strings.Contains(l, p)
		}
		if all {
			return l
		}
	}
	return ""
}

// errorFrame asserts that an SSE next frame is a GraphQL error containing want.
func errorFrame(t *testing.T, got, want string) {
	t.Helper()
	if !strings.Contains(got, `"errors"`) || !strings.Contains(got, want) {
		t.Fatalf("got %s, want a GraphQL error containing %s", got, want)
	}
}

// nextFrame returns the next "next" frame with its id.
func (c *sseClient) nextFrame(t *testing.T) sseEvent {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("stream closed")
		}
		if ev.Event != "next" {
			t.Fatalf("got %q frame %q, want next", ev.Event, ev.Data)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return sseEvent{}
}
