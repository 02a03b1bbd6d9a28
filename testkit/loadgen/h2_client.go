package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// The lean HTTP/2 client (H2ClientFramer) reads one connection's streams on one goroutine:
// frames are parsed as they come off the socket and each DATA frame goes straight to its
// stream's SSE parser, as the WebSocket client reads its connection. net/http's client
// (H2ClientNetHTTP) instead hands every DATA frame through a pipe to a goroutine per stream,
// which costs the load generator about five times the CPU per event and, on a machine the
// gateway shares, shows up as gateway latency.
//
// Flow control is a browser's: Chromium's windows (6 MiB per stream, 15 MiB per connection)
// with a WINDOW_UPDATE once half of a window was consumed.
const (
	h2StreamWindow = 6 << 20
	h2ConnWindow   = 15 << 20
	// h2DefaultWindow is every window before SETTINGS change it (RFC 9113 6.9.2).
	h2DefaultWindow = 65535
)

// h2Stream is one subscription's stream on a lean client connection.
type h2Stream struct {
	sub     *Sub
	parser  SSEParser
	status  int
	opened  bool
	ended   string // "complete" once the stream said so
	errBody []byte // the start of a non-200 response's body
	unacked int    // bytes consumed and not yet granted back
}

// timedConn notes when each read off the socket returned: the receive time of the events
// in those bytes.
type timedConn struct {
	net.Conn
	now int64
}

func (c *timedConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.now = time.Now().UnixNano()
	}
	return n, err
}

// runSSEH2Framer opens len(subs) SSE streams over one HTTP/2 connection (cleartext with
// prior knowledge for http://, TLS with ALPN h2 for https://, certificate not verified)
// and reads them all on this goroutine until the pool closes or the connection ends.
func (p *Pool) runSSEH2Framer(conn int, subs []*Sub, opened func()) {
	fail := func(reason string) {
		for _, s := range subs {
			s.Failed(reason)
		}
	}
	raw, err := p.dialer(conn).DialContext(p.ctx, "tcp", p.target.Host)
	if err != nil {
		fail(p.failReason(err))
		return
	}
	nc := raw
	if p.target.Scheme == "https" {
		tc := tls.Client(raw, &tls.Config{ //nolint:gosec // benchmark against test certificates
			InsecureSkipVerify: true,
			NextProtos:         []string{"h2"},
			ServerName:         p.target.Hostname(),
		})
		if err := tc.HandshakeContext(p.ctx); err != nil {
			_ = raw.Close()
			fail(p.failReason(err))
			return
		}
		if proto := tc.ConnectionState().NegotiatedProtocol; proto != "h2" {
			_ = raw.Close()
			fail(fmt.Sprintf("the gateway answered over ALPN %q, not h2", proto))
			return
		}
		nc = tc
	}
	defer nc.Close()
	stop := context.AfterFunc(p.ctx, func() { _ = nc.Close() })
	defer stop()

	tc := &timedConn{Conn: nc}
	bw := bufio.NewWriterSize(nc, 16<<10)
	fr := http2.NewFramer(bw, bufio.NewReaderSize(tc, max(p.cfg.ReadBuffer, 16<<10)))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	fr.MaxHeaderListSize = 64 << 10
	fr.SetReuseFrames()

	c := &h2Conn{p: p, fr: fr, bw: bw, tc: tc, streams: make(map[uint32]*h2Stream, len(subs))}
	err = c.run(subs, opened)
	// Sub ignores whatever comes after its first end.
	for _, s := range subs {
		if s.open {
			s.End(p.endReason(err))
		} else {
			s.Failed(p.failReason(orEOF(err)))
		}
	}
}

func orEOF(err error) error {
	if err == nil {
		return io.ErrUnexpectedEOF
	}
	return err
}

// h2Conn is the state of one lean client connection, used by its goroutine only.
type h2Conn struct {
	p          *Pool
	fr         *http2.Framer
	bw         *bufio.Writer
	tc         *timedConn
	streams    map[uint32]*h2Stream
	connUnack  int
	maxStreams uint32
	peerWindow int64 // the server's initial stream window, for the request bodies
	maxFrame   uint32
}

// run opens the streams once the server's SETTINGS arrived, then reads until the
// connection ends; it returns why (nil for a clean close by the server).
func (c *h2Conn) run(subs []*Sub, opened func()) error {
	defer opened()
	if _, err := c.bw.WriteString(http2.ClientPreface); err != nil {
		return err
	}
	if err := c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingEnablePush, Val: 0},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: h2StreamWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: 64 << 10},
	); err != nil {
		return err
	}
	if err := c.fr.WriteWindowUpdate(0, h2ConnWindow-h2DefaultWindow); err != nil {
		return err
	}
	if err := c.bw.Flush(); err != nil {
		return err
	}
	c.maxStreams, c.peerWindow, c.maxFrame = 100, h2DefaultWindow, 16384
	f, err := c.fr.ReadFrame()
	if err != nil {
		return err
	}
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		return fmt.Errorf("the server's first frame is %v, not SETTINGS", f.Header().Type)
	}
	c.maxStreams = ^uint32(0)
	if err := c.onSettings(sf); err != nil {
		return err
	}
	if err := c.open(subs); err != nil {
		return err
	}
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if err := c.handle(f, opened); err != nil {
			return err
		}
		if c.bw.Buffered() > 0 { // a control frame the frame asked for
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
	}
}

