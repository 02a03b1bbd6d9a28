package gateway

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"
)

// A stopping instance drains the way a fleet needs: not ready at once, still serving for
// the drain delay, then its clients are told to reconnect (SSE: a retry hint and no
// complete; WebSocket: close 1012).
func TestGateway_ShutdownIsNotReadyForTheDrainDelayThenClientsReconnect(t *testing.T) {
	const delay = 400 * time.Millisecond
	g := startGateway(t, withYAML("shutdown: { drain_delay: 400ms, drain_window: 100ms }"))
	sse := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, "")
	c := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, c, `{"type":"connection_init"}`)
	wsRead(t, c)
	wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id } }"}}`)
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })

	start := time.Now()
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- g.Shutdown(ctx)
	}()
	eventually(t, "/health/ready to answer 503", func() bool {
		resp, err := http.Get("http://" + g.Addr() + "/health/ready")
		if err != nil {
			t.Fatalf("/health/ready during the drain delay: %v", err)
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusServiceUnavailable
	})
	// The listener is still open and requests are still served.
	if got := g.post(t, `{ __typename }`, ""); got != `{"data":{"__typename":"Query"}}` {
		t.Errorf("query during the drain delay: %s", got)
	}
	// Subscriptions still get events.
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got := sse.next(t); !strings.Contains(got, `"id":1`) {
		t.Errorf("event during the drain delay: %s", got)
	}

	var last sseEvent
	for ev := range sse.events {
		last = ev
	}
	if since := time.Since(start); since < delay {
		t.Errorf("the SSE stream ended %v after SIGTERM, before the drain delay", since)
	}
	if last.Event == "complete" {
		t.Errorf("the SSE stream ended with complete")
	}
	if len(sse.retries) != 2 {
		t.Errorf("retry fields %v, want one at the start and one at the end", sse.retries)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, b, err := c.Read(ctx)
		cancel()
		if err != nil {
			if websocket.CloseStatus(err) != websocket.StatusServiceRestart {
				t.Fatalf("WebSocket ended with %v, want close 1012", err)
			}
			break
		}
		if bytes.Contains(b, []byte(`"complete"`)) {
			t.Errorf("WebSocket got %s before its close", b)
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + g.Addr() + "/health/ready"); err == nil {
		t.Error("the listener is still open after Shutdown")
	}
}

// lockedBuffer is a log sink that tests read while the gateway writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestGateway_ProviderLogLinesCarryTheProviderKeyOnce(t *testing.T) {
	var logs lockedBuffer
	g := startGateway(t, withLog(zerolog.New(&logs)))
	_ = g
	var line string
	eventually(t, "the nats connected line", func() bool {
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"nats connected"`) {
				line = l
				return true
			}
		}
		return false
	})
	if n := strings.Count(line, `"provider":`); n != 1 {
		t.Errorf("%d provider keys in %s", n, line)
	}
}

// The embedded NATS server's own lines keep the gateway's "component" and add their
// source, so that no line carries a key twice (log pipelines keep one of the two).
func TestGateway_EmbeddedNATSLogLinesCarryTheComponentKeyOnce(t *testing.T) {
	var logs lockedBuffer
	startGateway(t, withEmbeddedNATS("127.0.0.1:0"), withLog(zerolog.New(&logs).Level(zerolog.DebugLevel)))
	var lines []string
	eventually(t, "a log line of the embedded server", func() bool {
		lines = lines[:0]
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, `"source":"nats-server"`) {
				lines = append(lines, l)
			}
		}
		return len(lines) > 0
	})
	for _, l := range lines {
		if n := strings.Count(l, `"component":`); n != 1 {
			t.Errorf("%d component keys in %s", n, l)
		}
	}
}
