package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
)

const followTwo = `subscription($id: Int!) { employeeUpdated(id: $id) { id name role } }`

func startExample(t *testing.T) (*stack.Stack, *config.Config) {
	t.Helper()
	cfg, err := config.Load("edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.EmbeddedNATS.Listen = "127.0.0.1:0"
	// The employees subgraph takes its routing_url's port, or a free one when that is
	// taken (stack.Start updates the config then).
	s, err := start(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s, cfg
}

func mustToken(t *testing.T, cfg *config.Config, role string) string {
	t.Helper()
	tok, err := token(cfg, role, "employeeUpdated.*")
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// sseNext opens an SSE subscription and returns a function that reads its next "next"
// event's data.
func sseSubscribe(t *testing.T, url, tok string) func() string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	body, _ := json.Marshal(map[string]any{"query": followTwo, "variables": map[string]any{"id": 2}})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	lines := make(chan string, 64)
	go func() {
		defer close(lines)
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			if data, ok := strings.CutPrefix(strings.TrimRight(line, "\n"), "data: "); ok {
				lines <- data
			}
		}
	}()
	return func() string {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatal("the stream ended")
			}
			return l
		case <-time.After(10 * time.Second):
			t.Fatal("no event within 10s")
		}
		return ""
	}
}

func TestExample_SnapshotFirstThenLiveWithTheRoleHiddenFromViewers(t *testing.T) {
	s, cfg := startExample(t)
	viewer := sseSubscribe(t, s.Gateway.URL(), mustToken(t, cfg, "viewer"))
	admin := sseSubscribe(t, s.Gateway.URL(), mustToken(t, cfg, "admin"))
	// The current state first, fetched from the employees subgraph.
	if got := viewer(); got != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":null}}}` {
		t.Fatalf("viewer's snapshot %s", got)
	}
	if got := admin(); got != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":"Backend Engineer"}}}` {
		t.Fatalf("admin's snapshot %s", got)
	}
	// Then live events.
	nc, err := nats.Connect(s.Gateway.Embedded().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	if err := nc.Publish("employeeUpdated.2", []byte(`{"__typename":"Employee","id":2}`)); err != nil {
		t.Fatal(err)
	}
	if got := viewer(); got != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":null}}}` {
		t.Fatalf("viewer's live event %s", got)
	}
	if got := admin(); got != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":"Backend Engineer"}}}` {
		t.Fatalf("admin's live event %s", got)
	}
}

func TestExample_WebSocketNeedsARole(t *testing.T) {
	s, cfg := startExample(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	subscribe := func(tok string) map[string]any {
		c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(s.Gateway.URL(), "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.CloseNow() })
		send := func(v any) {
			b, _ := json.Marshal(v)
			if err := c.Write(ctx, websocket.MessageText, b); err != nil {
				t.Fatal(err)
			}
		}
		send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + tok}})
		send(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": followTwo, "variables": map[string]any{"id": 2}}})
		for {
			_, b, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var m map[string]any
			_ = json.Unmarshal(b, &m)
			if m["type"] == "next" || m["type"] == "error" {
				return m
			}
		}
	}
	refused := subscribe(mustToken(t, cfg, "guest"))
	b, _ := json.Marshal(refused)
	if refused["type"] != "error" || !strings.Contains(string(b), `"code":"FORBIDDEN"`) || !strings.Contains(string(b), "viewer or admin") {
		t.Fatalf("a guest got %s", b)
	}
	first := subscribe(mustToken(t, cfg, "viewer"))
	b, _ = json.Marshal(first["payload"])
	if string(b) != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":null}}}` {
		t.Fatalf("a viewer's first message %s", b)
	}
}
