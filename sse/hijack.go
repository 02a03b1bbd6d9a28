package sse

import (
	"context"
	"net/http"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// detacher is a ResponseWriter whose response body can be handed to a writer shard, so
// that the handler returns and the stream costs no goroutine: the responses of edgate's
// own HTTP/2 server (internal/h2server). Detach returns nil when the stream is gone
// already (the client reset it, the connection closed); body.Closed is not called then.
type detacher interface {
	Detach(body netwriter.Body) netwriter.Waker
}

func detacherOf(w http.ResponseWriter) (detacher, bool) {
	for {
		switch x := w.(type) {
		case detacher:
			return x, true
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return nil, false
		}
	}
}

// canHijack tells whether a subscription's connection goes to the writer shards: HTTP/1.1
// in cleartext on a platform with netpoll. TLS needs its record layer, and net/http's
// HTTP/2 streams share their connection, so those keep a goroutine per stream.
func (h *Handler) canHijack(w http.ResponseWriter, r *http.Request) bool {
	if !netpoll.Supported || r.ProtoMajor != 1 || r.TLS != nil {
		return false
	}
	for {
		switch x := w.(type) {
		case http.Hijacker:
			return true
		case interface{ Unwrap() http.ResponseWriter }:
			w = x.Unwrap()
		default:
			return false
		}
	}
}

// serveHijacked opens the stream, then takes the connection from net/http and hands it to
// a writer shard: the handler returns, and with it net/http's goroutine, its buffers and
// its stack.
func (h *Handler) serveHijacked(w http.ResponseWriter, r *http.Request, op *resolve.Operation, format streamFormat) {
	sub, stream := h.openServed(w, r, op, format, true)
	if sub == nil {
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// The response is close-delimited: the client sees it end and reconnects.
		withRequestID(h.log.Warn(), sub.reqID).Err(err).Msg("hijacking a stream's connection failed: ending the stream")
		stream.Close()
		h.finishServed(sub)
		return
	}
	p := h.pool()
	sub.lastOut = netwriter.Now()
	waker, err := p.AttachBody(conn, sub)
	if err != nil {
		_ = conn.Close()
		stream.Close()
		h.finishServed(sub)
		return
	}
	sub.attach(waker)
}

// serveDetached opens the stream on an HTTP/2 response and hands its body to a writer
// shard of the HTTP/2 connection; the handler returns.
func (h *Handler) serveDetached(w http.ResponseWriter, d detacher, r *http.Request, op *resolve.Operation, format streamFormat) {
	sub, stream := h.openServed(w, r, op, format, false)
	if sub == nil {
		return
	}
	sub.lastOut = netwriter.Now()
	waker := d.Detach(sub)
	if waker == nil {
		stream.Close()
		h.finishServed(sub)
		return
	}
	sub.attach(waker)
}

// openServed starts a stream that a writer shard will serve (hijacked, or detached from
// an HTTP/2 response): it registers it, writes the response head and subscribes. On
// failure it has answered the client and returns nil.
func (h *Handler) openServed(w http.ResponseWriter, r *http.Request, op *resolve.Operation, format streamFormat, closeDelimited bool) (*subscriber, *resolve.Stream) {
	sub := &subscriber{h: h, format: format, reqID: telemetry.RequestID(r.Context())}
	if !h.registerServed(sub) {
		writeError(w, mediaJSON, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return nil, nil
	}
	sw := h.startStream(w, r, format, closeDelimited, true)
	// The request context ends when the handler returns, long before the stream does.
	stream, err := h.exec.Subscribe(context.WithoutCancel(r.Context()), op, resolve.SubscribeOptions{Waker: sub, LastEventID: lastEventID(r)})
	if err != nil {
		sw.buf.fatal(h.operationErrors(err, r))
		sw.buf.complete()
		_ = sw.flush()
		h.finishServed(sub)
		return nil, nil
	}
	sub.stream = stream
	return sub, stream
}

// registerServed registers a stream that a writer shard will serve; Shutdown waits for
// it until finishServed.
func (h *Handler) registerServed(s *subscriber) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed.Load() {
		return false
	}
	h.served.Add(1)
	h.linkLocked(s)
	return true
}

// finishServed forgets a stream registered with registerServed.
func (h *Handler) finishServed(s *subscriber) {
	h.unregister(s)
	h.served.Done()
}
