package gateway

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgate/edgate/internal/telemetry"
)

// withTracing records every span of the test in memory. Tracing is process-wide state, so
// these tests do not run in parallel.
func withTracing(t *testing.T) (*tracetest.InMemoryExporter, *sdktrace.TracerProvider) {
	t.Helper()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	telemetry.SetTracerProvider(tp)
	t.Cleanup(func() {
		telemetry.SetTracerProvider(nil)
		_ = tp.Shutdown(context.Background())
	})
	return exp, tp
}

func findSpan(spans tracetest.SpanStubs, prefix string) (tracetest.SpanStub, bool) {
	for _, s := range spans {
		if strings.HasPrefix(s.Name, prefix) {
			return s, true
		}
	}
	return tracetest.SpanStub{}, false
}

func TestGateway_TraceFromNATSPublishThroughEntitiesFetchToSSEWrite(t *testing.T) {
	g := startGateway(t)
	exp, tp := withTracing(t)

	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 3) { id name } }`, "")
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	g.employees.ResetRequests()

	// The publisher's span travels in the NATS message's headers.
	pubCtx, pub := tp.Tracer("publisher").Start(context.Background(), "publisher")
	msg := &nats.Msg{Subject: g.subject("employeeUpdated.3"), Data: []byte(`{"__typename":"Employee","id":3}`), Header: nats.Header{}}
	propagation.TraceContext{}.Inject(pubCtx, propagation.HeaderCarrier(msg.Header))
	if err := g.nc.PublishMsg(msg); err != nil {
		t.Fatal(err)
	}
	pub.End()
	if got := c.next(t); !strings.Contains(got, `"name"`) {
		t.Fatalf("event: %s", got)
	}

	var event, fetch, write tracetest.SpanStub
	eventually(t, "event, subgraph fetch and SSE write spans", func() bool {
		spans := exp.GetSpans()
		var ok1, ok2, ok3 bool
		event, ok1 = findSpan(spans, "event ")
		fetch, ok2 = findSpan(spans, "subgraph employees")
		write, ok3 = findSpan(spans, "sse write")
		return ok1 && ok2 && ok3
	})
	traceID := pub.SpanContext().TraceID()
	if event.SpanContext.TraceID() != traceID || event.Parent.SpanID() != pub.SpanContext().SpanID() {
		t.Fatalf("event span %v is not the publisher's child (%v)", event.Parent, pub.SpanContext())
	}
	if len(event.Links) != 1 || event.Links[0].SpanContext.SpanID() != pub.SpanContext().SpanID() {
		t.Fatalf("event span links %v", event.Links)
	}
	if fetch.SpanContext.TraceID() != traceID || fetch.Parent.SpanID() != event.SpanContext.SpanID() {
		t.Fatalf("fetch span parent %v, event %v", fetch.Parent, event.SpanContext)
	}
	if write.SpanContext.TraceID() != traceID || write.Parent.SpanID() != event.SpanContext.SpanID() {
		t.Fatalf("write span parent %v, event %v", write.Parent, event.SpanContext)
	}
	// The subgraph got the fetch span as its parent (W3C traceparent).
	reqs := g.employees.Requests()
	if len(reqs) == 0 || !strings.Contains(reqs[len(reqs)-1].Headers.Get("traceparent"), fetch.SpanContext.SpanID().String()) {
		t.Fatalf("subgraph requests: %+v", reqs)
	}
}

func TestGateway_PublishMutationCarriesTheClientsTraceInNATSHeaders(t *testing.T) {
	g := startGateway(t)
	exp, _ := withTracing(t)
	sub, err := g.nc.SubscribeSync(g.subject("employeeUpdated.9"))
	if err != nil {
		t.Fatal(err)
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	const clientTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(`{"query":"mutation { updateEmployee(id: 9) { success } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("traceparent", "00-"+clientTrace+"-00f067aa0ba902b7-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	m, err := sub.NextMsg(5 * time.Second)
	if err != nil {
		t.Fatal(err)
	}
	tp := m.Header.Get("traceparent")
	if !strings.HasPrefix(tp, "00-"+clientTrace+"-") {
		t.Fatalf("published traceparent %q", tp)
	}
	publish, ok := findSpan(exp.GetSpans(), "publish ")
	if !ok || publish.SpanContext.TraceID().String() != clientTrace || !strings.Contains(tp, publish.SpanContext.SpanID().String()) || publish.SpanKind != trace.SpanKindProducer {
		t.Fatalf("publish span %+v, header %q", publish, tp)
	}
	if _, ok := findSpan(exp.GetSpans(), "POST /graphql"); !ok {
		t.Fatal("no server span")
	}
}
