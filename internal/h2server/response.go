package h2server

import (
	"errors"
	"net/http"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgate/edgate/internal/netwriter"
)

// maxBuffered is how much a handler may write before Write waits for the connection to
// take it.
const maxBuffered = 64 << 10

// errStreamGone is what a handler's Write returns once its stream was reset or its
// connection closed.
var errStreamGone = errors.New("http2: stream closed")

// responseHead is a response's status and headers, waiting to be encoded by the writer.
type responseHead struct {
	status int
	header http.Header
}

// responseWriter is the http.ResponseWriter of one stream. The handler's goroutine
// writes; the connection's shard takes the bytes (take).
type responseWriter struct {
	st     *stream
	header http.Header // the handler's; copied when the headers are sent
	status int         // WriteHeader's, 0 before
	sent   bool        // the headers were committed (st.hdr set)
	head   bool        // HEAD request: no body

	mu       sync.Mutex
	cond     sync.Cond
	buf      []byte
	finished bool // the handler returned
	detached bool
	err      error
	flushed  bool // the handler flushed: no content-length of its own
}

// queuedRequest waits for one of its connection's handler goroutines.
type queuedRequest struct {
	st  *stream
	req *http.Request
}

// startHandler runs the handler for req on one of at most MaxHandlers goroutines of the
// connection, in order. A client that opens a hundred streams at once (a page with many
// subscriptions) thus costs a few goroutine stacks, whose memory the process would keep
// long after the burst, instead of a hundred; streaming handlers detach and return.
func (c *conn) startHandler(st *stream, req *http.Request) {
	c.mu.Lock()
	if c.handlers >= c.srv.opts.MaxHandlers {
		c.queued = append(c.queued, queuedRequest{st, req})
		c.mu.Unlock()
		return
	}
	c.handlers++
	c.mu.Unlock()
	go c.handlerLoop(st, req)
}

func (c *conn) handlerLoop(st *stream, req *http.Request) {
	for {
		c.runHandler(st, req)
		c.mu.Lock()
		if len(c.queued) == 0 {
			c.handlers--
			c.queued = nil
			c.mu.Unlock()
			return
		}
		next := c.queued[0]
		c.queued[0] = queuedRequest{}
		c.queued = c.queued[1:]
		c.mu.Unlock()
		st, req = next.st, next.req
	}
}

func (c *conn) runHandler(st *stream, req *http.Request) {
	rw := &responseWriter{st: st, header: make(http.Header), head: req.Method == http.MethodHead}
	rw.cond.L = &rw.mu
	c.mu.Lock()
	if st.removed {
		c.mu.Unlock()
		return
	}
	st.rw = rw
	c.mu.Unlock()
	defer func() {
		if p := recover(); p != nil {
			if p != http.ErrAbortHandler {
				c.srv.log.Error().Interface("panic", p).Str("path", req.URL.Path).Msg("http2 handler panicked")
			}
			c.resetStream(st.id, http2.ErrCodeInternal)
			return
		}
		rw.finish()
	}()
	c.handler.ServeHTTP(rw, req)
}

func (rw *responseWriter) Header() http.Header { return rw.header }

func (rw *responseWriter) WriteHeader(code int) {
	if rw.status != 0 || code < 200 { // informational responses are not sent
		return
	}
	rw.status = code
}

func (rw *responseWriter) Write(p []byte) (int, error) {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	if !rw.sent && rw.header.Get("Content-Type") == "" && len(p) > 0 && !rw.head {
		rw.header.Set("Content-Type", http.DetectContentType(p))
	}
	if rw.head {
		return len(p), nil
	}
	rw.mu.Lock()
	for len(rw.buf) >= maxBuffered && rw.err == nil {
		rw.mu.Unlock()
		rw.commit(true) // lock order: conn.mu before rw.mu
		rw.mu.Lock()
		if len(rw.buf) >= maxBuffered && rw.err == nil {
			rw.cond.Wait()
		}
	}
	if rw.err != nil {
		err := rw.err
		rw.mu.Unlock()
		return 0, err
	}
	rw.buf = append(rw.buf, p...)
	wake := len(rw.buf) >= maxBuffered/4
	rw.mu.Unlock()
	if wake {
		rw.commit(true)
	}
	return len(p), nil
}

