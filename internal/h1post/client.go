// Package h1post is a small HTTP/1.1 client for one job: POST a body to one plain-HTTP
// origin and read the whole answer, over a pool of keep-alive connections.
//
// The request is written and the response read on the caller's goroutine. net/http's
// transport hands each request to a write goroutine and the response back from a read
// goroutine, and its body's end back again, which costs a goroutine wake-up per hand-off:
// at a few hundred requests per second on an otherwise idle process those wake-ups, not
// the bytes, are most of a request's CPU. The entity loader (resolve/entityload.go) uses
// this client for its `_entities` requests; anything it does not handle (TLS, proxies,
// tracing) stays with net/http.
//
// What it does: Content-Length and chunked responses, responses delimited by the
// connection's close, 1xx interim responses skipped, gzip and deflate bodies decoded, a
// connection reused only after its response was read completely and the server did not
// ask to close it, one retry on a fresh connection when a reused one turns out closed
// before any byte of the answer (as net/http does), and a deadline per request: the
// earlier of the context's deadline and the client's timeout, with the context's
// cancellation ending the request at once.
package h1post

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Options configure a Client. Zero values take the defaults noted.
type Options struct {
	// Timeout bounds a request from dial to the body's last byte when the context has no
	// earlier deadline; default 30 s.
	Timeout time.Duration
	// IdleTimeout closes a pooled connection unused this long (checked when the pool is
	// used: the client has no goroutine); default 90 s.
	IdleTimeout time.Duration
	// MaxIdle bounds the pooled connections; default 64.
	MaxIdle int
	// Dial opens a connection; default a net.Dialer with a 10 s timeout and 30 s TCP
	// keep-alive, as the gateway's default transport.
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// MaxBody bounds a response body (decoded); default 64 MiB.
	MaxBody int
}

// Client posts to the origin of one http:// URL. Safe for concurrent use.
type Client struct {
	addr, host string
	opts       Options

	mu     sync.Mutex
	idle   []*conn // most recently used last
	closed bool
}

// ErrBodyTooLarge is returned for a response body over Options.MaxBody.
var ErrBodyTooLarge = errors.New("h1post: response body too large")

// New returns a client for rawURL's origin; the URL must be http:// without user info
// (TLS and proxies are net/http's).
func New(rawURL string, opts Options) (*Client, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("h1post: %w", err)
	}
	if u.Scheme != "http" || u.User != nil || u.Host == "" {
		return nil, fmt.Errorf("h1post: %q: only http:// URLs without user info", rawURL)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 90 * time.Second
	}
	if opts.MaxIdle <= 0 {
		opts.MaxIdle = 64
	}
	if opts.MaxBody <= 0 {
		opts.MaxBody = 64 << 20
	}
	if opts.Dial == nil {
		opts.Dial = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	}
	return &Client{addr: addr, host: u.Host, opts: opts}, nil
}

// Close closes the pooled connections; connections of requests in flight close when
// their request ends. Later requests fail.
func (c *Client) Close() {
	c.mu.Lock()
	idle := c.idle
	c.idle, c.closed = nil, true
	c.mu.Unlock()
	for _, cn := range idle {
		cn.nc.Close()
	}
}

// Request is one POST. Header lines are written in order: Host, Header (canonical keys
// as given), User-Agent unless Header has one, Content-Length.
type Request struct {
	// Target is the request target, a path with an optional query ("/graphql").
	Target string
	Header http.Header
	Body   []byte
}

// Response is a read answer: its status and the whole (decoded) body.
type Response struct {
	Status int
	Header http.Header // only Content-Type and Content-Encoding are kept
	Body   []byte
}

// Post sends req and reads the whole answer. An error is returned for a failed request
// or an unreadable answer, never for a status code.
func (c *Client) Post(ctx context.Context, req *Request) (*Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	deadline := time.Now().Add(c.opts.Timeout)
	ctxDeadline := false
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline, ctxDeadline = d, true
	}
	for attempt := 0; ; attempt++ {
		// the retry dials: the other pooled connections may have been closed too
		cn, reused, err := c.get(ctx, deadline, attempt > 0)
		if err != nil {
			return nil, c.wrap(ctx, ctxDeadline, err)
		}
		resp, retry, err := c.roundTrip(ctx, cn, req, deadline)
		if err == nil {
			return resp, nil
		}
		// A pooled connection the server closed while it idled fails before any byte
		// of the answer; the request never reached a handler, so it goes once more on
		// a new connection.
		if retry && reused && attempt == 0 && ctx.Err() == nil {
			continue
		}
		return nil, c.wrap(ctx, ctxDeadline, err)
	}
}

