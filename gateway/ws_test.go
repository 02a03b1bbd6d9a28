package gateway

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func dialWS(t *testing.T, g *testGateway, subprotocol string) *websocket.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws://" + g.Addr() + "/graphql"
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{Subprotocols: []string{subprotocol}})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	return c
}

func wsSend(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func wsRead(t *testing.T, c *websocket.Conn) map[string]any {
	t.Helper()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, b, err := c.Read(ctx)
		cancel()
		if err != nil {
			t.Fatalf("read: %v", err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatalf("bad message %s", b)
		}
		if m["type"] == "ping" || m["type"] == "ka" {
			continue
		}
		return m
	}
}

func TestGateway_GraphQLTransportWSDeliversEventsWithEntities(t *testing.T) {
	g := startGateway(t, withYAML(`headers: { all: { request: [ { op: propagate, named: Authorization } ] } }`))
	c := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, c, `{"type":"connection_init","payload":{"Authorization":"Bearer ws"}}`)
	if m := wsRead(t, c); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 5) { id name } }"}}`)
	wsSend(t, c, `{"id":"2","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id } }"}}`)
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })
	g.publish(t, "employeeUpdated.5", `{"__typename":"Employee","id":5}`)
	got := map[string]string{}
	for len(got) < 2 {
		m := wsRead(t, c)
		if m["type"] != "next" {
			t.Fatalf("got %v", m)
		}
		b, _ := json.Marshal(m["payload"])
		got[m["id"].(string)] = string(b)
	}
	if got["1"] != `{"data":{"employeeUpdated":{"id":5,"name":"Emeka Okafor"}}}` || got["2"] != `{"data":{"employeeUpdates":{"id":5}}}` {
		t.Fatalf("got %v", got)
	}
	// The init payload's Authorization counts like the header and is forwarded.
	reqs := g.employees.Requests()
	if len(reqs) != 1 || reqs[0].Headers.Get("Authorization") != "Bearer ws" {
		t.Fatalf("subgraph requests: %+v", reqs)
	}
	wsSend(t, c, `{"id":"1","type":"complete"}`)
	eventually(t, "one subscription left", func() bool { return g.stats.Subscribers.Load() == 1 })

	// Errors: an unknown field gives an error message for that id; the socket stays.
	wsSend(t, c, `{"id":"3","type":"subscribe","payload":{"query":"subscription { employeeUpdates { nope } }"}}`)
	if m := wsRead(t, c); m["type"] != "error" || m["id"] != "3" || !strings.Contains(mustJSON(m["payload"]), "nope") {
		t.Fatalf("got %v", m)
	}
	// Queries over the socket: next, then complete.
	wsSend(t, c, `{"id":"4","type":"subscribe","payload":{"query":"{ employee(id: 1) { name } }"}}`)
	if m := wsRead(t, c); m["type"] != "next" || mustJSON(m["payload"]) != `{"data":{"employee":{"name":"Alice Johnson"}}}` {
		t.Fatalf("got %v", m)
	}
	if m := wsRead(t, c); m["type"] != "complete" || m["id"] != "4" {
		t.Fatalf("got %v", m)
	}
}

func TestGateway_LegacyGraphQLWSDeliversEvents(t *testing.T) {
	g := startGateway(t)
	c := dialWS(t, g, "graphql-ws")
	wsSend(t, c, `{"type":"connection_init","payload":{}}`)
	if m := wsRead(t, c); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, c, `{"id":"a","type":"start","payload":{"query":"subscription { employeeUpdated(id: 2) { name } }"}}`)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	g.publish(t, "employeeUpdated.2", `{"__typename":"Employee","id":2}`)
	if m := wsRead(t, c); m["type"] != "data" || mustJSON(m["payload"]) != `{"data":{"employeeUpdated":{"name":"Bilal Khan"}}}` {
		t.Fatalf("got %v", m)
	}
	wsSend(t, c, `{"id":"a","type":"stop"}`)
	eventually(t, "no subscription", func() bool { return g.stats.Subscribers.Load() == 0 })
}

func TestGateway_ShutdownClosesWebSocketsWith1001(t *testing.T) {
	g := startGateway(t, withYAML("shutdown: { clients: complete }"))
	c := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, c, `{"type":"connection_init"}`)
	wsRead(t, c)
	wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id } }"}}`)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = g.Shutdown(ctx)
	}()
	if m := wsRead(t, c); m["type"] != "complete" || m["id"] != "1" {
		t.Fatalf("got %v", m)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _, err := c.Read(ctx)
	if websocket.CloseStatus(err) != websocket.StatusGoingAway {
		t.Fatalf("close: %v", err)
	}
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
