package h2server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgate/edgate/internal/netwriter"
)

// stream is one request/response exchange. Fields are guarded by conn.mu unless noted.
type stream struct {
	c          *conn
	id         uint32
	sendWindow int64
	recvWindow int64 // what the client may still send on this stream

	remoteDone bool // END_STREAM received
	endSent    bool
	removed    bool
	inReady    bool
	woken      atomic.Bool // on conn.woken (stream.Wake)

	cancel   context.CancelFunc // the handler's context; nil once the handler returned
	reqBody  *requestBody
	declared int64 // content-length of the request, -1 when none
	received int64

	hdr *responseHead   // response headers to send
	rw  *responseWriter // the handler's writer, until its bytes are drained

	body      netwriter.Body // detached body
	bodyWoken bool
	bodyDone  bool
	finished  bool   // no bytes will follow out
	out       []byte // body bytes waiting for window
}

// Wake implements netwriter.Waker for a detached body: it has something new.
func (st *stream) Wake() {
	if !st.woken.CompareAndSwap(false, true) {
		return
	}
	c := st.c
	c.wakeMu.Lock()
	first := len(c.woken) == 0
	c.woken = append(c.woken, st)
	c.wakeMu.Unlock()
	// The wake that made the list non-empty queues the connection, and its Fill takes
	// the whole list: one event to a connection's 100 streams is one Fill and one write,
	// not 100 wake-ups of the connection racing the shard.
	if first {
		c.wc.Wake()
	}
}

func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return protocolError("HEADERS on even stream %d", id)
	}
	c.mu.Lock()
	if st := c.streams[id]; st != nil {
		// trailers
		if st.remoteDone {
			body := c.resetLocked(st, http2.ErrCodeStreamClosed)
			c.mu.Unlock()
			tellClosed(body, errStreamReset)
			c.wc.Wake()
			return nil
		}
		if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
			body := c.resetLocked(st, http2.ErrCodeProtocol)
			c.mu.Unlock()
			tellClosed(body, errStreamReset)
			c.wc.Wake()
			return nil
		}
		c.endRemoteLocked(st)
		c.mu.Unlock()
		return nil
	}
	if id <= c.maxClientID {
		known, reset := c.closedState(id)
		c.mu.Unlock()
		switch {
		case known && reset:
			c.resetStream(id, http2.ErrCodeStreamClosed)
			return nil
		case known:
			return connErr{http2.ErrCodeStreamClosed, fmt.Sprintf("HEADERS on closed stream %d", id)}
		}
		return protocolError("HEADERS opening stream %d after stream %d", id, c.maxClientID)
	}
	c.maxClientID = id
	if c.goingAway {
		c.mu.Unlock()
		return nil // above the GOAWAY's last stream: not processed
	}
	if f.HasPriority() && f.Priority.StreamDep == id {
		c.mu.Unlock()
		c.resetStream(id, http2.ErrCodeProtocol)
		return nil
	}
	if uint32(len(c.streams)) >= c.srv.opts.MaxConcurrentStreams {
		c.mu.Unlock()
		c.resetStream(id, http2.ErrCodeRefusedStream)
		return nil
	}
	st := &stream{c: c, id: id, sendWindow: c.peer.initialWindow, recvWindow: int64(c.srv.opts.StreamWindow), declared: -1}
	c.streams[id] = st
	c.mu.Unlock()

	if f.Truncated {
		c.respondStatus(st, http.StatusRequestHeaderFieldsTooLarge)
		return nil
	}
	req, err := c.newRequest(st, f)
	if err != nil {
		c.srv.log.Debug().Err(err).Uint32("stream", id).Msg("malformed http2 request")
		c.resetStream(id, http2.ErrCodeProtocol)
		return nil
	}
	c.startHandler(st, req)
	return nil
}

func tellClosed(b netwriter.Body, err error) {
	if b != nil {
		b.Closed(err)
	}
}

// respondStatus answers st with an empty response of status code.
func (c *conn) respondStatus(st *stream, code int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.removed {
		return
	}
	st.hdr = &responseHead{status: code, header: http.Header{"Content-Length": {"0"}}}
	st.rw = &responseWriter{st: st, finished: true}
	c.readyLocked(st)
	c.wc.Wake()
}