// wrap names the request in err, and reports the context's end as such: its deadline may
// end a read a moment before the context says so.
func (c *Client) wrap(ctx context.Context, ctxDeadline bool, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return fmt.Errorf("h1post: POST %s: %w", c.host, cerr)
	}
	if ctxDeadline && errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("h1post: POST %s: %w", c.host, context.DeadlineExceeded)
	}
	return fmt.Errorf("h1post: POST %s: %w", c.host, err)
}

type conn struct {
	nc   net.Conn
	br   *bufio.Reader
	wbuf []byte
	used time.Time // when it went back to the pool
}

// get returns a pooled connection (reused true) or, with dial or none pooled, a new one.
func (c *Client) get(ctx context.Context, deadline time.Time, dial bool) (*conn, bool, error) {
	now := time.Now()
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, false, errors.New("client closed")
	}
	var stale []*conn
	var cn *conn
	for len(c.idle) > 0 && !dial {
		last := c.idle[len(c.idle)-1]
		c.idle = c.idle[:len(c.idle)-1]
		if now.Sub(last.used) > c.opts.IdleTimeout {
			stale = append(stale, last)
			continue
		}
		cn = last
		break
	}
	// the oldest idle connections expire first, at the bottom of the stack
	for len(c.idle) > 0 && now.Sub(c.idle[0].used) > c.opts.IdleTimeout {
		stale = append(stale, c.idle[0])
		c.idle = c.idle[1:]
	}
	c.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	if cn != nil {
		return cn, true, nil
	}
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	nc, err := c.opts.Dial(dctx, "tcp", c.addr)
	if err != nil {
		return nil, false, err
	}
	return &conn{nc: nc, br: bufio.NewReaderSize(nc, 4096)}, false, nil
}

// put pools cn, or closes it when the pool is full or closed.
func (c *Client) put(cn *conn) {
	cn.used = time.Now()
	c.mu.Lock()
	if c.closed || len(c.idle) >= c.opts.MaxIdle {
		c.mu.Unlock()
		cn.nc.Close()
		return
	}
	c.idle = append(c.idle, cn)
	c.mu.Unlock()
}

// aLongTimeAgo is a deadline in the past: it makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes req on cn and reads the answer. retry reports that the request failed
// before any byte of an answer arrived because the connection was closed. cn goes back to
// the pool or is closed.
func (c *Client) roundTrip(ctx context.Context, cn *conn, req *Request, deadline time.Time) (resp *Response, retry bool, err error) {
	if err := cn.nc.SetDeadline(deadline); err != nil {
		cn.nc.Close()
		return nil, true, err
	}
	stop := func() bool { return true }
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, func() { cn.nc.SetDeadline(aLongTimeAgo) })
	}
	keep := false
	defer func() {
		// the context's cancellation may have moved the deadline: such a connection
		// is not reused
		if !stop() || !keep {
			cn.nc.Close()
			return
		}
		c.put(cn)
	}()

	cn.wbuf, err = c.appendRequest(cn.wbuf[:0], req)
	if err != nil {
		// the connection carried nothing and may serve the next request
		keep = true
		return nil, false, err
	}
	if len(cn.wbuf) <= 64<<10 {
		cn.wbuf = append(cn.wbuf, req.Body...)
		_, err = cn.nc.Write(cn.wbuf)
	} else {
		bufs := net.Buffers{cn.wbuf, req.Body}
		_, err = bufs.WriteTo(cn.nc)
	}
	if cap(cn.wbuf) > 64<<10 {
		cn.wbuf = nil // a large request does not stay with the pooled connection
	}
	if err != nil {
		return nil, closedByPeer(err), err
	}
	resp, keep, err = c.readResponse(cn.br)
	if err != nil {
		var pe *partialError
		if errors.As(err, &pe) {
			return nil, false, pe.err
		}
		return nil, closedByPeer(err), err
	}
	if keep && cn.br.Buffered() > 0 {
		keep = false // bytes nobody asked for: the connection's framing is not trusted
	}
	return resp, false, nil
}

