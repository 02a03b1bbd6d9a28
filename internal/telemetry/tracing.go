package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// TracingOptions configure the OpenTelemetry trace export (config telemetry.tracing).
type TracingOptions struct {
	// Exporter is "otlp-http" (default) or "otlp-grpc".
	Exporter string
	// Endpoint is the collector: host:port, or a URL (http:// means no TLS; for otlp-http
	// a URL without a path gets /v1/traces). Default: the exporter's own (localhost:4318 /
	// localhost:4317, or OTEL_EXPORTER_OTLP_ENDPOINT).
	Endpoint string
	// Headers are sent with every export (e.g. an API key).
	Headers map[string]string
	// SamplingRatio is the share of new traces recorded (0..1); a request or event that
	// arrives with a sampled traceparent is recorded whatever the ratio (parent-based).
	SamplingRatio float64
	// ServiceName is the resource's service.name. Default "edgate".
	ServiceName string
}

// tracer is the process's tracer; nil while tracing is off, which is what every hot-path
// helper checks first (one atomic load, no allocation).
var tracer atomic.Pointer[tracerHolder]

type tracerHolder struct{ t trace.Tracer }

// propagator reads and writes W3C traceparent and tracestate.
var propagator = propagation.TraceContext{}

// TracingOn reports whether spans are being made.
func TracingOn() bool { return tracer.Load() != nil }

// SetTracerProvider turns tracing on with tp's tracer, or off with nil. The gateway calls
// it from its configuration; tests call it with an in-memory provider.
func SetTracerProvider(tp trace.TracerProvider) {
	if tp == nil {
		tracer.Store(nil)
		return
	}
	tracer.Store(&tracerHolder{t: tp.Tracer("github.com/edgate/edgate")})
}

// NewTracerProvider builds the SDK provider of opts: batching OTLP exporter, parent-based
// ratio sampler. Its Shutdown flushes what is buffered.
func NewTracerProvider(ctx context.Context, opts TracingOptions) (*sdktrace.TracerProvider, error) {
	var exp *otlptrace.Exporter
	var err error
	switch opts.Exporter {
	case "", "otlp-http":
		exp, err = otlptracehttp.New(ctx, exporterOptions[otlptracehttp.Option]{
			url:      func(u string) otlptracehttp.Option { return otlptracehttp.WithEndpointURL(signalURL(u, "/v1/traces")) },
			host:     otlptracehttp.WithEndpoint,
			insecure: otlptracehttp.WithInsecure,
			headers:  otlptracehttp.WithHeaders,
		}.of(opts.Endpoint, opts.Headers)...)
	case "otlp-grpc":
		exp, err = otlptracegrpc.New(ctx, exporterOptions[otlptracegrpc.Option]{
			url:      otlptracegrpc.WithEndpointURL,
			host:     otlptracegrpc.WithEndpoint,
			insecure: otlptracegrpc.WithInsecure,
			headers:  otlptracegrpc.WithHeaders,
		}.of(opts.Endpoint, opts.Headers)...)
	default:
		return nil, fmt.Errorf("tracing exporter %q: use otlp-http or otlp-grpc", opts.Exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing exporter: %w", err)
	}
	name := opts.ServiceName
	if name == "" {
		name = "edgate"
	}
	res := resource.NewSchemaless(semconv.ServiceName(name))
	return sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp),
		sdktrace.WithResource(res),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(opts.SamplingRatio))),
	), nil
}

// signalURL is endpoint with the signal's OTLP/HTTP path (/v1/traces, /v1/metrics) when
// it has no path of its own. The exporters take a URL's path as it is, so that
// "http://collector:4318", the way collectors are usually named, would post to "/" and be
// refused; this reads it the way OTEL_EXPORTER_OTLP_ENDPOINT is read. A URL with a path is
// kept, for collectors behind a prefix.
func signalURL(endpoint, path string) string {
	u, err := url.Parse(endpoint)
	if err != nil || (u.Path != "" && u.Path != "/") {
		return endpoint // the exporter reports a bad URL
	}
	u.Path = path
	return u.String()
}

