package gateway

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

// The configuration reference documents websocket.max_subscriptions_per_connection (100)
// and websocket.max_message_bytes (64KiB) with "0 is unlimited": both the defaults and the
// zeros are checked through a real WebSocket.
func TestGateway_WebSocketLimitsDefaultsAndZero(t *testing.T) {
	// A subscribe message of about 80 KiB: over the default message limit, padded in an
	// extension the gateway ignores.
	big := fmt.Sprintf(`{"id":"big","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id } }","extensions":{"pad":"%s"}}}`, strings.Repeat("x", 80<<10))

	t.Run("defaults", func(t *testing.T) {
		g := startGateway(t)
		c := dialWS(t, g, "graphql-transport-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		if m := wsRead(t, c); m["type"] != "connection_ack" {
			t.Fatalf("got %v", m)
		}
		for i := range 100 {
			wsSend(t, c, fmt.Sprintf(`{"id":"%d","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: %d) { id } }"}}`, i, i))
		}
		eventually(t, "100 subscriptions", func() bool { return g.stats.Subscribers.Load() == 100 })
		wsSend(t, c, `{"id":"one-too-many","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id } }"}}`)
		if m := wsRead(t, c); m["type"] != "error" || m["id"] != "one-too-many" {
			t.Fatalf("the 101st subscription got %v, want an error", m)
		}
		wsSend(t, c, big)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		for {
			_, _, err := c.Read(ctx)
			if err == nil {
				continue // pings
			}
			var ce websocket.CloseError
			if !errors.As(err, &ce) || ce.Code != 4400 {
				t.Fatalf("an 80 KiB message ended the connection with %v, want close 4400", err)
			}
			break
		}
	})

	t.Run("zero is unlimited", func(t *testing.T) {
		g := startGateway(t, withYAML(`websocket: { max_subscriptions_per_connection: 0, max_message_bytes: 0, max_messages_per_second: 0, max_subscribes_per_second: 0 }`))
		c := dialWS(t, g, "graphql-transport-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		if m := wsRead(t, c); m["type"] != "connection_ack" {
			t.Fatalf("got %v", m)
		}
		const n = 150
		for i := range n {
			wsSend(t, c, fmt.Sprintf(`{"id":"%d","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: %d) { id } }"}}`, i, i))
		}
		wsSend(t, c, big)
		eventually(t, "every subscription running", func() bool { return g.stats.Subscribers.Load() == n+1 })
		g.publish(t, "employeeUpdated.x", `{"__typename":"Employee","id":7}`) // only the wildcard field matches
		if m := wsRead(t, c); m["type"] != "next" || m["id"] != "big" {
			t.Fatalf("the big subscription got %v, want its event", m)
		}
	})
}

// websocket.max_subscribes_per_second and subscribe_burst reach both subprotocols: a
// subscribe over them gets an error with extensions.code RATE_LIMITED and the connection
// stays open.
func TestGateway_WebSocketSubscribeRate(t *testing.T) {
	g := startGateway(t, withYAML(`websocket: { max_subscribes_per_second: 1, subscribe_burst: 2 }`))
	for _, proto := range []struct{ name, subscribe string }{{"graphql-transport-ws", "subscribe"}, {"graphql-ws", "start"}} {
		t.Run(proto.name, func(t *testing.T) {
			c := dialWS(t, g, proto.name)
			wsSend(t, c, `{"type":"connection_init","payload":{}}`)
			if m := wsRead(t, c); m["type"] != "connection_ack" {
				t.Fatalf("got %v", m)
			}
			// Two fit the burst; of the next eight (sent well within eight seconds) at least
			// one finds the bucket empty.
			const n = 10
			for i := range n {
				wsSend(t, c, fmt.Sprintf(`{"id":"%d","type":%q,"payload":{"query":"subscription { employeeUpdated(id: %d) { id } }"}}`, i, proto.subscribe, i))
			}
			limited := 0
			for limited == 0 {
				m := wsRead(t, c)
				if m["type"] != "error" {
					continue // keep-alives
				}
				errs, _ := m["payload"].([]any)
				e, _ := errs[0].(map[string]any)
				ext, _ := e["extensions"].(map[string]any)
				if ext["code"] != "RATE_LIMITED" || ext["limit"] != "websocket.max_subscribes_per_second" || ext["maximum"] != 1.0 {
					t.Fatalf("error %v, want RATE_LIMITED for websocket.max_subscribes_per_second", m)
				}
				limited++
			}
			// Still open and served: a ping gets its pong, a legacy message of an unknown
			// type its error.
			probe, answer := `{"type":"ping"}`, "pong"
			if proto.name == "graphql-ws" {
				probe, answer = `{"type":"probe","id":"p"}`, "error"
			}
			wsSend(t, c, probe)
			for {
				m := wsRead(t, c)
				if m["type"] == answer && (answer == "pong" || m["id"] == "p") {
					break
				}
			}
		})
	}
}
