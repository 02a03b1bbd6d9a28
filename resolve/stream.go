package resolve

import (
	"math"
	"sync"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/edgate/edgate/internal/telemetry"
)

// Message is one result delivered to a subscriber.
type Message struct {
	// ID identifies the event: the stream position when the source has one (JetStream,
	// Kafka), otherwise a sequence number of the subscription group. SSE sends it as "id:".
	ID string
	// Payload is the complete execution result, {"data":...} and/or {"errors":[...]}.
	// It is shared by every subscriber of a group and must not be modified.
	Payload []byte
	// Received is when the event arrived from the broker (telemetry.Now; 0 when unknown),
	// for the delivery latency histogram.
	Received time.Duration
	// Trace is the span context of the event's resolution when it is traced (sampled),
	// for the transports' write spans; nil otherwise.
	Trace *trace.SpanContext
}

// End codes say why a stream ended; an empty code is a normal completion.
const (
	EndComplete     = ""
	EndSlowConsumer = "slow_consumer"
	EndShutdown     = "shutdown"
	EndReload       = "schema_reload"
	EndUpstream     = "upstream_error"
)

// End tells a transport how a stream finished.
type End struct {
	Code   string
	Reason string
}

// SlowPolicy decides what happens when a subscriber's queue is full.
type SlowPolicy int

const (
	// Disconnect ends the subscription with EndSlowConsumer (the default): the client learns
	// it missed events instead of silently skipping them.
	Disconnect SlowPolicy = iota
	// DropOldest discards the oldest queued message to make room and counts the drop.
	DropOldest
)

// DefaultQueueSize is the per-subscriber queue capacity used when none is configured.
const DefaultQueueSize = 1024

// Stream is one subscriber's bounded queue between the hub (producer) and a transport
// (consumer). The hub never blocks on it: Push either enqueues, drops per policy, or ends
// the stream. The transport drains it with Pull whenever wake fires.
//
// Fields are ordered to pack: an idle subscriber is one of these, 96 bytes (was 160).
type Stream struct {
	mu  sync.Mutex
	buf []Message // ring buffer
	// waker is woken when the stream has something to pull; PushNow calls its WakeNow
	// instead, which may write the message to the client's socket before it returns.
	waker Waker
	end   *End
	// group is the hub's group the stream is a member of: Close leaves it. (A field, not
	// a closure in onClose: 24 bytes per subscriber.)
	group *group
	// rare is what few streams have (close callbacks, a subscriber hook's view, drops, a
	// trace); nil for the others. It is made under mu, possibly after the stream joined
	// its group, whose goroutine reads info without mu: hence atomic.
	rare atomic.Pointer[streamRare]
	// head and n are the ring's first message and count, limit its capacity (a queue
	// holds far fewer than 2^31 messages).
	head, n, limit int32
	// member is the stream's index in its group's members (guarded by the group's mu).
	member     int32
	dropOldest bool // the SlowPolicy is DropOldest
	closed     bool
}

// streamRare is the part of a Stream that most streams do not have.
type streamRare struct {
	onClose func()
	// hooks run after onClose when the stream is closed (e.g. a token-expiry timer).
	hooks []func()
	// info is set only when a SubscriberEventHook is registered (see hooks.go), before
	// the stream joins its group, and not changed afterwards.
	info *subscriberInfo
	// dropped counts the messages the subscriber lost.
	dropped uint64
	// trace makes the subscription's lifetime span on Close; nil while tracing is off.
	trace *telemetry.SubscriptionTrace
}

// rareLocked returns s.rare, made if it is nil; s.mu is held (or the stream is not
// shared yet).
func (s *Stream) rareLocked() *streamRare {
	if r := s.rare.Load(); r != nil {
		return r
	}
	r := &streamRare{}
	s.rare.Store(r)
	return r
}

// info is the subscriber hook's view of the stream; nil without subscriber hooks.
func (s *Stream) info() *subscriberInfo {
	if r := s.rare.Load(); r != nil {
		return r.info
	}
	return nil
}

// Waker is what a Stream wakes, without locks held and never blocking the caller for
// long: Wake whenever the stream goes from empty to non-empty or ends, WakeNow instead
// when PushNow made it non-empty (the transport may write the message to the socket
// before it returns; one that cannot do what Wake does). Neither may call back into the
// stream. A transport whose subscriber implements it passes the subscriber itself
// (SubscribeOptions.Waker): two method values were 32 bytes per subscription.
type Waker interface {
	Wake()
	WakeNow()
}

// wakeFuncs is the Waker of a stream made with functions (NewStream, SubscribeOptions.Wake).
type wakeFuncs struct{ wake, now func() }

func (w *wakeFuncs) Wake() { w.wake() }

func (w *wakeFuncs) WakeNow() {
	if w.now != nil {
		w.now()
		return
	}
	w.wake()
}