// Flush sends what was written.
func (rw *responseWriter) Flush() { _ = rw.FlushError() }

// FlushError sends what was written, or reports that the stream is gone.
func (rw *responseWriter) FlushError() error {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	rw.mu.Lock()
	rw.flushed = true
	err := rw.err
	rw.mu.Unlock()
	if err != nil {
		return err
	}
	rw.commit(true)
	return nil
}

// SetWriteDeadline is not supported: the writer's own WriteTimeout applies to the whole
// connection.
func (rw *responseWriter) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }

// SetReadDeadline bounds the handler's reads of the request body (http.ResponseController):
// past t, Read fails with os.ErrDeadlineExceeded, so that a client trickling its body
// cannot hold the handler; the zero t clears it. Other streams of the connection are not
// affected.
func (rw *responseWriter) SetReadDeadline(t time.Time) error {
	c := rw.st.c
	c.mu.Lock()
	body := rw.st.reqBody
	c.mu.Unlock()
	if body != nil {
		body.setDeadline(t)
	}
	return nil
}

// Detach hands the rest of the response body to body: the handler returns and the
// connection's shard asks body for bytes whenever the returned Waker is woken. Headers
// are committed first. nil when the stream is gone.
func (rw *responseWriter) Detach(body netwriter.Body) netwriter.Waker {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	rw.mu.Lock()
	rw.flushed = true
	rw.detached = true
	rw.mu.Unlock()
	rw.commit(false)
	st := rw.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.removed || c.dead {
		return nil
	}
	st.body = body
	c.tickDue = 0 // the new body is asked when it wants its first Tick
	c.readyLocked(st)
	return st
}

// commit sends the headers (once) and, with wake, asks the writer for the buffered bytes.
func (rw *responseWriter) commit(wake bool) {
	st := rw.st
	c := st.c
	c.mu.Lock()
	if !rw.sent {
		rw.sent = true
		rw.mu.Lock()
		finished, flushed, n := rw.finished, rw.flushed, len(rw.buf)
		rw.mu.Unlock()
		h := rw.header.Clone()
		if h == nil {
			h = http.Header{}
		}
		if finished && !flushed && h.Get("Content-Length") == "" && !rw.head && bodyAllowed(rw.status) {
			h.Set("Content-Length", strconv.Itoa(n))
		}
		if h.Get("Date") == "" {
			h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
		}
		st.hdr = &responseHead{status: rw.status, header: h}
		wake = true
	}
	if wake && !st.removed {
		c.readyLocked(st)
		c.mu.Unlock()
		c.wc.Wake()
		return
	}
	c.mu.Unlock()
}

// finish runs when the handler returned.
func (rw *responseWriter) finish() {
	if rw.status == 0 {
		rw.status = http.StatusOK
	}
	rw.mu.Lock()
	rw.finished = true
	rw.mu.Unlock()
	st := rw.st
	c := st.c
	// As with net/http, the request's context ends with its handler (a detached body
	// runs on its own) and so does the request body; an idle detached stream keeps
	// neither.
	c.mu.Lock()
	if st.cancel != nil {
		st.cancel()
		st.cancel = nil
	}
	body := st.reqBody
	c.mu.Unlock()
	if body != nil {
		_ = body.Close()
		c.mu.Lock()
		if st.remoteDone {
			st.reqBody = nil
		}
		c.mu.Unlock()
	}
	rw.commit(true)
}

// take moves the buffered bytes to dst for the writer; done once the handler returned
// and everything was taken (a detached response continues with its body).
func (rw *responseWriter) take(dst []byte) (out []byte, done, detached bool) {
	rw.mu.Lock()
	defer rw.mu.Unlock()
	out = append(dst, rw.buf...)
	if cap(rw.buf) > maxBuffered {
		rw.buf = nil
	} else {
		rw.buf = rw.buf[:0]
	}
	rw.cond.Broadcast()
	return out, rw.finished, rw.detached
}

// abort fails the handler's writes: its stream is gone.
func (rw *responseWriter) abort(err error) {
	rw.mu.Lock()
	if rw.err == nil {
		rw.err = errStreamGone
	}
	rw.buf = nil
	rw.cond.Broadcast()
	rw.mu.Unlock()
}

func bodyAllowed(status int) bool {
	return status != http.StatusNoContent && status != http.StatusNotModified && status >= 200
}
