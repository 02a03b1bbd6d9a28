package gateway

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgate/edgate/internal/telemetry"
)

func errorRequestID(t *testing.T, errs any) any {
	t.Helper()
	list, _ := errs.([]any)
	if len(list) == 0 {
		t.Fatalf("no errors: %v", errs)
	}
	ext, _ := list[0].(map[string]any)["extensions"].(map[string]any)
	return ext["requestId"]
}

func TestGateway_RequestIDEchoedInHeadersAndErrorsOverHTTP(t *testing.T) {
	g := startGateway(t, withYAML(`cors: { allowed_origins: ["https://app.example.com"] }`))
	post := func(header map[string]string, query string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(`{"query":`+mustJSON(query)+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		for k, v := range header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(b, &m)
		return resp, m
	}

	// The client's id comes back in the header and in the errors; CORS lets a browser read it.
	resp, m := post(map[string]string{"X-Request-ID": "req-42", "Origin": "https://app.example.com"}, `{ nope }`)
	if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("X-Request-ID") != "req-42" || errorRequestID(t, m["errors"]) != "req-42" {
		t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, m)
	}
	if !strings.Contains(resp.Header.Get("Access-Control-Expose-Headers"), "X-Request-ID") {
		t.Fatalf("Access-Control-Expose-Headers = %q", resp.Header.Get("Access-Control-Expose-Headers"))
	}
	// Without one the gateway makes one up; a successful response carries it too.
	resp, m = post(nil, `{ employee(id: 1) { name } }`)
	if id := resp.Header.Get("X-Request-ID"); len(id) != 32 || m["errors"] != nil {
		t.Fatalf("generated id %q, body %v", id, m)
	}
	// An SSE stream's errors carry it as well.
	c := subscribeSSE(t, g.URL(), `subscription { nope }`, "", "X-Request-ID", "sse-7")
	if c.header.Get("X-Request-ID") != "sse-7" {
		t.Fatalf("SSE header %v", c.header)
	}
	var payload map[string]any
	if err := json.Unmarshal([]byte(c.next(t)), &payload); err != nil || errorRequestID(t, payload["errors"]) != "sse-7" {
		t.Fatalf("SSE error %v (%v)", payload, err)
	}
}

func TestGateway_RequestIDOfTheWebSocketUpgradeInErrors(t *testing.T) {
	g := startGateway(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, resp, err := websocket.Dial(ctx, "ws://"+g.Addr()+"/graphql", &websocket.DialOptions{
		Subprotocols: []string{"graphql-transport-ws"},
		HTTPHeader:   http.Header{telemetry.RequestIDHeader: {"ws-upgrade-1"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	if got := resp.Header.Get(telemetry.RequestIDHeader); got != "ws-upgrade-1" {
		t.Fatalf("upgrade response id %q", got)
	}
	wsSend(t, c, `{"type":"connection_init"}`)
	if m := wsRead(t, c); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdates { nope } }"}}`)
	m := wsRead(t, c)
	if m["type"] != "error" || errorRequestID(t, m["payload"]) != "ws-upgrade-1" {
		t.Fatalf("got %v", m)
	}
}