// Tracing starts a server span per request (continuing the client's traceparent) when
// tracing is on; when it is off it adds nothing but one atomic load.
func Tracing(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := tracer.Load()
		if h == nil {
			next.ServeHTTP(w, r)
			return
		}
		ctx := propagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
		ctx, span := h.t.Start(ctx, r.Method+" "+r.URL.Path, trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(
				attribute.String("http.request.method", r.Method),
				attribute.String("url.path", r.URL.Path),
				attribute.String("edgate.request_id", RequestID(r.Context())),
			))
		defer span.End()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// Start starts an internal span under ctx's, or returns ctx and nil when tracing is off.
// End it with End.
func Start(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	h := tracer.Load()
	if h == nil {
		return ctx, nil
	}
	return h.t.Start(ctx, name, trace.WithAttributes(attrs...))
}

// End ends span (nil-safe), marking it failed when err is not nil.
func End(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// StartPublish starts the producer span of a publish to provider's subject; its context is
// what the provider puts in the message headers (TraceHeaders). nil span when off.
func StartPublish(ctx context.Context, provider, subject string) (context.Context, trace.Span) {
	h := tracer.Load()
	if h == nil {
		return ctx, nil
	}
	return h.t.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(
		attribute.String("messaging.system", strings.SplitN(provider, "/", 2)[0]),
		attribute.String("messaging.destination.name", subject),
		attribute.String("edgate.provider", provider),
	))
}

// TraceHeaders returns ctx's span as W3C traceparent and tracestate values, for a publish
// to carry in the broker message's headers; "" when tracing is off or there is no span.
func TraceHeaders(ctx context.Context) (traceparent, tracestate string) {
	if tracer.Load() == nil {
		return "", ""
	}
	c := propagation.MapCarrier{}
	propagator.Inject(ctx, c)
	return c["traceparent"], c["tracestate"]
}

// EventSpan is the span of one event in one subscription group.
type EventSpan struct {
	span trace.Span
	// Context is the span's context, for the resolution's subgraph fetches.
	Context context.Context
}

// StartEvent starts the span of an event a group received (nil when tracing is off). A
// publisher's traceparent (from the broker message's headers) makes it the span's parent,
// so that the event continues the publisher's trace, and a link to it.
func StartEvent(ctx context.Context, provider, subject, traceparent, tracestate string) *EventSpan {
	h := tracer.Load()
	if h == nil {
		return nil
	}
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", strings.SplitN(provider, "/", 2)[0]),
			attribute.String("messaging.destination.name", subject),
			attribute.String("edgate.provider", provider),
		),
	}
	if traceparent != "" {
		c := propagation.MapCarrier{"traceparent": traceparent}
		if tracestate != "" {
			c["tracestate"] = tracestate
		}
		remote := trace.SpanContextFromContext(propagator.Extract(context.Background(), c))
		if remote.IsValid() {
			ctx = trace.ContextWithRemoteSpanContext(ctx, remote)
			opts = append(opts, trace.WithLinks(trace.Link{SpanContext: remote}))
		}
	}
	ctx, span := h.t.Start(ctx, "event "+subject, opts...)
	return &EventSpan{span: span, Context: ctx}
}

// Sampled returns the span's context for the transports' write spans (Message.Trace),
// nil when the span is not recorded.
func (e *EventSpan) Sampled() *trace.SpanContext {
	if e == nil {
		return nil
	}
	sc := e.span.SpanContext()
	if !sc.IsSampled() {
		return nil
	}
	return &sc
}

// Queued ends the event's span once its payload is queued to members subscribers (0: the
// event was filtered out).
func (e *EventSpan) Queued(members int, err error) {
	if e == nil {
		return
	}
	e.span.SetAttributes(attribute.Int("edgate.subscribers", members))
	End(e.span, err)
}

// Written records the write of an event's frame to a client (transport "sse" or
// "websocket") as a span under the event's: from the event's queueing to now.
func Written(parent *trace.SpanContext, transport string) {
	h := tracer.Load()
	if h == nil || parent == nil {
		return
	}
	_, span := h.t.Start(trace.ContextWithSpanContext(context.Background(), *parent), transport+" write",
		trace.WithSpanKind(trace.SpanKindProducer), trace.WithAttributes(attribute.String("edgate.transport", transport)))
	span.End()
}

// exporterOptions are an OTLP exporter package's options for an endpoint, plaintext and
// headers, so that traces and metrics read their configuration the same way.
type exporterOptions[O any] struct {
	url      func(string) O
	host     func(string) O
	insecure func() O
	headers  func(map[string]string) O
}

// of is the options for endpoint (a URL, or host:port) and headers; an http:// endpoint
// is plaintext.
func (e exporterOptions[O]) of(endpoint string, headers map[string]string) []O {
	var o []O
	if endpoint != "" {
		if strings.Contains(endpoint, "://") {
			o = append(o, e.url(endpoint))
		} else {
			o = append(o, e.host(endpoint))
		}
	}
	if strings.HasPrefix(endpoint, "http://") {
		o = append(o, e.insecure())
	}
	if len(headers) > 0 {
		o = append(o, e.headers(headers))
	}
	return o
}
