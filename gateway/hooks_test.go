package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
)

// startHook refuses clients without "X-Team: blue" and records what it saw.
type startHook struct {
	mu   sync.Mutex
	seen []SubscriptionStart
}

func (h *startHook) OnSubscriptionStart(ctx context.Context, s *SubscriptionStart) error {
	h.mu.Lock()
	h.seen = append(h.seen, *s)
	h.mu.Unlock()
	switch s.Header.Get("X-Team") {
	case "blue":
		return nil
	case "panic":
		panic("a bug in the hook")
	case "slow":
		<-ctx.Done() // overruns the hook timeout
		return ctx.Err()
	}
	return &HookError{Code: "TEAM_ONLY", Message: "only team blue may subscribe"}
}

func (h *startHook) last(t *testing.T) SubscriptionStart {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		t.Fatal("the start hook was not called")
	}
	return h.seen[len(h.seen)-1]
}

// publishHook refuses names "forbidden" and stamps every other payload.
type publishHook struct{}

func (publishHook) OnPublish(_ context.Context, p *Publish) error {
	var m map[string]any
	if err := json.Unmarshal(p.Payload, &m); err != nil {
		return err
	}
	if m["name"] == "forbidden" {
		return &HookError{Code: "NAME_REFUSED", Message: "this name is not allowed"}
	}
	m["stampedBy"] = p.Header.Get("X-Team") + "/" + p.Field
	b, err := json.Marshal(m)
	p.Payload = b
	return err
}

func TestGateway_SubscriptionStartHook(t *testing.T) {
	hook := &startHook{}
	g := startGateway(t, withOptions(WithHooks(hook), WithHookTimeout(200*time.Millisecond)))
	query := `subscription S($id: Int!) { employeeUpdated(id: $id) { id name } }`

	t.Run("refused over SSE", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "red")
		defer c.close()
		// As for other refusals over SSE: the stream carries the error, then complete.
		wantRefused(t, c, "TEAM_ONLY")
		if n := g.stats.Subscribers.Load(); n != 0 {
			t.Fatalf("%d subscriptions after a refusal", n)
		}
		if n := g.Registry().Consumers(); n != 0 {
			t.Fatalf("%d broker consumers after a refusal", n)
		}
	})

	t.Run("allowed over SSE sees the operation and subjects", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "blue")
		defer c.close()
		eventually(t, "the subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		s := hook.last(t)
		if s.Field != "employeeUpdated" || s.Provider != "nats/default" || s.OperationName != "" ||
			len(s.Subjects) != 1 || s.Subjects[0] != g.subject("employeeUpdated.4") || string(s.Variables) != `{"id":4}` {
			t.Fatalf("hook saw %+v", s)
		}
		g.publish(t, "employeeUpdated.4", `{"__typename":"Employee","id":4}`)
		if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":4,"name":"Dana Schmidt"}}}` {
			t.Fatalf("event %s", got)
		}
	})
	eventually(t, "no subscriptions", func() bool { return g.stats.Subscribers.Load() == 0 })

	t.Run("refused over WebSocket, the connection stays", func(t *testing.T) {
		c := dialWS(t, g, "graphql-transport-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		if m := wsRead(t, c); m["type"] != "connection_ack" {
			t.Fatalf("got %v", m)
		}
		wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 4) { id } }"}}`)
		m := wsRead(t, c)
		b, _ := json.Marshal(m)
		if m["type"] != "error" || m["id"] != "1" || !strings.Contains(string(b), "TEAM_ONLY") {
			t.Fatalf("got %s", b)
		}
		// The same connection can still subscribe to what the hook allows: here nothing is
		// allowed without the header, so a query still works.
		wsSend(t, c, `{"id":"2","type":"subscribe","payload":{"query":"{ employee(id: 1) { name } }"}}`)
		if m := wsRead(t, c); m["type"] != "next" || m["id"] != "2" {
			t.Fatalf("got %v", m)
		}
	})

	t.Run("a panicking hook refuses only its subscription", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "panic")
		defer c.close()
		wantRefused(t, c, "HOOK_ERROR")
	})

	t.Run("a slow hook times out", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "slow")
		defer c.close()
		wantRefused(t, c, "HOOK_TIMEOUT")
	})
	if n := g.stats.Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
}

func TestGateway_PublishHook(t *testing.T) {
	g := startGateway(t, withOptions(WithHooks(publishHook{})))
	msgs := make(chan *nats.Msg, 16)
	sub, err := g.nc.ChanSubscribe(g.subject("employeeUpdated.7"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mutate := func(name string) string {
		return postWith(t, g, `mutation($name: String) { updateEmployee(id: 7, name: $name) { success } }`, `{"name":"`+name+`"}`, "X-Team", "green")
	}

	// Refused: an error with the hook's code, and nothing is sent. The next publish,
	// which is allowed, is the first message the broker carries.
	if got := mutate("forbidden"); !strings.Contains(got, `"code":"NAME_REFUSED"`) || !strings.Contains(got, `"path":["updateEmployee"]`) {
		t.Fatalf("refused publish answered %s", got)
	}
	if got := mutate("Grace"); got != `{"data":{"updateEmployee":{"success":true}}}` {
		t.Fatalf("publish answered %s", got)
	}
	select {
	case m := <-msgs:
		var payload map[string]any
		if err := json.Unmarshal(m.Data, &payload); err != nil {
			t.Fatal(err)
		}
		if payload["name"] != "Grace" || payload["stampedBy"] != "green/updateEmployee" {
			t.Fatalf("the broker carried %s, want the hook's rewrite of Grace's publish", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the broker")
	}
}

func TestNew_RefusesAValueThatIsNoHook(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.graphql"), []byte("type Query { a: Int }"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "listen_addr: 127.0.0.1:0\nsubgraphs:\n  - name: a\n    routing_url: http://127.0.0.1:1/graphql\n    schema: { file: a.graphql }\n"
	if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "edgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg, zerolog.Nop(), WithHooks(struct{ Name string }{}))
	if err == nil || !strings.Contains(err.Error(), "implements no hook interface") {
		t.Fatalf("New with a value that is no hook: %v", err)
	}
}

// postWith POSTs an operation with request headers (name, value pairs) and returns the
// response body.
func postWith(t *testing.T, g *testGateway, query, variables string, header ...string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(orEmpty(variables))})
	req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}
