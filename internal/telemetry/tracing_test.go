package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/edgate/edgate/internal/telemetry"
)

// The per-event and per-delivery helpers must cost nothing when tracing is off: no span,
// no allocation.
func TestTracingOff_HotPathAllocatesNothing(t *testing.T) {
	telemetry.SetTracerProvider(nil)
	ctx := context.Background()
	m := telemetry.NewMetrics()
	d := m.Delivered(telemetry.TransportSSE)
	allocs := testing.AllocsPerRun(1000, func() {
		if telemetry.TracingOn() {
			t.Fatal("tracing is on")
		}
		var span *telemetry.EventSpan // what the hub holds when off
		span.Queued(3, nil)
		_ = span.Sampled()
		telemetry.Written(nil, telemetry.TransportSSE)
		c2, s := telemetry.Start(ctx, "x")
		telemetry.End(s, nil)
		c3, s := telemetry.StartPublish(c2, "nats/default", "subject")
		telemetry.End(s, nil)
		if tp, _ := telemetry.TraceHeaders(c3); tp != "" {
			t.Fatal("trace headers while off")
		}
		st := telemetry.StartSubscription(ctx, "op")
		st.End(telemetry.EndClientGone, "", "", 0)
		if telemetry.Link(ctx) != nil {
			t.Fatal("a link while off")
		}
		_, s = telemetry.StartWebSocketOperation(ctx, nil, "graphql-transport-ws", "1", "req")
		telemetry.End(s, nil)
		m.ObserveResolved(ctx, time.Millisecond, 2*time.Millisecond)
		d.Observe(time.Millisecond, 2*time.Millisecond)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per event with tracing off", allocs)
	}
}

func TestTracing_ServerSpanContinuesTheClientsTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	telemetry.SetTracerProvider(tp)
	t.Cleanup(func() { telemetry.SetTracerProvider(nil) })
	h := telemetry.Tracing(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	r := httptest.NewRequest(http.MethodPost, "/graphql", nil)
	r.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), r)
	spans := exp.GetSpans()
	if len(spans) != 1 || spans[0].SpanContext.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" || spans[0].Parent.SpanID().String() != "00f067aa0ba902b7" {
		t.Fatalf("spans %+v", spans)
	}
}

func BenchmarkEventPath(b *testing.B) {
	run := func(b *testing.B) {
		ctx := context.Background()
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			var span *telemetry.EventSpan
			if telemetry.TracingOn() {
				span = telemetry.StartEvent(ctx, "nats/default", "employeeUpdated.1", "", "")
			}
			telemetry.Written(span.Sampled(), telemetry.TransportSSE)
			span.Queued(1, nil)
		}
	}
	b.Run("off", func(b *testing.B) {
		telemetry.SetTracerProvider(nil)
		run(b)
	})
	for _, ratio := range []float64{0.01, 1} {
		b.Run("ratio="+map[float64]string{0.01: "0.01", 1: "1"}[ratio], func(b *testing.B) {
			tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.TraceIDRatioBased(ratio)), sdktrace.WithSpanProcessor(sdktrace.NewBatchSpanProcessor(tracetest.NewNoopExporter())))
			telemetry.SetTracerProvider(tp)
			defer func() {
				telemetry.SetTracerProvider(nil)
				_ = tp.Shutdown(context.Background())
			}()
			run(b)
		})
	}
}

// A collector named by a URL without a path ("http://collector:4318", as the docs write
// it) gets its spans at the OTLP/HTTP traces path, not at "/".
func TestNewTracerProvider_URLWithoutPathExportsToV1Traces(t *testing.T) {
	paths := make(chan string, 16)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		paths <- r.URL.Path
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	tp, err := telemetry.NewTracerProvider(context.Background(), telemetry.TracingOptions{Endpoint: collector.URL, SamplingRatio: 1})
	if err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "one")
	span.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := <-paths; got != "/v1/traces" {
		t.Fatalf("exported to %q", got)
	}
}
