package sse

import (
	"context"
	"io"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/resolve"
)

// subscriber is one open streaming request. Until a writer shard serves it (HTTP/1.1
// streams once their connection is hijacked), a goroutine of its own sleeps on wake, the
// heartbeat timer and the request context. Once attached to a shard, wake-ups put it on the
// shard's ready list instead and it costs no goroutine at all.
type subscriber struct {
	wake     chan struct{} // capacity 1: any number of wake-ups collapse into one
	shutdown atomic.Bool

	// Hijacked streams only. sh is set at registration; conn, rc, stream and format before
	// attached is stored; the rest belongs to sh's goroutine.
	sh       *shard
	attached atomic.Bool
	queued   atomic.Bool   // on sh's ready list
	events   atomic.Uint32 // netpoll events not yet handled
	conn     net.Conn
	rc       syscall.RawConn
	stream   *resolve.Stream
	format   streamFormat
	key      netpoll.Key // 0: not registered with the poller

	opened    bool   // multipart: the opening delimiter went out
	pending   []byte // frames the socket did not take yet
	blockedAt int64  // when pending last stopped shrinking, pool clock
	lastWrite int64  // pool clock
	index     int    // in sh.members, -1 before the shard first served it
	ending    bool   // the final frames are queued: close once they are written
	done      bool
}

func newSubscriber() *subscriber { return &subscriber{wake: make(chan struct{}, 1), index: -1} }

// wakeUp never blocks: the hub calls it from its delivery path.
func (s *subscriber) wakeUp() {
	if s.attached.Load() {
		if s.queued.CompareAndSwap(false, true) {
			s.sh.enqueue(s)
		}
		return
	}
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Ready receives the poller's events for a hijacked connection.
func (s *subscriber) Ready(ev netpoll.Event) {
	s.events.Or(uint32(ev))
	if s.queued.CompareAndSwap(false, true) {
		s.sh.enqueue(s)
	}
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
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, format streamFormat, closeDelimited bool) *streamWriter {
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
	if h.canHijack(w, r) {
		h.serveHijacked(w, r, op, format)
		return
	}
	sub := newSubscriber()
	if !h.register(sub, false) {
		writeError(w, mediaJSON, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return
	}
	defer h.unregister(sub)

	ctx := r.Context()
	sw := h.startStream(w, r, format, false)
	stream, err := h.exec.Subscribe(ctx, op, resolve.SubscribeOptions{Wake: sub.wakeUp, LastEventID: lastEventID(r)})
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
	heartbeat := time.NewTimer(h.heartbeat)
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
			heartbeat.Reset(h.heartbeat)
		case <-sub.wake:
			var end *resolve.End
			msgs, end = stream.Pull(msgs[:0])
			for i := range msgs {
				sw.buf.next(msgs[i].ID, msgs[i].Payload)
			}
			clear(msgs) // payloads are shared with other subscribers: do not pin them
			if end == nil && sub.shutdown.Load() {
				end = &resolve.End{}
			}
			if end != nil {
				if end.Code != resolve.EndComplete {
					h.log.Debug().Str("code", end.Code).Str("reason", end.Reason).Msg("subscription stream ended")
					sw.buf.fatal(endErrors(*end))
				}
				sw.buf.complete()
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

// runOnConn serves a hijacked connection that offers no raw descriptor (a listener wrapper
// that does not forward SyscallConn): the stream keeps a goroutine, writes block with
// WriteTimeout, and a reader goroutine notices the client going away.
func (h *Handler) runOnConn(conn net.Conn, sub *subscriber, stream *resolve.Stream, format streamFormat) {
	ctx, cancel := context.WithCancel(context.Background())
	readerDone := make(chan struct{})
	go func() {
		defer close(readerDone)
		_, _ = io.Copy(io.Discard, conn)
		cancel()
	}()
	out := func(b []byte) error {
		_ = conn.SetWriteDeadline(time.Now().Add(h.writeTimeout))
		_, err := conn.Write(b)
		return err
	}
	h.run(ctx, sub, stream, &streamWriter{buf: frameBuffer{format: format}, out: out})
	stream.Close()
	_ = conn.Close()
	<-readerDone
	cancel()
}

// register adds s to the open streams, false once the handler shuts down. With hijack, s
// gets a writer shard (s.sh) unless no writer pool can be started; Shutdown then waits for
// s until finishHijacked.
func (h *Handler) register(s *subscriber, hijack bool) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	if hijack {
		if h.pool == nil {
			p, err := newPool(h)
			if err != nil {
				// serve this stream and every later one on its own goroutine
				h.log.Warn().Err(err).Msg("no writer pool: every stream keeps a goroutine")
				h.noPool.Store(true)
			} else {
				h.pool = p
			}
		}
		if h.pool != nil {
			s.sh = h.pool.pick()
			h.hijacked.Add(1)
		}
	}
	h.open[s] = struct{}{}
	return true
}

func (h *Handler) unregister(s *subscriber) {
	h.mu.Lock()
	delete(h.open, s)
	h.mu.Unlock()
}
