package sse

import (
	"context"
	"net/http"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/resolve"
)

// canHijack tells whether a subscription's connection goes to the writer shards: HTTP/1.1
// in cleartext on a platform with netpoll. HTTP/2 streams share their connection and TLS
// needs its record layer, so those keep a goroutine per stream.
func (h *Handler) canHijack(w http.ResponseWriter, r *http.Request) bool {
	if !netpoll.Supported || h.noPool.Load() || r.ProtoMajor != 1 || r.TLS != nil {
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

// serveHijacked opens the stream like serveSubscription, then takes the connection from
// net/http and hands it to a writer shard: the handler returns, and with it net/http's
// goroutine, its buffers and its stack.
func (h *Handler) serveHijacked(w http.ResponseWriter, r *http.Request, op *resolve.Operation, format streamFormat) {
	sub := newSubscriber()
	if !h.register(sub, true) {
		writeError(w, mediaJSON, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return
	}
	if sub.sh == nil { // no writer pool: a goroutine per stream after all
		defer h.unregister(sub)
		sw := h.startStream(w, r, format, false)
		stream, err := h.exec.Subscribe(r.Context(), op, resolve.SubscribeOptions{Wake: sub.wakeUp, LastEventID: lastEventID(r)})
		if err != nil {
			sw.buf.fatal(h.operationErrors(err, r))
			sw.buf.complete()
			_ = sw.flush()
			return
		}
		defer stream.Close()
		h.run(r.Context(), sub, stream, sw)
		return
	}

	sw := h.startStream(w, r, format, true)
	// The request context ends when this handler returns, long before the stream does.
	stream, err := h.exec.Subscribe(context.WithoutCancel(r.Context()), op, resolve.SubscribeOptions{Wake: sub.wakeUp, LastEventID: lastEventID(r)})
	if err != nil {
		sw.buf.fatal(h.operationErrors(err, r))
		sw.buf.complete()
		_ = sw.flush()
		h.finishHijacked(sub)
		return
	}
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		// The response is close-delimited either way: net/http can carry it.
		h.log.Debug().Err(err).Msg("hijacking a stream's connection failed: it keeps its goroutine")
		h.run(r.Context(), sub, stream, sw)
		stream.Close()
		h.finishHijacked(sub)
		return
	}
	rc, err := netpoll.RawConn(conn)
	if err != nil {
		h.log.Debug().Err(err).Msg("stream connection has no raw descriptor: it keeps its goroutine")
		h.runOnConn(conn, sub, stream, format)
		h.finishHijacked(sub)
		return
	}
	sub.conn, sub.rc, sub.stream, sub.format = conn, rc, stream, format
	sub.sh.attach(sub)
}

// finishHijacked forgets a stream registered for hijacking; Shutdown waits for this.
func (h *Handler) finishHijacked(s *subscriber) {
	h.unregister(s)
	h.hijacked.Done()
}