// closedByPeer reports errors of a connection the server closed.
func closedByPeer(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// partialError marks a failure after the answer began: never retried.
type partialError struct{ err error }

func (e *partialError) Error() string { return e.err.Error() }

// appendRequest appends req's head, or fails for a header that would break its framing,
// as net/http does.
func (c *Client) appendRequest(b []byte, req *Request) ([]byte, error) {
	target := req.Target
	if target == "" {
		target = "/"
	}
	b = append(b, "POST "...)
	b = append(b, target...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, c.host...)
	b = append(b, "\r\n"...)
	ua := false
	for k, vs := range req.Header {
		if err := validHeader(k, vs); err != nil {
			return b, err
		}
		switch http.CanonicalHeaderKey(k) {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer", "Te", "Upgrade":
			continue // this client's framing, not the caller's
		case "User-Agent":
			ua = true
		}
		for _, v := range vs {
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if !ua {
		b = append(b, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	b = append(b, "Content-Length: "...)
	b = strconv.AppendInt(b, int64(len(req.Body)), 10)
	return append(b, "\r\n\r\n"...), nil
}

func validHeader(k string, vs []string) error {
	if k == "" {
		return errors.New("empty header name")
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return fmt.Errorf("invalid header name %q", k)
		}
	}
	for _, v := range vs {
		for i := 0; i < len(v); i++ {
			if c := v[i]; c == '\r' || c == '\n' || c == 0 {
				return fmt.Errorf("invalid value for header %q", k)
			}
		}
	}
	return nil
}

// readResponse reads one final response; keep reports whether the connection may carry
// another request. An error after the status line is a *partialError.
func (c *Client) readResponse(br *bufio.Reader) (*Response, bool, error) {
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, false, err
		}
		resp, keep, err := c.readAfterStatus(br, line)
		if err != nil {
			return nil, false, &partialError{err}
		}
		if resp != nil {
			return resp, keep, nil
		}
		// 1xx: an interim response; the final one follows
	}
}

// readAfterStatus reads the headers and body after status line line; nil, nil for an
// interim (1xx) response.
func (c *Client) readAfterStatus(br *bufio.Reader, line []byte) (*Response, bool, error) {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return nil, false, fmt.Errorf("malformed status line %q", trim(line))
	}
	http10 := line[7] == '0'
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil || status < 100 || status > 999 || (len(line) > 12 && line[12] != ' ') {
		return nil, false, fmt.Errorf("malformed status line %q", trim(line))
	}
	var (
		length   int64 = -1
		chunked  bool
		closeReq = http10
		encoding string
		ctype    string
	)
	for {
		h, err := readLine(br)
		if err != nil {
			return nil, false, err
		}
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon <= 0 {
			return nil, false, fmt.Errorf("malformed header line %q", trim(h))
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			n, err := strconv.ParseInt(string(value), 10, 64)
			if err != nil || n < 0 || (length >= 0 && n != length) {
				return nil, false, fmt.Errorf("invalid Content-Length %q", value)
			}
			length = n
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			if !bytes.EqualFold(value, []byte("chunked")) {
				return nil, false, fmt.Errorf("unsupported Transfer-Encoding %q", value)
			}
			chunked = true
		case bytes.EqualFold(name, []byte("Connection")):
			for _, tok := range bytes.Split(value, []byte(",")) {
				tok = bytes.TrimSpace(tok)
				if bytes.EqualFold(tok, []byte("close")) {
					closeReq = true
				} else if http10 && bytes.EqualFold(tok, []byte("keep-alive")) {
					closeReq = false
				}
			}
		case bytes.EqualFold(name, []byte("Content-Encoding")):
			encoding = string(value)
		case bytes.EqualFold(name, []byte("Content-Type")):
			ctype = string(value)
		}
	}
	if status >= 100 && status < 200 {
		if status == 101 {
			return nil, false, errors.New("unexpected 101 Switching Protocols")
		}
		return nil, false, nil
	}
	resp := &Response{Status: status}
	if ctype != "" || encoding != "" {
		resp.Header = make(http.Header, 2)
		if ctype != "" {
			resp.Header.Set("Content-Type", ctype)
		}
		if encoding != "" {
			resp.Header.Set("Content-Encoding", encoding)
		}
	}
	keep := !closeReq
	switch {
	case status == 204 || status == 304:
		// no body, whatever the headers say
	case chunked:
		// Transfer-Encoding wins over Content-Length (RFC 9112 6.3)
		if resp.Body, err = c.readChunked(br); err != nil {
			return nil, false, err
		}
	case length >= 0:
		if length > int64(c.opts.MaxBody) {
			return nil, false, ErrBodyTooLarge
		}
		resp.Body = make([]byte, length)
		if _, err := io.ReadFull(br, resp.Body); err != nil {
			return nil, false, fmt.Errorf("reading body: %w", err)
		}
	default:
		// delimited by the connection's end
		keep = false
		b, err := io.ReadAll(io.LimitReader(br, int64(c.opts.MaxBody)+1))
		if err != nil {
			return nil, false, fmt.Errorf("reading body: %w", err)
		}
		if len(b) > c.opts.MaxBody {
			return nil, false, ErrBodyTooLarge
		}
		resp.Body = b
	}
	if encoding != "" && len(resp.Body) > 0 {
		if resp.Body, err = c.decode(encoding, resp.Body); err != nil {
			return nil, false, err
		}
	}
	return resp, keep, nil
}

func (c *Client) readChunked(br *bufio.Reader) ([]byte, error) {
	var body []byte
	for {
		line, err := readLine(br)
		if err != nil {
			return nil, fmt.Errorf("reading chunk size: %w", err)
		}
		if i := bytes.IndexByte(line, ';'); i >= 0 {
			line = line[:i] // chunk extensions
		}
		size, err := strconv.ParseUint(string(bytes.TrimSpace(line)), 16, 63)
		if err != nil {
			return nil, fmt.Errorf("invalid chunk size %q", trim(line))
		}
		if size == 0 {
			for { // trailers, ignored
				t, err := readLine(br)
				if err != nil {
					return nil, fmt.Errorf("reading trailers: %w", err)
				}
				if len(t) == 0 {
					return body, nil
				}
			}
		}
		if uint64(len(body))+size > uint64(c.opts.MaxBody) {
			return nil, ErrBodyTooLarge
		}
		start := len(body)
		body = slices.Grow(body, int(size))[:start+int(size)]
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return nil, fmt.Errorf("reading chunk: %w", err)
		}
		crlf, err := readLine(br)
		if err != nil || len(crlf) != 0 {
			return nil, fmt.Errorf("chunk not followed by CRLF")
		}
	}
}

