package sse

import (
	"context"
	"math"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// subscriber is one open subscription stream. Served by a writer shard (a hijacked
// HTTP/1.1 connection, or an HTTP/2 stream of edgate's own HTTP/2 server) it is a
// netwriter.Body and costs no goroutine: the shard calls Next when its resolve.Stream
// wakes it and Tick for heartbeats. Otherwise (net/http's own HTTP/2, TLS HTTP/1.1, other
// systems) a goroutine of its own sleeps on wake, the heartbeat timer and the request
// context.
//
// Fields are ordered to pack (one per idle stream): 96 bytes, was 112.
type subscriber struct {
	h      *Handler
	stream *resolve.Stream
	waker  atomic.Value  // netwriter.Waker once a shard serves it
	wake   chan struct{} // goroutine mode only; capacity 1: wake-ups collapse
	// reqID is the request's id (X-Request-ID) for the stream's log lines; "" without it.
	reqID string

	// open streams of the handler, for Shutdown (guarded by Handler.mu)
	prev, next *subscriber

	lastOut  time.Duration // pool clock of the last bytes produced; the serving shard's once attached
	shutdown atomic.Bool

	// Used only by the shard serving it.
	format streamFormat
	opened bool // multipart: the opening delimiter went out
	ended  bool
}

// Wake implements resolve.Waker. It never blocks: the hub calls it from its delivery
// path.
func (s *subscriber) Wake() {
	if w, ok := s.waker.Load().(netwriter.Waker); ok {
		w.Wake()
		return
	}
	if s.wake == nil {
		return // not yet attached: attach wakes it once in any case
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// WakeNow implements resolve.Waker: Wake for the hub's delivery on the broker's goroutine
// to a lone subscriber; a hijacked connection's shard may write the event before it
// returns.
func (s *subscriber) WakeNow() {
	if w, ok := s.waker.Load().(interface{ WakeNow() }); ok {
		w.WakeNow()
		return
	}
	s.Wake()
}

// attach makes w the one to wake, and wakes it once for whatever arrived before.
func (s *subscriber) attach(w netwriter.Waker) {
	s.waker.Store(w)
	w.Wake()
}

// msgsPool holds the scratch slices shards pull messages into.
var msgsPool = sync.Pool{New: func() any { s := make([]resolve.Message, 0, 16); return &s }}

// Next implements netwriter.Body: the frames of every queued message, and the end of the
// stream once it ended.
func (s *subscriber) Next(dst []byte, room int, now time.Duration) ([]byte, bool) {
	if s.ended {
		return dst, true
	}
	fb := frameBuffer{format: s.format, opened: s.opened, buf: dst}
	scratch := msgsPool.Get().(*[]resolve.Message)
	msgs, end, more := s.stream.PullUpTo((*scratch)[:0], room)
	if more {
		s.Wake() // the rest on the next visit
	}
	for i := range msgs {
		fb.next(msgs[i].ID, msgs[i].Payload)
	}
	resolve.ObserveDelivered(s.h.delivered, msgs, telemetry.TransportSSE)
	clear(msgs) // payloads are shared with other subscribers: do not pin them
	if cap(msgs) <= 1024 {
		*scratch = msgs[:0]
		msgsPool.Put(scratch)
	}
	switch {
	case end != nil:
		s.h.endFrames(&fb, *end, s.reqID)
		s.ended = true
	case s.shutdown.Load():
		s.stream.EndIfOpen(shutdownEnd)
		s.h.shutdownFrames(&fb)
		s.ended = true
	}
	s.opened = fb.opened
	if len(fb.buf) > len(dst) {
		s.lastOut = now
	}
	return fb.buf, s.ended
}

// Fill implements netwriter.Owner, so that a hijacked connection's pool serves the
// subscriber without an adapter: it is Next.
func (s *subscriber) Fill(dst []byte, room int, now time.Duration) ([]byte, bool) {
	return s.Next(dst, room, now)
}

// Tick implements netwriter.Body: a heartbeat after HeartbeatInterval of silence.
func (s *subscriber) Tick(dst []byte, now time.Duration) []byte {
	if s.ended || s.h.heartbeat < 0 || now-s.lastOut < s.h.heartbeat {
		return dst
	}
	fb := frameBuffer{format: s.format, opened: s.opened, buf: dst}
	fb.heartbeat()
	s.opened = fb.opened
	s.lastOut = now
	return fb.buf
}

// TickDue implements netwriter.TickDuer: Tick has nothing before a heartbeat is due.
func (s *subscriber) TickDue() time.Duration {
	if s.ended || s.h.heartbeat < 0 {
		return math.MaxInt64
	}
	return s.lastOut + s.h.heartbeat
}

// Closed implements netwriter.Body: the stream is over, written or not.
func (s *subscriber) Closed(err error) {
	if err != nil && !s.ended {
		withRequestID(s.h.log.Debug(), s.reqID).Err(err).Msg("subscription stream's client went away")
	}
	s.h.pool().CloseLater(s.stream)
	s.h.finishServed(s)
}

// shutdownEnd is what a stream that Shutdown ends records as its end (for its span).
var shutdownEnd = resolve.End{Code: resolve.EndShutdown}

// withRequestID adds the stream's request id to a log line.
func withRequestID(e *zerolog.Event, reqID string) *zerolog.Event {
	if reqID != "" {
		e = e.Str("request_id", reqID)
	}
	return e
}

// endFrames appends the end of a stream: the error of an abnormal end, then complete.
func (h *Handler) endFrames(fb *frameBuffer, end resolve.End, reqID string) {
	if end.Code != resolve.EndComplete {
		withRequestID(h.log.Debug(), reqID).Str("code", end.Code).Str("reason", end.Reason).Msg("subscription stream ended")
		fb.fatal(endErrors(end))
	}
	fb.complete()
}

// shutdownFrames appends the end of a stream that Shutdown ends: complete, or (the
// default) a reconnect hint and no complete, so that the client opens the subscription
// again on another instance instead of taking it as over. A multipart stream ends without
// its close delimiter: for Apollo's clients that is an interrupted stream, not a
// completed one.
func (h *Handler) shutdownFrames(fb *frameBuffer) {
	if h.completeOnShutdown.Load() {
		fb.complete()
		return
	}
	if fb.format == formatSSE && h.retry > 0 {
		fb.retry(h.retryHint())
	}
}

// retryHint is the reconnect delay one stream asks for: drawn between half of
// RetryInterval and all of it, so that the clients of one instance spread out.
func (h *Handler) retryHint() time.Duration {
	half := h.retry / 2
	return half + rand.N(h.retry-half+1)
}

// streamWriter buffers frames for one stream and hands them to out in one piece.
type streamWriter struct {
	buf frameBuffer
	out func([]byte) error
}

// startStream writes and flushes the response headers of a stream at once, so that the
// client (and any proxy) sees the stream open before the first event. A closeDelimited
// response (HTTP/1.1 streams whose connection is hijacked) has no Transfer-Encoding: its
// body ends when the server closes the connection ("Connection: close"), the set-up the
// SSE specification recommends, so the frames go on the socket as they are.
//
// A subscription's SSE stream (retryHint) starts with a `retry:` field in the same write,
// so that a client whose connection breaks reconnects after RetryInterval rather than
// EventSource's default of about 3s.
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, format streamFormat, closeDelimited, retryHint bool) *streamWriter {
	hd := w.Header()
	switch format {
	case formatSSE:
		hd.Set("Content-Type", mediaEventStream)
	case formatMultipart:
		hd.Set("Content-Type", multipartContentType)
	}
	hd.Set("Cache-Control", "no-cache")
	switch {
	case closeDelimited:
		// net/http answers "identity" with no Transfer-Encoding and Connection: close
		hd.Set("Transfer-Encoding", "identity")
	case r.ProtoMajor == 1:
		// connection-specific headers are forbidden in HTTP/2
		hd.Set("Connection", "keep-alive")
	}
	// nginx buffers responses unless told otherwise
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rw := &responseOut{w: w, rc: http.NewResponseController(w), writeTimeout: h.writeTimeout}
	if retryHint && format == formatSSE && h.retry > 0 {
		fb := frameBuffer{format: format}
		fb.retry(h.retryHint())
		_, _ = w.Write(fb.buf)
	}
	_ = rw.rc.Flush()
	return &streamWriter{buf: frameBuffer{format: format}, out: rw.write}
}

// responseOut writes through net/http: one Write and one Flush per batch.
type responseOut struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	writeTimeout time.Duration
	noDeadline   bool // the ResponseWriter cannot set deadlines: stop asking
}

func (o *responseOut) write(b []byte) error {
	// The deadline is cleared after the write: on HTTP/2 an expired deadline resets the
	// stream even while it is idle.
	if !o.noDeadline {
		o.noDeadline = o.rc.SetWriteDeadline(time.Now().Add(o.writeTimeout)) != nil
	}
	_, err := o.w.Write(b)
	if err == nil {
		err = o.rc.Flush()
	}
	if !o.noDeadline && err == nil {
		_ = o.rc.SetWriteDeadline(time.Time{})
	}
	return err
}

// flush writes the buffered frames in one piece.
func (sw *streamWriter) flush() error {
	if len(sw.buf.buf) == 0 {
		return nil
	}
	err := sw.out(sw.buf.buf)
	sw.buf.reset()
	// a burst can grow the buffer a lot; do not keep that memory for an idle stream
	if cap(sw.buf.buf) > 256<<10 {
		sw.buf.buf = nil
	}
	return err
}

// serveSubscription streams a subscription until it ends, the client goes away or the
// handler shuts down.
func (h *Handler) serveSubscription(w http.ResponseWriter, r *http.Request, op *resolve.Operation, format streamFormat) {
	if d, ok := detacherOf(w); ok {
		h.serveDetached(w, d, r, op, format)
		return
	}
	if h.canHijack(w, r) {
		h.serveHijacked(w, r, op, format)
		return
	}
	sub := &subscriber{h: h, wake: make(chan struct{}, 1), reqID: telemetry.RequestID(r.Context())}
	if !h.register(sub) {
		writeError(w, mediaJSON, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return
	}
	defer h.unregister(sub)

	ctx := r.Context()
	sw := h.startStream(w, r, format, false, true)
	stream, err := h.exec.Subscribe(ctx, op, resolve.SubscribeOptions{Waker: sub, LastEventID: lastEventID(r)})
	if err != nil {
		sw.buf.fatal(h.operationErrors(err, r))
		sw.buf.complete()
		_ = sw.flush()
		return
	}
	defer stream.Close()
	h.run(ctx, sub, stream, sw)
}

// run is a stream's own loop: it sleeps on wake, the heartbeat timer and ctx (the client
// going away), and returns when the stream ended or a write failed.
func (h *Handler) run(ctx context.Context, sub *subscriber, stream *resolve.Stream, sw *streamWriter) {
	// Without heartbeats the timer is set so far ahead that it never fires.
	every := h.heartbeat
	if every < 0 {
		every = time.Duration(math.MaxInt64)
	}
	heartbeat := time.NewTimer(every)
	defer heartbeat.Stop()
	var msgs []resolve.Message
	for {
		select {
		case <-ctx.Done():
			return
		case <-heartbeat.C:
			sw.buf.heartbeat()
			if sw.flush() != nil {
				return
			}
			heartbeat.Reset(every)
		case <-sub.wake:
			var end *resolve.End
			msgs, end = stream.Pull(msgs[:0])
			for i := range msgs {
				sw.buf.next(msgs[i].ID, msgs[i].Payload)
			}
			resolve.ObserveDelivered(h.delivered, msgs, telemetry.TransportSSE)
			clear(msgs) // payloads are shared with other subscribers: do not pin them
			if end != nil || sub.shutdown.Load() {
				if end != nil {
					h.endFrames(&sw.buf, *end, sub.reqID)
				} else {
					stream.EndIfOpen(shutdownEnd)
					h.shutdownFrames(&sw.buf)
				}
				_ = sw.flush()
				return
			}
			if len(sw.buf.buf) == 0 {
				continue // spurious wake-up: keep the heartbeat schedule
			}
			if sw.flush() != nil {
				return
			}
			heartbeat.Reset(h.heartbeat)
		}
	}
}

// register adds s to the open streams, false once the handler shuts down.
func (h *Handler) register(s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.linkLocked(s)
	return true
}

func (h *Handler) linkLocked(s *subscriber) {
	s.next = h.open
	if h.open != nil {
		h.open.prev = s
	}
	h.open = s
}

func (h *Handler) unregister(s *subscriber) {
	h.mu.Lock()
	if s.prev != nil {
		s.prev.next = s.next
	} else if h.open == s {
		h.open = s.next
	}
	if s.next != nil {
		s.next.prev = s.prev
	}
	s.prev, s.next = nil, nil
	h.mu.Unlock()
}

// Streams is the number of open subscription streams (read at scrape time: it walks them).
func (h *Handler) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for s := h.open; s != nil; s = s.next {
		n++
	}
	return n
}
