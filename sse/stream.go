package sse

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/edgate/edgate/resolve"
)

// subscriber is one open streaming request. Its handler goroutine (the net/http one) is
// the only goroutine serving it: it sleeps on wake, the heartbeat timer and the request
// context, so an idle subscription costs a goroutine, a channel and a timer.
type subscriber struct {
	wake     chan struct{} // capacity 1: any number of wake-ups collapse into one
	shutdown atomic.Bool
}

func newSubscriber() *subscriber { return &subscriber{wake: make(chan struct{}, 1)} }

// wakeUp never blocks: the hub calls it from its delivery path.
func (s *subscriber) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// streamWriter writes frames to one streaming response.
type streamWriter struct {
	w            http.ResponseWriter
	rc           *http.ResponseController
	buf          frameBuffer
	writeTimeout time.Duration
	noDeadline   bool // the ResponseWriter cannot set deadlines: stop asking
}

// startStream writes and flushes the response headers of a stream at once, so that the
// client (and any proxy) sees the stream open before the first event.
func (h *Handler) startStream(w http.ResponseWriter, r *http.Request, format streamFormat) *streamWriter {
	hd := w.Header()
	switch format {
	case formatSSE:
		hd.Set("Content-Type", mediaEventStream)
	case formatMultipart:
		hd.Set("Content-Type", multipartContentType)
	}
	hd.Set("Cache-Control", "no-cache")
	if r.ProtoMajor == 1 {
		// connection-specific headers are forbidden in HTTP/2
		hd.Set("Connection", "keep-alive")
	}
	// nginx buffers responses unless told otherwise
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), buf: frameBuffer{format: format}, writeTimeout: h.writeTimeout}
	_ = sw.rc.Flush()
	return sw
}

// flush writes the buffered frames with one Write and one Flush.
func (sw *streamWriter) flush() error {
	if len(sw.buf.buf) == 0 {
		return nil
	}
	// The deadline is cleared after the write: on HTTP/2 an expired deadline resets the
	// stream even while it is idle.
	if !sw.noDeadline {
		sw.noDeadline = sw.rc.SetWriteDeadline(time.Now().Add(sw.writeTimeout)) != nil
	}
	_, err := sw.w.Write(sw.buf.buf)
	if err == nil {
		err = sw.rc.Flush()
	}
	if !sw.noDeadline && err == nil {
		_ = sw.rc.SetWriteDeadline(time.Time{})
	}
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
	sub := newSubscriber()
	if !h.register(sub) {
		writeError(w, mediaJSON, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return
	}
	defer h.unregister(sub)

	ctx := r.Context()
	sw := h.startStream(w, r, format)
	stream, err := h.exec.Subscribe(ctx, op, resolve.SubscribeOptions{Wake: sub.wakeUp, LastEventID: lastEventID(r)})
	if err != nil {
		sw.buf.fatal(h.operationErrors(err, r))
		sw.buf.complete()
		_ = sw.flush()
		return
	}
	defer stream.Close()

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

func (h *Handler) register(s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.open[s] = struct{}{}
	return true
}

func (h *Handler) unregister(s *subscriber) {
	h.mu.Lock()
	delete(h.open, s)
	h.mu.Unlock()
}