func (c *Client) decode(encoding string, body []byte) ([]byte, error) {
	var r io.ReadCloser
	switch {
	case equalFold(encoding, "gzip"):
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("gzip body: %w", err)
		}
		r = zr
	case equalFold(encoding, "deflate"):
		r = flate.NewReader(bytes.NewReader(body))
	case equalFold(encoding, "identity"):
		return body, nil
	default:
		return nil, fmt.Errorf("unsupported Content-Encoding %q", encoding)
	}
	defer r.Close()
	out, err := io.ReadAll(io.LimitReader(r, int64(c.opts.MaxBody)+1))
	if err != nil {
		return nil, fmt.Errorf("%s body: %w", encoding, err)
	}
	if len(out) > c.opts.MaxBody {
		return nil, ErrBodyTooLarge
	}
	return out, nil
}

func equalFold(a, b string) bool { return bytes.EqualFold([]byte(a), []byte(b)) }

// maxLine bounds a status, header or chunk-size line.
const maxLine = 64 << 10

// readLine returns the next line without its CRLF (or LF); the slice is valid until
// the next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		// longer than the buffer: gather it
		long := append([]byte(nil), line...)
		for err == bufio.ErrBufferFull {
			line, err = br.ReadSlice('\n')
			long = append(long, line...)
			if len(long) > maxLine {
				return nil, errors.New("header line too long")
			}
		}
		line = long
	}
	if err != nil {
		if err == io.EOF && len(line) > 0 {
			err = io.ErrUnexpectedEOF
		}
		return nil, err
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func trim(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}