// NewStream returns a stream of the given capacity that calls wake as a Waker's Wake and
// WakeNow.
func NewStream(capacity int, policy SlowPolicy, wake func()) *Stream {
	if wake == nil {
		wake = func() {}
	}
	return newStream(capacity, policy, &wakeFuncs{wake: wake})
}

// NewStreamFor returns the stream Subscribe makes for opts: woken through opts.Waker,
// or else opts.Wake and opts.WakeNow.
func NewStreamFor(capacity int, policy SlowPolicy, opts SubscribeOptions) *Stream {
	if opts.Waker != nil {
		return newStream(capacity, policy, opts.Waker)
	}
	wake := opts.Wake
	if wake == nil {
		wake = func() {}
	}
	return newStream(capacity, policy, &wakeFuncs{wake: wake, now: opts.WakeNow})
}

func newStream(capacity int, policy SlowPolicy, w Waker) *Stream {
	if capacity <= 0 {
		capacity = DefaultQueueSize
	}
	// The ring is allocated by the first message: an idle subscriber keeps none.
	return &Stream{limit: int32(min(capacity, math.MaxInt32)), dropOldest: policy == DropOldest, waker: w, member: -1}
}

// Push enqueues m. It returns false when the message was not queued (stream ended, or it
// ended now because the subscriber is too slow). dropped reports a message lost under
// DropOldest.
func (s *Stream) Push(m Message) (queued bool, dropped bool) { return s.push(m, false) }

// PushNow is Push for a caller that can afford to write: the hub delivering a lone
// subscriber's event on the broker's goroutine. A stream that was empty calls WakeNow,
// which may write the message to the socket at once instead of handing it to a writer
// goroutine (one goroutine wake-up less per event).
func (s *Stream) PushNow(m Message) (queued bool, dropped bool) { return s.push(m, true) }

func (s *Stream) push(m Message, now bool) (queued bool, dropped bool) {
	s.mu.Lock()
	if s.end != nil || s.closed {
		s.mu.Unlock()
		return false, false
	}
	if s.n >= s.limit {
		if s.dropOldest {
			s.popFront()
			s.rareLocked().dropped++
			s.pushBack(m)
			s.mu.Unlock()
			return true, true
		}
		s.rareLocked().dropped += uint64(s.n)
		s.clear()
		s.end = &End{Code: EndSlowConsumer, Reason: "subscriber did not keep up: its queue of undelivered messages was full"}
		s.mu.Unlock()
		s.waker.Wake()
		return false, true
	}
	wasEmpty := s.n == 0
	s.pushBack(m)
	s.mu.Unlock()
	if wasEmpty {
		if now {
			s.waker.WakeNow()
		} else {
			s.waker.Wake()
		}
	}
	return true, false
}

// PushFinal enqueues m regardless of capacity and ends the stream with end; used for a
// last error message.
func (s *Stream) PushFinal(m *Message, end End) {
	s.mu.Lock()
	if s.end != nil || s.closed {
		s.mu.Unlock()
		return
	}
	if m != nil {
		s.pushBack(*m)
	}
	s.end = &end
	s.mu.Unlock()
	s.waker.Wake()
}

// Finish ends the stream after the queued messages.
func (s *Stream) Finish(end End) { s.PushFinal(nil, end) }

// Pull appends all queued messages to dst. end is non-nil once the stream has ended and
// every queued message has been pulled.
func (s *Stream) Pull(dst []Message) ([]Message, *End) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n > 0 {
		dst = append(dst, s.buf[s.head])
		s.buf[s.head] = Message{}
		s.head = (s.head + 1) % int32(len(s.buf))
		s.n--
	}
	s.head = 0
	s.buf = s.buf[:0]
	if s.end != nil {
		return dst, s.end
	}
	return dst, nil
}

// PullUpTo is Pull for a writer that bounds what it buffers: it appends queued messages
// until their payloads add up to maxBytes or more (always at least one), and reports
// whether messages remain. end is non-nil only once every message was pulled.
func (s *Stream) PullUpTo(dst []Message, maxBytes int) (_ []Message, end *End, more bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	total := 0
	for s.n > 0 && (total < maxBytes || total == 0) {
		m := s.buf[s.head]
		dst = append(dst, m)
		total += len(m.Payload) + len(m.ID)
		s.buf[s.head] = Message{}
		s.head = (s.head + 1) % int32(len(s.buf))
		s.n--
	}
	if s.n > 0 {
		return dst, nil, true
	}
	s.head = 0
	s.buf = s.buf[:0]
	return dst, s.end, false
}

// Dropped returns how many messages this subscriber lost.
func (s *Stream) Dropped() uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r := s.rare.Load(); r != nil {
		return r.dropped
	}
	return 0
}

// setGroup makes g the group Close leaves; nil: none.
func (s *Stream) setGroup(g *group) {
	s.mu.Lock()
	s.group = g
	s.mu.Unlock()
}

