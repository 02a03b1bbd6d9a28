package gateway

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"

	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

// testEventsSDL is the event subgraph of the gateway tests.
const testEventsSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external"])

type Query {
  employeeFromEvent(id: Int!): Employee! @edfs__natsRequest(subject: "getEmployee.{{ args.id }}")
}

type Mutation {
  updateEmployee(id: Int!, name: String): edfs__PublishResult! @edfs__natsPublish(subject: "employeeUpdated.{{ args.id }}")
  updateEmployeeByKey(key: String!): edfs__PublishResult! @edfs__natsPublish(subject: "employeeUpdated.{{ args.key }}")
}

type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.{{ args.id }}"])
  employeeUpdatedByKey(key: String!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.{{ args.key }}"])
  employeeUpdates: Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.*"])
  employeeUpdatedTwo: Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.1", "employeeUpdated.2"])
  employeesFiltered(ids: [Int!]!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.*"]) @openfed__subscriptionFilter(condition: { IN: { fieldPath: "id", values: ["{{ args.ids }}"] } })
  catalogChanged: CatalogItem! @edfs__natsSubscribe(subjects: ["catalogChanged"])
}

union CatalogItem = Employee | Product

type Employee @key(fields: "id", resolvable: false) {
  id: Int! @external
}

type Product @key(fields: "upc", resolvable: false) {
  upc: String! @external
}

type edfs__PublishResult {
  success: Boolean!
}
`

type testGateway struct {
	*Gateway
	employees *minigraph.Subgraph
	products  *minigraph.Subgraph
	natsURL   string
	nc        *nats.Conn
	// prefix starts every subject of this gateway's event subgraph, so that tests on a
	// shared NATS server (NATS_URL) never see each other's events.
	prefix string
}

// subject returns the broker subject for a subject of testEventsSDL.
func (g *testGateway) subject(s string) string { return g.prefix + "." + s }

// prefixSubjects rewrites the subjects of testEventsSDL to start with prefix.
func prefixSubjects(sdl, prefix string) string {
	for _, s := range []string{"employeeUpdated.", "getEmployee.", "catalogChanged"} {
		sdl = strings.ReplaceAll(sdl, `"`+s, `"`+prefix+"."+s)
	}
	return sdl
}

type gwOption func(*gwSettings)

type gwSettings struct {
	extraYAML string
	// providerYAML is added to the NATS provider's entry, indented for it.
	providerYAML string
	natsURL      string // "" = embedded (or NATS_URL when set)
	embedded     string // embedded listen address
	log          *zerolog.Logger
	options      []Option
	// wrapEmployees, when set, wraps the employees subgraph's handler.
	wrapEmployees func(http.Handler) http.Handler
}

// withEmployeesHandler wraps the employees subgraph's handler (to count or fail requests).
func withEmployeesHandler(wrap func(http.Handler) http.Handler) gwOption {
	return func(g *gwSettings) { g.wrapEmployees = wrap }
}

// withOptions passes Go options (hooks) to New.
func withOptions(o ...Option) gwOption {
	return func(g *gwSettings) { g.options = append(g.options, o...) }
}

// withLog sends the gateway's log to log instead of nowhere.
func withLog(log zerolog.Logger) gwOption { return func(g *gwSettings) { g.log = &log } }

func withYAML(s string) gwOption { return func(g *gwSettings) { g.extraYAML += s + "\n" } }

// withProviderYAML adds keys (indented by eight spaces) to the NATS provider "default".
func withProviderYAML(s string) gwOption {
	return func(g *gwSettings) { g.providerYAML += strings.TrimRight(s, "\n") + "\n" }
}

// withEmbeddedNATS forces the embedded NATS server on listen, even when NATS_URL is set.
func withEmbeddedNATS(listen string) gwOption {
	return func(g *gwSettings) { g.natsURL = "-"; g.embedded = listen }
}

// startGateway starts a gateway with the demo employees and products subgraphs and the
// test event subgraph, on NATS_URL when set, otherwise on an embedded NATS server.
func startGateway(t testing.TB, opts ...gwOption) *testGateway {
	t.Helper()
	s := gwSettings{natsURL: os.Getenv("NATS_URL"), embedded: "127.0.0.1:0"}
	for _, o := range opts {
		o(&s)
	}
	employees, products := demo.Employees(), demo.Products()
	eh := employees.Handler()
	if s.wrapEmployees != nil {
		eh = s.wrapEmployees(eh)
	}
	es := httptest.NewServer(eh)
	t.Cleanup(es.Close)
	ps := httptest.NewServer(products.Handler())
	t.Cleanup(ps.Close)

	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("employees.graphql", employees.SDL)
	write("products.graphql", products.SDL)
	prefix := fmt.Sprintf("t%d", time.Now().UnixNano()%1_000_000_007)
	write("events.graphql", prefixSubjects(testEventsSDL, prefix))
	natsURL := s.natsURL
	if natsURL == "-" {
		natsURL = ""
	}
	cfgText := fmt.Sprintf(`listen_addr: 127.0.0.1:0
subgraphs:
  - name: employees
    routing_url: %s
    schema: { file: employees.graphql }
  - name: products
    routing_url: %s
    schema: { file: products.graphql }
  - name: events
    schema: { file: events.graphql }
events:
  providers:
    nats:
      - id: default
        url: "%s"
%sembedded_nats: { listen: "%s", jetstream: false }
sse: { heartbeat_interval: 1s }
%s`, es.URL, ps.URL, natsURL, s.providerYAML, s.embedded, s.extraYAML)
	if natsURL == "" {
		cfgText = strings.Replace(cfgText, `        url: ""`+"\n", "", 1)
	}
	write("edgate.yaml", cfgText)
	cfg, err := config.Load(filepath.Join(dir, "edgate.yaml"))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	log := zerolog.Nop()
	if s.log != nil {
		log = *s.log
	}
	gw := serveGateway(t, cfg, log, s.options...)
	if natsURL == "" {
		natsURL = gw.Embedded().ClientURL()
	}
	nc, err := nats.Connect(natsURL, nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return &testGateway{Gateway: gw, employees: employees, products: products, natsURL: natsURL, nc: nc, prefix: prefix}
}

func (g *testGateway) publish(t *testing.T, subject, data string) {
	t.Helper()
	if err := g.nc.Publish(g.subject(subject), []byte(data)); err != nil {
		t.Fatalf("publish: %v", err)
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatalf("flush: %v", err)
	}
}

// natsSubscriptions counts the gateway's subscriptions on its NATS connection.
func (g *testGateway) natsSubscriptions(t *testing.T) int {
	t.Helper()
	p, ok := g.Registry().Provider("nats/default")
	if !ok {
		t.Fatal("no nats provider")
	}
	return p.(*eventsource.NATS).Conn().NumSubscriptions()
}

// post runs a query or mutation and returns the response body.
func (g *testGateway) post(t *testing.T, query, variables string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(orEmpty(variables))})
	resp, err := http.Post(g.URL(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func orEmpty(v string) string {
	if v == "" {
		return "{}"
	}
	return v
}

type sseEvent struct {
	Event, ID, Data string
}

type sseClient struct {
	events chan sseEvent
	// retries are the values of the stream's retry fields; read them once events is
	// closed.
	retries []string
	cancel  context.CancelFunc
	header  http.Header
	status  int
}

// subscribeSSE opens an SSE subscription (POST) and reads its frames in the background.
func subscribeSSE(t *testing.T, url, query, variables string, header ...string) *sseClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	body, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(orEmpty(variables))})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("sse request: %v", err)
	}
	c := &sseClient{events: make(chan sseEvent, 4096), cancel: cancel, header: resp.Header, status: resp.StatusCode}
	go func() {
		defer resp.Body.Close()
		defer close(c.events)
		r := bufio.NewReader(resp.Body)
		var ev sseEvent
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = strings.TrimRight(line, "\r\n")
			switch {
			case line == "":
				if ev.Event != "" || ev.Data != "" {
					c.events <- ev
				}
				ev = sseEvent{}
			case strings.HasPrefix(line, ":"):
			case strings.HasPrefix(line, "retry:"):
				c.retries = append(c.retries, strings.TrimSpace(strings.TrimPrefix(line, "retry:")))
			case strings.HasPrefix(line, "event:"):
				ev.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "id:"):
				ev.ID = strings.TrimSpace(strings.TrimPrefix(line, "id:"))
			case strings.HasPrefix(line, "data:"):
				ev.Data += strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " ")
			}
		}
	}()
	t.Cleanup(cancel)
	return c
}

// next returns the next "next" frame's data, failing after a timeout.
func (c *sseClient) next(t *testing.T) string {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if !ok {
			t.Fatal("stream closed")
		}
		if ev.Event != "next" {
			t.Fatalf("got %q frame %q, want next", ev.Event, ev.Data)
		}
		return ev.Data
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return ""
}

// nothing asserts that no frame arrives within d.
func (c *sseClient) nothing(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-c.events:
		t.Fatalf("unexpected frame %+v", ev)
	case <-time.After(d):
	}
}

func (c *sseClient) close() { c.cancel() }

// eventually polls cond until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

type natsMsg = nats.Msg

// serveGateway starts a gateway from cfg and, when the test ends, shuts it down and checks
// that Serve returned cleanly.
func serveGateway(t testing.TB, cfg *config.Config, log zerolog.Logger, options ...Option) *Gateway {
	t.Helper()
	gw, err := New(context.Background(), cfg, log, options...)
	if err != nil {
		t.Fatalf("gateway: %v", err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := gw.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return gw
}