func (c *h2Conn) onSettings(sf *http2.SettingsFrame) error {
	err := sf.ForeachSetting(func(s http2.Setting) error {
		switch s.ID {
		case http2.SettingMaxConcurrentStreams:
			c.maxStreams = s.Val
		case http2.SettingInitialWindowSize:
			c.peerWindow = int64(s.Val)
		case http2.SettingMaxFrameSize:
			c.maxFrame = s.Val
		}
		return nil
	})
	if err != nil {
		return err
	}
	return c.fr.WriteSettingsAck()
}

// open sends every stream's request: HEADERS, then the body in DATA. Streams beyond the
// server's SETTINGS_MAX_CONCURRENT_STREAMS fail.
func (c *h2Conn) open(subs []*Sub) error {
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	scheme := c.p.target.Scheme
	path := c.p.target.RequestURI()
	for i, s := range subs {
		if uint32(i) >= c.maxStreams {
			s.Failed("over the server's SETTINGS_MAX_CONCURRENT_STREAMS " + strconv.FormatUint(uint64(c.maxStreams), 10))
			continue
		}
		id := uint32(2*i + 1)
		var body []byte
		method := "POST"
		reqPath := path
		if c.p.cfg.SSEGet {
			method = "GET"
			u := *c.p.target
			q := u.Query()
			c.p.setQuery(q, s)
			u.RawQuery = q.Encode()
			reqPath = u.RequestURI()
		} else {
			body = c.p.requestBody(s)
		}
		if int64(len(body)) > c.peerWindow || len(body) > int(c.maxFrame) {
			s.Failed("request body larger than the server's window or frame size")
			continue
		}
		hbuf.Reset()
		fields := []hpack.HeaderField{
			{Name: ":method", Value: method}, {Name: ":scheme", Value: scheme},
			{Name: ":authority", Value: c.p.target.Host}, {Name: ":path", Value: reqPath},
			{Name: "accept", Value: "text/event-stream"},
		}
		if body != nil {
			fields = append(fields, hpack.HeaderField{Name: "content-type", Value: "application/json"},
				hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(body))})
		}
		for _, hf := range fields {
			_ = enc.WriteField(hf)
		}
		if hbuf.Len() > int(c.maxFrame) {
			s.Failed("request headers larger than one frame")
			continue
		}
		if err := c.fr.WriteHeaders(http2.HeadersFrameParam{
			StreamID: id, BlockFragment: hbuf.Bytes(), EndHeaders: true, EndStream: body == nil,
		}); err != nil {
			return err
		}
		if body != nil {
			if err := c.fr.WriteData(id, true, body); err != nil {
				return err
			}
		}
		st := &h2Stream{sub: s}
		st.parser.OnEvent = func(kind EventKind, data []byte) {
			switch kind {
			case EventNext, EventMessage:
				c.p.accountResult(st.sub, data, c.tc.now, c.p.seq.FromResult)
			case EventComplete:
				st.ended = "complete"
			}
		}
		c.streams[id] = st
	}
	return c.bw.Flush()
}

func (c *h2Conn) handle(f http2.Frame, opened func()) error {
	switch f := f.(type) {
	case *http2.SettingsFrame:
		if !f.IsAck() {
			return c.onSettings(f)
		}
	case *http2.MetaHeadersFrame:
		st := c.streams[f.StreamID]
		if st == nil || st.status != 0 {
			return nil // trailers, or a stream we gave up
		}
		st.status, _ = strconv.Atoi(f.PseudoValue("status"))
		if st.status == 200 {
			st.opened = true
			st.sub.Opened()
			opened()
		}
		if f.StreamEnded() {
			c.finish(f.StreamID, st, nil)
		}
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.RSTStreamFrame:
		if st := c.streams[f.StreamID]; st != nil {
			c.finish(f.StreamID, st, fmt.Errorf("stream reset: %v", f.ErrCode))
		}
	case *http2.PingFrame:
		if !f.IsAck() {
			return c.fr.WritePing(true, f.Data)
		}
	case *http2.GoAwayFrame:
		if f.ErrCode != http2.ErrCodeNo {
			return fmt.Errorf("GOAWAY %v: %s", f.ErrCode, f.DebugData())
		}
		// graceful: the streams up to LastStreamID finish, which ends the connection
	}
	return nil
}

func (c *h2Conn) onData(f *http2.DataFrame) error {
	st := c.streams[f.StreamID]
	n := int(f.Length)
	c.connUnack += n
	if c.connUnack >= h2ConnWindow/2 {
		if err := c.fr.WriteWindowUpdate(0, uint32(c.connUnack)); err != nil {
			return err
		}
		c.connUnack = 0
	}
	if st == nil {
		return nil
	}
	data := f.Data()
	switch {
	case st.status == 200:
		st.parser.Feed(data)
	case len(st.errBody) < 200:
		st.errBody = append(st.errBody, data[:min(len(data), 200-len(st.errBody))]...)
	}
	if f.StreamEnded() {
		c.finish(f.StreamID, st, nil)
		return nil
	}
	st.unacked += n
	if st.unacked >= h2StreamWindow/2 {
		if err := c.fr.WriteWindowUpdate(f.StreamID, uint32(st.unacked)); err != nil {
			return err
		}
		st.unacked = 0
	}
	return nil
}

// finish accounts a stream that ended: cleanly (err nil) or by a reset.
func (c *h2Conn) finish(id uint32, st *h2Stream, err error) {
	delete(c.streams, id)
	switch {
	case !st.opened && st.status != 0:
		st.sub.Failed(fmt.Sprintf("http %d: %s", st.status, bytes.TrimSpace(st.errBody)))
	case !st.opened:
		st.sub.Failed(c.p.failReason(orEOF(err)))
	case st.ended != "":
		st.sub.End(st.ended)
	default:
		st.sub.End(c.p.endReason(err))
	}
}
