// Package eventsource connects edgate to message brokers. Each broker is a Provider behind
// one small interface; the Registry on top keeps exactly one broker consumer per distinct
// (provider, subject set, stream options) and fans its events out to every subscriber.
package eventsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Event is one message received from a broker.
type Event struct {
	// Subject is the concrete subject, topic or channel the message arrived on.
	Subject string
	// Data is the raw payload. Receivers must treat it as read-only: the same slice is
	// handed to every subscriber of the consumer.
	Data []byte
	// Position is the resumable stream position (JetStream sequence, Kafka
	// "partition:offset"), empty for sources without one (NATS core, Redis).
	Position string
	// Received is when the gateway got the event (telemetry.Now), set by the registry.
	Received time.Duration
	// TraceParent and TraceState are the publisher's W3C trace context, from the message
	// headers (NATS, Kafka; Redis pub/sub has no headers); "" when it sent none.
	TraceParent, TraceState string
	// Backlog says more events wait behind this one on the goroutine delivering it (the
	// NATS router's queue is not empty): a receiver should hand work off rather than do
	// it on that goroutine, where it would hold up the events behind.
	Backlog bool
}

// ConsumeOptions tune one consumer. The zero value is a plain live subscription.
type ConsumeOptions struct {
	// Stream selects JetStream delivery for NATS providers.
	Stream *StreamOptions
	// StartAfter resumes after an Event.Position this provider delivered earlier: the
	// consumer first delivers what was published since, then live events. It is supported
	// by JetStream (a stream sequence) and Kafka (a vector of partition offsets); for
	// sources without positions (NATS core, Redis) Consume fails with ErrNoResume.
	StartAfter string
}

// ErrNoResume is returned by Consume when ConsumeOptions.StartAfter is set for a source
// that has no stream positions.
var ErrNoResume = errors.New("this event source has no stream positions to resume from")

// StreamOptions describe a durable JetStream consumer.
type StreamOptions struct {
	StreamName   string
	ConsumerName string
	// InactiveThreshold removes the durable consumer after this long without a subscriber;
	// zero means the provider default.
	InactiveThreshold time.Duration
}

// Provider is one configured broker connection.
//
// Consume must deliver events to fn in the order the broker delivered them, from a single
// goroutine per consumer, and fn must not block. It delivers them in batches: the events
// its client handed over together (a Kafka fetch; what a NATS multi-subject or memory
// consumer queued while its goroutine was busy; a single message for NATS single-subject,
// JetStream and Redis consumers, whose clients hand messages over one at a time). A batch
// is never empty. fn may change the batch's elements but must not keep the slice: the
// provider reuses it. A provider reconnects on its own after a broker outage and keeps its
// consumers; Consume only fails for errors a retry cannot fix (invalid subject, missing
// stream).
type Provider interface {
	ID() string
	// Kind is "nats", "kafka", "redis" or "memory".
	Kind() string
	Consume(ctx context.Context, subjects []string, opts ConsumeOptions, fn func([]Event)) (Consumer, error)
	// Publish sends data to subject. It returns an error when the broker refused the
	// message or is unreachable; it never buffers silently beyond the client library.
	Publish(ctx context.Context, subject string, data []byte) error
	Close() error
}

// Header is a broker message's header: NATS message headers, or Kafka record headers (one
// record header per value, keys in sorted order). NATS keys are case-sensitive. Redis
// pub/sub messages have no headers.
type Header map[string][]string

// HeaderPublisher is implemented by providers whose messages carry headers (NATS and
// Kafka; not Redis pub/sub, nor memory).
type HeaderPublisher interface {
	// PublishWithHeader is Publish with the message header h. With tracing on, the
	// provider adds the trace context (traceparent, tracestate) unless h has a
	// traceparent.
	PublishWithHeader(ctx context.Context, subject string, data []byte, h Header) error
}

// ErrNoHeaders is the error of a publish with a header through a provider whose messages
// carry none (Redis pub/sub, memory).
var ErrNoHeaders = errors.New("this event source's messages carry no headers")

// hasTraceParent reports whether h carries a trace context already (any spelling).
func hasTraceParent(h Header) bool {
	for k := range h {
		if strings.EqualFold(k, "traceparent") {
			return true
		}
	}
	return false
}

// Consumer is a running broker consumer; Close stops it and releases the broker resources.
// Close may wait for a running fn call to return, so it must not be called from fn (the
// Registry never does: its unsubscribe closes consumers on a goroutine of their own).
type Consumer interface {
	Close() error
}

// Requester is implemented by providers that support request/reply (NATS).
type Requester interface {
	// Request sends data to subject and returns the first reply. It fails with
	// ErrNoResponders when nothing listens on the subject, and with a *NoReplyError when
	// no reply arrives within the provider's request timeout.
	Request(ctx context.Context, subject string, data []byte) ([]byte, error)
}

// ErrNoResponders is the error of a request on a subject nothing listens on.
var ErrNoResponders = errors.New("no responders")

// NoReplyError is the error of a request that got no reply within Timeout.
type NoReplyError struct{ Timeout time.Duration }

func (e *NoReplyError) Error() string { return fmt.Sprintf("no reply within %s", e.Timeout) }

// StatsReporter is implemented by providers that count their own traffic. The Registry
// reports these counters when a provider has them, and its own counts of the traffic that
// passed through it otherwise.
type StatsReporter interface {
	Stats() ProviderStats
}
