package telemetry

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Transports label the delivery histogram and the open-connection gauge.
const (
	TransportSSE       = "sse"
	TransportWebSocket = "websocket"
)

// Buckets of the latency histograms (seconds). Classic buckets for every scraper; a scraper
// that negotiates the protobuf format also gets native (exponential) buckets.
var (
	// fetchBuckets span a fast local subgraph to a slow remote one.
	fetchBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}
	// planBuckets: a plan-cache miss takes from tens of microseconds to a few hundred ms.
	planBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}
	// eventBuckets: an event's way through the gateway is sub-millisecond when idle and
	// grows with queueing.
	eventBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}
)

const nativeFactor = 1.1 // native histogram bucket growth: ~5 % relative error

// Metrics holds the latency histograms of the data path. A nil *Metrics observes nothing,
// so a component built without one (tests, embedders) pays a nil check.
type Metrics struct {
	subgraphFetch *prometheus.HistogramVec
	planning      prometheus.Histogram
	publish       *prometheus.HistogramVec
	resolved      prometheus.Histogram
	written       *prometheus.HistogramVec
	writtenSSE    prometheus.Observer
	writtenWS     prometheus.Observer
}

// NewMetrics creates the histograms; Register adds them to a registry.
func NewMetrics() *Metrics {
	h := func(name, help string, buckets []float64) prometheus.HistogramOpts {
		return prometheus.HistogramOpts{
			Namespace: "edgate", Name: name, Help: help, Buckets: buckets,
			NativeHistogramBucketFactor: nativeFactor, NativeHistogramMaxBucketNumber: 160,
			NativeHistogramMinResetDuration: time.Hour,
		}
	}
	m := &Metrics{
		subgraphFetch: prometheus.NewHistogramVec(h("subgraph_fetch_duration_seconds",
			"Duration of one HTTP request to a subgraph (queries, mutations and _entities fetches), until its response headers.", fetchBuckets), []string{"subgraph", "status"}),
		planning: prometheus.NewHistogram(h("operation_planning_duration_seconds",
			"Time to plan an operation on a plan-cache miss (hits are not planned).", planBuckets)),
		publish: prometheus.NewHistogramVec(h("publish_duration_seconds",
			"Duration of one publish to a broker provider, until the broker accepted it (or failed).", fetchBuckets), []string{"provider"}),
		resolved: prometheus.NewHistogram(h("event_resolve_latency_seconds",
			"Time from an event's arrival from the broker to its resolved payload (once per subscription group), including the wait in the group's inbox and the _entities fetches.", eventBuckets)),
		written: prometheus.NewHistogramVec(h("event_delivery_latency_seconds",
			"Time from an event's arrival from the broker to its frame being handed to the client's socket, per delivery.", eventBuckets), []string{"transport"}),
	}
	m.writtenSSE = m.written.WithLabelValues(TransportSSE)
	m.writtenWS = m.written.WithLabelValues(TransportWebSocket)
	return m
}

// Register adds the histograms to reg.
func (m *Metrics) Register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.subgraphFetch, m.planning, m.publish, m.resolved, m.written} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}

// ObservePlanning records one planner run.
func (m *Metrics) ObservePlanning(d time.Duration) {
	if m != nil {
		m.planning.Observe(d.Seconds())
	}
}

// ObservePublish records one publish to provider (e.g. "nats/default").
func (m *Metrics) ObservePublish(ctx context.Context, provider string, d time.Duration) {
	if m != nil {
		observe(ctx, m.publish.WithLabelValues(provider), d)
	}
}

// ObserveResolved records an event resolved at now that arrived at received (both Now()
// readings).
func (m *Metrics) ObserveResolved(ctx context.Context, received, now time.Duration) {
	if m != nil && received > 0 {
		observe(ctx, m.resolved, now-received)
	}
}

// Delivered returns the observer of one transport's deliveries, nil without m: a writer
// looks it up once and calls ObserveDelivery per frame.
func (m *Metrics) Delivered(transport string) *Delivery {
	if m == nil {
		return nil
	}
	switch transport {
	case TransportSSE:
		return &Delivery{o: m.writtenSSE}
	case TransportWebSocket:
		return &Delivery{o: m.writtenWS}
	}
	return &Delivery{o: m.written.WithLabelValues(transport)}
}

// Delivery observes the deliveries of one transport.
type Delivery struct{ o prometheus.Observer }

// Observe records a frame of an event that arrived at received, handed to the socket at
// now (both Now() readings; received 0 means unknown, e.g. an error message).
func (d *Delivery) Observe(received, now time.Duration) {
	if d != nil && received > 0 {
		d.o.Observe((now - received).Seconds())
	}
}

// observe records d, with the current span's trace id as exemplar when it is sampled
// (Prometheus shows exemplars in the OpenMetrics format).
func observe(ctx context.Context, o prometheus.Observer, d time.Duration) {
	if ctx != nil {
		if sc := trace.SpanContextFromContext(ctx); sc.IsSampled() {
			if eo, ok := o.(prometheus.ExemplarObserver); ok {
				eo.ObserveWithExemplar(d.Seconds(), prometheus.Labels{"trace_id": sc.TraceID().String()})
				return
			}
		}
	}
	o.Observe(d.Seconds())
}

// Subgraph wraps rt so that every request to subgraph is timed (until its response
// headers) with the response's status code, or "error" when the request failed.
func (m *Metrics) Subgraph(subgraph string, rt http.RoundTripper) http.RoundTripper {
	if m == nil {
		return rt
	}
	return &timedTransport{rt: rt, m: m, subgraph: subgraph}
}

// ObserveSubgraph records one request to subgraph made without an http.RoundTripper (the
// entity loader's own HTTP/1.1 client), as Subgraph's wrapper would: its duration and the
// response's status code, or "error" when err is set.
func (m *Metrics) ObserveSubgraph(ctx context.Context, subgraph string, status int, err error, d time.Duration) {
	if m == nil {
		return
	}
	label := "error"
	if err == nil {
		label = strconv.Itoa(status)
	}
	observe(ctx, m.subgraphFetch.WithLabelValues(subgraph, label), d)
}

type timedTransport struct {
	rt       http.RoundTripper
	m        *Metrics
	subgraph string
}

func (t *timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	var span trace.Span
	if h := tracer.Load(); h != nil {
		var ctx context.Context
		ctx, span = h.t.Start(r.Context(), "subgraph "+t.subgraph, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("edgate.subgraph", t.subgraph),
			attribute.String("http.request.method", r.Method),
			attribute.String("server.address", r.URL.Host),
		))
		r = r.Clone(ctx)
		propagator.Inject(ctx, propagation.HeaderCarrier(r.Header))
	}
	resp, err := t.rt.RoundTrip(r)
	if span != nil {
		if err == nil {
			span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		}
		End(span, err)
	}
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.StatusCode)
	}
	observe(r.Context(), t.m.subgraphFetch.WithLabelValues(t.subgraph, status), time.Since(start))
	return resp, err
}

// epoch is the origin of Now.
var epoch = time.Now()

// Now is a monotonic clock reading, cheap enough to stamp every event with (it is how
// Event.Received and Message.Received are measured).
func Now() time.Duration { return time.Since(epoch) }
