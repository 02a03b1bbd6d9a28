package telemetry

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Subscription end reasons (attribute edgate.subscription.end).
const (
	EndClientGone = "client_gone" // the client disconnected or stopped the subscription
	EndComplete   = "complete"    // the gateway completed it (the source ended)
	EndError      = "error"       // the gateway ended it with an error (edgate.subscription.end_code says which)
	EndShutdown   = "shutdown"    // the gateway shut down
	EndReload     = "reload"      // a schema reload ended it; the client subscribes again
)

// SubscriptionTrace is what a traced subscription keeps for its lifetime span: no live
// span (a subscription may last for days, and a span object per subscription would cost
// memory on every idle one), only the parent and the start; the span is made, with its
// start time, when the subscription ends.
type SubscriptionTrace struct {
	parent trace.SpanContext
	start  time.Time
	name   string
}

// StartSubscription notes the start of a subscription under ctx's span; nil when tracing
// is off or ctx's span is not sampled (its lifetime span would not be recorded either).
func StartSubscription(ctx context.Context, operationName string) *SubscriptionTrace {
	if tracer.Load() == nil {
		return nil
	}
	parent := trace.SpanContextFromContext(ctx)
	if parent.IsValid() && !parent.IsSampled() {
		return nil
	}
	return &SubscriptionTrace{parent: parent, start: time.Now(), name: operationName}
}

// End records the subscription's span, "graphql.subscription", from its start to now:
// reason is one of the End* constants; code and message are the gateway's end code and
// reason for EndError; dropped counts the messages the subscriber lost.
func (t *SubscriptionTrace) End(reason, code, message string, dropped uint64) {
	h := tracer.Load()
	if t == nil || h == nil {
		return
	}
	attrs := []attribute.KeyValue{
		attribute.String("graphql.operation.name", t.name),
		attribute.String("edgate.subscription.end", reason),
	}
	if code != "" {
		attrs = append(attrs, attribute.String("edgate.subscription.end_code", code))
	}
	if dropped > 0 {
		attrs = append(attrs, attribute.Int64("edgate.subscriber.dropped", int64(dropped)))
	}
	ctx := context.Background()
	if t.parent.IsValid() {
		ctx = trace.ContextWithSpanContext(ctx, t.parent)
	}
	_, span := h.t.Start(ctx, "graphql.subscription", trace.WithTimestamp(t.start), trace.WithAttributes(attrs...))
	if reason == EndError {
		span.SetStatus(codes.Error, message)
	}
	span.End()
}

// Link returns the span context of ctx's span for the operations of a WebSocket
// connection to link to (its upgrade request), nil when tracing is off or there is none.
func Link(ctx context.Context) *trace.SpanContext {
	if tracer.Load() == nil {
		return nil
	}
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return nil
	}
	return &sc
}

// StartWebSocketOperation starts the span of one operation (subscribe message) on a
// WebSocket connection, "websocket operation": a trace of its own, since a connection
// may carry thousands of operations over hours, linked to the upgrade request's span
// (upgrade, from Link). Its prepare, execute and subscribe spans are its children. nil
// span when tracing is off.
func StartWebSocketOperation(ctx context.Context, upgrade *trace.SpanContext, subprotocol, id, requestID string) (context.Context, trace.Span) {
	h := tracer.Load()
	if h == nil {
		return ctx, nil
	}
	opts := []trace.SpanStartOption{
		trace.WithNewRoot(),
		trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(
			attribute.String("edgate.transport", TransportWebSocket),
			attribute.String("websocket.subprotocol", subprotocol),
			attribute.String("graphql.operation.id", id),
			attribute.String("edgate.request_id", requestID),
		),
	}
	if upgrade != nil {
		opts = append(opts, trace.WithLinks(trace.Link{SpanContext: *upgrade}))
	}
	return h.t.Start(ctx, "websocket operation", opts...)
}