// newRequest builds the http.Request of st from its HEADERS (RFC 9113 8.3.1).
func (c *conn) newRequest(st *stream, f *http2.MetaHeadersFrame) (*http.Request, error) {
	method, scheme, path, authority := f.PseudoValue("method"), f.PseudoValue("scheme"), f.PseudoValue("path"), f.PseudoValue("authority")
	if f.PseudoValue("protocol") != "" {
		return nil, errors.New(":protocol without SETTINGS_ENABLE_CONNECT_PROTOCOL")
	}
	if method == "" {
		return nil, errors.New("no :method")
	}
	if method == http.MethodConnect {
		if scheme != "" || path != "" || authority == "" {
			return nil, errors.New("malformed CONNECT")
		}
	} else if scheme == "" || path == "" {
		return nil, errors.New("no :scheme or :path")
	}
	header := make(http.Header, len(f.Fields))
	var cookies []string
	for _, hf := range f.RegularFields() {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return nil, fmt.Errorf("connection-specific header %q", hf.Name)
		case "te":
			if hf.Value != "trailers" {
				return nil, errors.New("TE other than trailers")
			}
		case "cookie":
			cookies = append(cookies, hf.Value)
			continue
		}
		key := http.CanonicalHeaderKey(hf.Name)
		header[key] = append(header[key], hf.Value)
	}
	if len(cookies) > 0 {
		header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	if authority == "" {
		authority = header.Get("Host")
	}
	contentLength := int64(-1)
	if vs := header["Content-Length"]; len(vs) > 0 {
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil || n < 0 || len(vs) > 1 {
			return nil, errors.New("malformed content-length")
		}
		contentLength = n
	}
	var u *url.URL
	var err error
	if method == http.MethodConnect {
		u = &url.URL{Host: authority}
		path = authority
	} else if u, err = url.ParseRequestURI(path); err != nil {
		return nil, fmt.Errorf("malformed :path: %w", err)
	}

	ctx, cancel := context.WithCancel(c.base)
	req := &http.Request{
		Method: method, URL: u, Proto: "HTTP/2.0", ProtoMajor: 2, Header: header, Host: authority,
		RequestURI: path, RemoteAddr: c.remote, TLS: c.tls,
	}
	c.mu.Lock()
	st.cancel = cancel
	st.declared = contentLength
	if f.StreamEnded() {
		st.remoteDone = true
		if contentLength > 0 {
			c.mu.Unlock()
			cancel()
			return nil, errors.New("content-length with no body")
		}
		req.ContentLength = 0
		req.Body = http.NoBody
	} else {
		st.reqBody = newRequestBody(st)
		req.Body = st.reqBody
		req.ContentLength = contentLength
	}
	c.mu.Unlock()
	return req.WithContext(ctx), nil
}

func (c *conn) onData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Length) // padding counts for flow control
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.recvWindow {
		return connErr{http2.ErrCodeFlowControl, "DATA beyond the connection window"}
	}
	c.recvWindow -= n
	st := c.streams[id]
	if st == nil || st.remoteDone {
		c.recvCredit += n // nobody reads it: the connection gets it back
		c.grantLocked(nil)
		if st == nil {
			if id > c.maxClientID {
				return protocolError("DATA on idle stream %d", id)
			}
			if known, reset := c.closedState(id); known && !reset {
				return connErr{http2.ErrCodeStreamClosed, fmt.Sprintf("DATA on closed stream %d", id)}
			}
			c.ctrl = appendRSTStream(c.ctrl, id, http2.ErrCodeStreamClosed)
			c.wc.Wake()
			return nil
		}
		body := c.resetLocked(st, http2.ErrCodeStreamClosed)
		c.wc.Wake()
		if body != nil {
			go body.Closed(errStreamReset)
		}
		return nil
	}
	if n > st.recvWindow {
		body := c.resetLocked(st, http2.ErrCodeFlowControl)
		c.wc.Wake()
		if body != nil {
			go body.Closed(errStreamReset)
		}
		return nil
	}
	st.recvWindow -= n
	data := f.Data()
	if pad := n - int64(len(data)); pad > 0 {
		c.recvCredit += pad
		st.recvWindow += pad
	}
	st.received += int64(len(data))
	if st.declared >= 0 && st.received > st.declared {
		body := c.resetLocked(st, http2.ErrCodeProtocol)
		c.wc.Wake()
		if body != nil {
			go body.Closed(errStreamReset)
		}
		return nil
	}
	if st.reqBody != nil && len(data) > 0 {
		if !st.reqBody.write(data) {
			c.recvCredit += int64(len(data)) // the handler closed its body: discard
		}
	}
	if f.StreamEnded() {
		c.endRemoteLocked(st)
	}
	c.grantLocked(nil)
	return nil
}

