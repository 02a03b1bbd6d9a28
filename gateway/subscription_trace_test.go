package gateway

import (
	"context"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
)

func attr(s tracetest.SpanStub, key string) string {
	for _, a := range s.Attributes {
		if a.Key == attribute.Key(key) {
			return a.Value.Emit()
		}
	}
	return ""
}

// spansNamed returns the recorded spans called name.
func spansNamed(exp *tracetest.InMemoryExporter, name string) []tracetest.SpanStub {
	var out []tracetest.SpanStub
	for _, s := range exp.GetSpans() {
		if s.Name == name {
			out = append(out, s)
		}
	}
	return out
}

// An SSE subscription's lifetime span is a child of its request's span and says that the
// client left.
func TestGateway_SSESubscriptionSpanEndsWhenTheClientLeaves(t *testing.T) {
	g := startGateway(t)
	exp, _ := withTracing(t)
	c := subscribeSSE(t, g.URL(), `subscription Watch { employeeUpdated(id: 3) { id } }`, "", "X-Request-ID", "sse-req-1")
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	if n := len(spansNamed(exp, "graphql.subscription")); n != 0 {
		t.Fatalf("%d subscription spans before it ended", n)
	}
	c.close()
	var sub tracetest.SpanStub
	eventually(t, "the subscription's span", func() bool {
		s := spansNamed(exp, "graphql.subscription")
		if len(s) == 1 {
			sub = s[0]
		}
		return len(s) == 1
	})
	server, ok := findSpan(exp.GetSpans(), "POST /graphql")
	if !ok || attr(server, "edgate.request_id") != "sse-req-1" {
		t.Fatalf("server span %+v", server)
	}
	if sub.Parent.SpanID() != server.SpanContext.SpanID() || sub.SpanContext.TraceID() != server.SpanContext.TraceID() {
		t.Fatalf("subscription span's parent %v, request span %v", sub.Parent, server.SpanContext)
	}
	if attr(sub, "edgate.subscription.end") != "client_gone" || attr(sub, "graphql.operation.name") != "Watch" {
		t.Fatalf("subscription span attributes %v", sub.Attributes)
	}
	if !sub.StartTime.Before(sub.EndTime) || sub.StartTime.Before(server.StartTime) {
		t.Fatalf("subscription span from %v to %v, request from %v", sub.StartTime, sub.EndTime, server.StartTime)
	}
}

// Every subscribe on a WebSocket gets a trace of its own, linked to the upgrade request's
// span; its subscription's span ends with the reason: the client's complete, then the
// gateway's shutdown.
func TestGateway_WebSocketOperationsHaveTheirOwnTraces(t *testing.T) {
	g := startGateway(t)
	exp, _ := withTracing(t)
	ws := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, ws, `{"type":"connection_init"}`)
	if m := wsRead(t, ws); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, ws, `{"id":"a","type":"subscribe","payload":{"query":"subscription A { employeeUpdated(id: 1) { id } }"}}`)
	wsSend(t, ws, `{"id":"b","type":"subscribe","payload":{"query":"subscription B { employeeUpdated(id: 2) { id } }"}}`)
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })

	upgrade, ok := findSpan(exp.GetSpans(), "GET /graphql")
	if !ok {
		t.Fatal("no span of the upgrade request")
	}
	ops := map[string]tracetest.SpanStub{}
	eventually(t, "two operation spans", func() bool {
		for _, s := range spansNamed(exp, "websocket operation") {
			ops[attr(s, "graphql.operation.id")] = s
		}
		return len(ops) == 2
	})
	a, b := ops["a"], ops["b"]
	if a.SpanContext.TraceID() == b.SpanContext.TraceID() || a.SpanContext.TraceID() == upgrade.SpanContext.TraceID() {
		t.Fatal("the operations do not have traces of their own")
	}
	for _, op := range []tracetest.SpanStub{a, b} {
		if op.Parent.IsValid() || len(op.Links) != 1 || op.Links[0].SpanContext.SpanID() != upgrade.SpanContext.SpanID() {
			t.Fatalf("operation %s: parent %v, links %v", attr(op, "graphql.operation.id"), op.Parent, op.Links)
		}
		if attr(op, "websocket.subprotocol") != "graphql-transport-ws" || attr(op, "graphql.operation.type") != "subscription" || attr(op, "edgate.request_id") == "" {
			t.Fatalf("operation attributes %v", op.Attributes)
		}
	}
	for _, name := range []string{"graphql.prepare", "graphql.subscribe"} {
		n := 0
		for _, s := range spansNamed(exp, name) {
			if s.Parent.SpanID() == a.SpanContext.SpanID() || s.Parent.SpanID() == b.SpanContext.SpanID() {
				n++
			}
		}
		if n != 2 {
			t.Errorf("%d %s spans under the operations, want 2", n, name)
		}
	}

	// The client stops a; the gateway's shutdown ends b.
	wsSend(t, ws, `{"id":"a","type":"complete"}`)
	eventually(t, "a's subscription span", func() bool { return len(spansNamed(exp, "graphql.subscription")) == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b's subscription span", func() bool { return len(spansNamed(exp, "graphql.subscription")) == 2 })
	for _, s := range spansNamed(exp, "graphql.subscription") {
		want, op := "client_gone", a
		if attr(s, "graphql.operation.name") == "B" {
			want, op = "shutdown", b
		}
		if got := attr(s, "edgate.subscription.end"); got != want || s.Parent.SpanID() != op.SpanContext.SpanID() {
			t.Errorf("subscription %s: end %q (want %q), parent %v", attr(s, "graphql.operation.name"), got, want, s.Parent)
		}
	}
}

// A subscription the gateway ends with an error (its subgraph's subscription failed)
// says so, with the end code.
func TestGateway_SubscriptionSpanOfAnUpstreamFailure(t *testing.T) {
	g := startUpstreamGateway(t, "      url: $WSURL\n      protocol: ws\n      websocket_subprotocol: graphql-transport-ws")
	exp, _ := withTracing(t)
	sse := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 2) { id } }`, "")
	eventually(t, "upstream subscription", func() bool { return g.feed.running() == 1 })
	g.feed.sg.DropConnections()
	if got := sse.next(t); !strings.Contains(got, "failed") {
		t.Fatalf("sse got %s, want the upstream failure", got)
	}
	var sub tracetest.SpanStub
	eventually(t, "the subscription's span", func() bool {
		s := spansNamed(exp, "graphql.subscription")
		if len(s) == 1 {
			sub = s[0]
		}
		return len(s) == 1
	})
	if attr(sub, "edgate.subscription.end") != "error" || attr(sub, "edgate.subscription.end_code") != "upstream_error" || sub.Status.Code.String() != "Error" {
		t.Fatalf("subscription span %v, status %v", sub.Attributes, sub.Status)
	}
}