// SetOnClose registers a callback that Close runs once, before the OnClose functions
// (for a transport's tests, which subscribe without a hub).
func (s *Stream) SetOnClose(f func()) {
	s.mu.Lock()
	s.rareLocked().onClose = f
	s.mu.Unlock()
}

// OnClose adds f to run once when the stream is closed; after Close it runs at once.
func (s *Stream) OnClose(f func()) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		f()
		return
	}
	r := s.rareLocked()
	r.hooks = append(r.hooks, f)
	s.mu.Unlock()
}

// EndIfOpen records end as the reason the stream ends when it has none yet, without
// waking anyone: for a transport that ends its streams itself (shutdown) before it
// closes them, so that Close does not take them for ones whose client left.
func (s *Stream) EndIfOpen(end End) {
	s.mu.Lock()
	if s.end == nil && !s.closed {
		s.end = &end
	}
	s.mu.Unlock()
}

// Close is called by the transport when the client goes away or stops the subscription.
// It is safe to call more than once and after the stream ended.
func (s *Stream) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	g := s.group
	var f func()
	var hooks []func()
	var trace *telemetry.SubscriptionTrace
	var dropped uint64
	if r := s.rare.Load(); r != nil {
		f, hooks, trace, dropped = r.onClose, r.hooks, r.trace, r.dropped
		r.hooks = nil
	}
	s.clear()
	end := s.end
	s.mu.Unlock()
	if g != nil {
		g.hub().leave(g, s)
	}
	if f != nil {
		f()
	}
	for _, h := range hooks {
		h()
	}
	if trace != nil {
		reason, code, message := endReason(end)
		trace.End(reason, code, message, dropped)
	}
}

// endReason classifies how a stream ended for its span: no end means the client left
// (disconnected or stopped it).
func endReason(end *End) (reason, code, message string) {
	switch {
	case end == nil:
		return telemetry.EndClientGone, "", ""
	case end.Code == EndComplete:
		return telemetry.EndComplete, "", ""
	case end.Code == EndShutdown:
		return telemetry.EndShutdown, "", ""
	case end.Code == EndReload:
		return telemetry.EndReload, end.Code, ""
	}
	return telemetry.EndError, end.Code, end.Reason
}

func (s *Stream) clear() {
	for i := range s.buf {
		s.buf[i] = Message{}
	}
	s.buf = s.buf[:0]
	s.head, s.n = 0, 0
}

// pushBack appends to the ring, growing the backing array as needed (the ring is kept
// small for idle subscribers and grows only under load).
func (s *Stream) pushBack(m Message) {
	if int(s.n) == len(s.buf) {
		if s.head == 0 && len(s.buf) < cap(s.buf) {
			s.buf = append(s.buf, m)
			s.n++
			return
		}
		// grow: linearize into a bigger array
		// From one message: a subscriber whose writer keeps up never holds more, and an
		// idle one keeps its ring, so it should be small.
		n, head := int(s.n), int(s.head)
		nb := make([]Message, n, min(max(2*n, 1), max(int(s.limit), 1)))
		for i := 0; i < n; i++ {
			nb[i] = s.buf[(head+i)%len(s.buf)]
		}
		s.buf = append(nb, m)
		s.head = 0
		s.n++
		return
	}
	s.buf[(int(s.head)+int(s.n))%len(s.buf)] = m
	s.n++
}

func (s *Stream) popFront() {
	s.buf[s.head] = Message{}
	s.head = (s.head + 1) % int32(len(s.buf))
	s.n--
}

// prepend queues msgs before everything queued so far (a SnapshotHook's events go before
// the live events that arrived while it ran). The transport has not pulled yet: it gets
// the stream only when Subscribe returns.
func (s *Stream) prepend(msgs []Message) {
	if len(msgs) == 0 {
		return
	}
	s.mu.Lock()
	if s.end != nil || s.closed {
		s.mu.Unlock()
		return
	}
	all := make([]Message, 0, len(msgs)+int(s.n))
	all = append(all, msgs...)
	for i := 0; i < int(s.n); i++ {
		all = append(all, s.buf[(int(s.head)+i)%len(s.buf)])
	}
	s.buf, s.head, s.n = all, 0, int32(min(len(all), math.MaxInt32))
	if s.limit < s.n {
		s.limit = s.n // a snapshot bigger than the queue still goes out whole
	}
	s.mu.Unlock()
	s.waker.Wake()
}

// ObserveDelivered records the delivery latency of msgs, whose frames a transport is about
// to write, and the write spans of the traced ones; transport is a telemetry.Transport*
// name. d may be nil (metrics off).
func ObserveDelivered(d *telemetry.Delivery, msgs []Message, transport string) {
	if len(msgs) == 0 {
		return
	}
	if d != nil {
		now := telemetry.Now()
		for i := range msgs {
			d.Observe(msgs[i].Received, now)
		}
	}
	for i := range msgs {
		if msgs[i].Trace != nil {
			telemetry.Written(msgs[i].Trace, transport)
		}
	}
}