// endRemoteLocked handles the client's END_STREAM.
func (c *conn) endRemoteLocked(st *stream) {
	st.remoteDone = true
	if st.declared >= 0 && st.received != st.declared {
		body := c.resetLocked(st, http2.ErrCodeProtocol)
		c.wc.Wake()
		if body != nil {
			go body.Closed(errStreamReset)
		}
		return
	}
	if st.reqBody != nil {
		st.reqBody.end()
	}
	if st.endSent {
		c.removeLocked(st, false, nil)
	}
}

// grantLocked sends WINDOW_UPDATE for bytes handlers consumed: for the connection once
// a quarter of its window is owed, for st (if any) once a quarter of the stream window.
func (c *conn) grantLocked(st *stream) {
	full := int64(c.srv.opts.ConnWindow)
	if c.recvCredit > 0 && (c.recvCredit >= full/4 || c.recvWindow < full/2) {
		c.ctrl = appendWindowUpdate(c.ctrl, 0, uint32(c.recvCredit))
		c.recvWindow += c.recvCredit
		c.recvCredit = 0
		c.wc.Wake()
	}
	if st != nil && !st.removed && !st.remoteDone {
		win := int64(c.srv.opts.StreamWindow)
		if owed := win - st.recvWindow - st.reqBody.buffered(); owed >= win/4 {
			c.ctrl = appendWindowUpdate(c.ctrl, st.id, uint32(owed))
			st.recvWindow += owed
			c.wc.Wake()
		}
	}
}

// requestBody is a request's body: what DATA frames brought, until the handler reads it.
type requestBody struct {
	st     *stream
	mu     sync.Mutex
	cond   sync.Cond
	buf    []byte
	eof    bool
	err    error
	closed bool // the handler closed it
	// Read deadline (SetReadDeadline): timedOut once it passed; gen tells a stale timer
	// of an earlier deadline from the current one.
	timer    *time.Timer
	gen      uint64
	timedOut bool
}

// setDeadline makes Read fail with os.ErrDeadlineExceeded once t has passed, as a
// net.Conn's read deadline does; the zero t clears it. The stream itself stays open: the
// handler answers (408) and closing the body discards the rest.
func (b *requestBody) setDeadline(t time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.gen++
	b.timedOut = false
	if t.IsZero() {
		return
	}
	d := time.Until(t)
	if d <= 0 {
		b.timedOut = true
		b.cond.Broadcast()
		return
	}
	gen := b.gen
	b.timer = time.AfterFunc(d, func() {
		b.mu.Lock()
		if b.gen == gen {
			b.timedOut = true
			b.cond.Broadcast()
		}
		b.mu.Unlock()
	})
}

func newRequestBody(st *stream) *requestBody {
	b := &requestBody{st: st}
	b.cond.L = &b.mu
	return b
}

func (b *requestBody) buffered() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return int64(len(b.buf))
}

// write appends data; false when the handler closed the body.
func (b *requestBody) write(data []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return false
	}
	b.buf = append(b.buf, data...)
	b.cond.Broadcast()
	return true
}

func (b *requestBody) end() {
	b.mu.Lock()
	b.eof = true
	b.cond.Broadcast()
	b.mu.Unlock()
}

// fail ends the body with err and returns how many bytes were never read.
func (b *requestBody) fail(err error) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.buf)
	b.buf = nil
	if !b.eof && b.err == nil {
		b.err = err
	}
	b.cond.Broadcast()
	return n
}

func (b *requestBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	for len(b.buf) == 0 && !b.eof && b.err == nil && !b.closed && !b.timedOut {
		b.cond.Wait()
	}
	switch {
	case b.closed:
		b.mu.Unlock()
		return 0, errors.New("http2: read on closed body")
	case b.timedOut && len(b.buf) == 0 && !b.eof:
		b.mu.Unlock()
		return 0, os.ErrDeadlineExceeded
	case len(b.buf) > 0:
		n := copy(p, b.buf)
		b.buf = b.buf[n:]
		if len(b.buf) == 0 {
			b.buf = nil
		}
		b.mu.Unlock()
		c := b.st.c
		c.mu.Lock()
		c.recvCredit += int64(n)
		c.grantLocked(b.st)
		c.mu.Unlock()
		return n, nil
	case b.err != nil:
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	b.mu.Unlock()
	return 0, io.EOF
}

func (b *requestBody) Close() error {
	b.mu.Lock()
	n := len(b.buf)
	b.buf = nil
	b.closed = true
	if b.timer != nil {
		b.timer.Stop()
		b.timer = nil
	}
	b.cond.Broadcast()
	b.mu.Unlock()
	if n > 0 {
		c := b.st.c
		c.mu.Lock()
		c.recvCredit += int64(n)
		c.grantLocked(nil)
		c.mu.Unlock()
	}
	return nil
}
