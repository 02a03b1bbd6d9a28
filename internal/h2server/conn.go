package h2server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgate/edgate/internal/netwriter"
)

const (
	clientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	// maxWindow is the largest flow-control window (2^31-1).
	maxWindow = 1<<31 - 1
	// peer defaults before its SETTINGS arrive (RFC 9113 6.5.2)
	defaultWindow    = 65535
	defaultFrameSize = 16384
	// errorGrace is how long a connection that sent GOAWAY for an error keeps reading
	// (and discarding) before it is closed, so that the GOAWAY reaches the client rather
	// than being destroyed by a reset.
	errorGrace = time.Second
)

// conn is one HTTP/2 connection. Lock order: conn.mu, then a responseWriter's mu; a
// detached body is called under conn.mu except Closed, which runs without it.
type conn struct {
	srv     *Server
	nc      net.Conn
	wc      *netwriter.Conn
	tls     *tls.ConnectionState
	base    context.Context
	handler http.Handler
	remote  string
	fr      *http2.Framer // the reader's
	done    chan struct{} // closed by Closed

	wakeMu sync.Mutex
	woken  []*stream // detached bodies with something new (stream.Wake)

	mu          sync.Mutex
	streams     map[uint32]*stream
	maxClientID uint32 // highest stream id the client opened (or tried to)
	recent      [16]closedStream
	recentNext  int
	ctrl        []byte    // control frames to send
	scratch     []byte    // a stream's buffer while it is being framed
	ready       []*stream // streams with something to send
	connBlocked []*stream // streams waiting for connection window
	sendWindow  int64     // connection send window
	recvWindow  int64     // what the client may still send on the connection
	recvCredit  int64     // bytes read by handlers (or discarded) not yet granted back
	peer        peerSettings
	enc         *hpack.Encoder
	encBuf      bytes.Buffer
	sawSettings bool
	goingAway   bool // GOAWAY sent: no new streams
	lastID      uint32
	fatal       bool // GOAWAY for an error: close after errorGrace
	peerGoAway  bool
	dead        bool // Closed ran
	idleSince   time.Duration
	tickDue     time.Duration // detached bodies' Tick is not needed before (tickBodiesLocked)
	closeTimer  *time.Timer
	handlers    int             // handler goroutines running
	queued      []queuedRequest // requests waiting for one
}

type peerSettings struct {
	initialWindow int64
	maxFrame      int
	headerTable   uint32
}

type closedStream struct {
	id    uint32
	reset bool // ended by RST_STREAM (either side), not by END_STREAM both ways
}

func newConn(s *Server, nc net.Conn, tlsState *tls.ConnectionState, base context.Context, h http.Handler) *conn {
	c := &conn{
		srv: s, nc: nc, tls: tlsState, base: base, handler: h,
		remote:     nc.RemoteAddr().String(),
		done:       make(chan struct{}),
		streams:    make(map[uint32]*stream),
		sendWindow: defaultWindow,
		recvWindow: defaultWindow,
		peer:       peerSettings{initialWindow: defaultWindow, maxFrame: defaultFrameSize, headerTable: 4096},
	}
	c.enc = hpack.NewEncoder(&c.encBuf)
	return c
}

// serve is the connection's reader goroutine.
func (c *conn) serve(sawPreface bool) {
	defer c.srv.removeConn(c)
	opts := &c.srv.opts
	_ = c.nc.SetReadDeadline(time.Now().Add(opts.ReadHeaderTimeout))
	br := bufio.NewReaderSize(c.nc, 4<<10)
	if !sawPreface {
		var p [len(clientPreface)]byte
		if _, err := io.ReadFull(br, p[:]); err != nil || string(p[:]) != clientPreface {
			_ = c.nc.Close()
			return
		}
	}
	wc, err := opts.Pool.Attach(c.nc, c, netwriter.AttachOptions{})
	if err != nil {
		_ = c.nc.Close()
		return
	}
	c.mu.Lock()
	c.wc = wc
	// Our SETTINGS, then the connection window beyond the default.
	c.ctrl = appendSettings(c.ctrl, []http2.Setting{
		{ID: http2.SettingMaxConcurrentStreams, Val: opts.MaxConcurrentStreams},
		{ID: http2.SettingInitialWindowSize, Val: uint32(opts.StreamWindow)},
		{ID: http2.SettingMaxFrameSize, Val: defaultFrameSize},
		{ID: http2.SettingMaxHeaderListSize, Val: opts.MaxHeaderListSize},
	})
	if opts.ConnWindow > defaultWindow {
		c.ctrl = appendWindowUpdate(c.ctrl, 0, uint32(opts.ConnWindow-defaultWindow))
		c.recvWindow = int64(opts.ConnWindow)
	}
	c.idleSince = netwriter.Now()
	c.mu.Unlock()
	wc.Wake()

	c.fr = http2.NewFramer(nil, br)
	c.fr.SetMaxReadFrameSize(defaultFrameSize)
	c.fr.MaxHeaderListSize = opts.MaxHeaderListSize
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.SetReuseFrames()
	err = c.readLoop()
	c.wc.Close(err)
	<-c.done
}

// readLoop handles frames until the connection fails or is closed.
func (c *conn) readLoop() error {
	for {
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.streamErrorFromRead(se)
				continue
			}
			var ce http2.ConnectionError
			switch {
			case errors.As(err, &ce):
				c.connError(http2.ErrCode(ce), err)
				return c.discardUntilClosed()
			case errors.Is(err, http2.ErrFrameTooLarge):
				c.connError(http2.ErrCodeFrameSize, err)
				return c.discardUntilClosed()
			}
			return err
		}
		if err := c.handle(f); err != nil {
			var ce connErr
			if errors.As(err, &ce) {
				c.connError(ce.code, ce)
				return c.discardUntilClosed()
			}
			return err
		}
	}
}

// discardUntilClosed reads and drops the client's bytes after a GOAWAY for an error,
// until the connection closes.
func (c *conn) discardUntilClosed() error {
	_ = c.nc.SetReadDeadline(time.Now().Add(errorGrace))
	_, err := io.Copy(io.Discard, c.nc)
	if err == nil {
		err = io.EOF
	}
	return err
}

// connErr is a connection error found while handling a frame.
type connErr struct {
	code   http2.ErrCode
	reason string
}

func (e connErr) Error() string {
	return fmt.Sprintf("http2 connection error %v: %s", e.code, e.reason)
}

func protocolError(format string, args ...any) error {
	return connErr{http2.ErrCodeProtocol, fmt.Sprintf(format, args...)}
}

// connError sends GOAWAY with code and closes the connection after errorGrace.
func (c *conn) connError(code http2.ErrCode, err error) {
	c.srv.log.Debug().Err(err).Str("remote", c.remote).Msg("http2 connection error")
	c.goAway(code, true)
}

// goAway sends GOAWAY once. A graceful one (NO_ERROR) lets open streams finish; an error
// one closes the connection after errorGrace.
func (c *conn) goAway(code http2.ErrCode, fatal bool) {
	c.mu.Lock()
	if c.dead {
		c.mu.Unlock()
		return
	}
	if !c.goingAway || (fatal && !c.fatal) {
		c.goingAway = true
		c.lastID = c.maxClientID
		c.ctrl = appendGoAway(c.ctrl, c.lastID, code)
	}
	if fatal && !c.fatal {
		c.fatal = true
		c.closeTimer = time.AfterFunc(errorGrace, func() { c.wc.Close(nil) })
	}
	wc := c.wc
	c.mu.Unlock()
	if wc != nil {
		wc.Wake()
	} else {
		_ = c.nc.Close() // not served yet
	}
}

func (c *conn) rememberClosed(id uint32, reset bool) {
	c.recent[c.recentNext] = closedStream{id: id, reset: reset}
	c.recentNext = (c.recentNext + 1) % len(c.recent)
}

// closedState tells how a stream that is not open ended: reset (RST_STREAM), closed
// (END_STREAM both ways), or unknown (it is gone from memory, or was never opened).
func (c *conn) closedState(id uint32) (known, reset bool) {
	for _, r := range c.recent {
		if r.id == id {
			return true, r.reset
		}
	}
	return false, false
}

// handle applies one frame; a returned connErr ends the connection with GOAWAY.
func (c *conn) handle(f http2.Frame) error {
	c.mu.Lock()
	if !c.sawSettings {
		if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
			c.mu.Unlock()
			return protocolError("the first frame is %v, not SETTINGS", f.Header().Type)
		}
		c.sawSettings = true
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.mu.Unlock()
	switch f := f.(type) {
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.PingFrame:
		if !f.IsAck() {
			c.mu.Lock()
			c.ctrl = appendPing(c.ctrl, f.Data, true)
			c.mu.Unlock()
			c.wc.Wake()
		}
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.peerGoAway = true
		c.mu.Unlock()
		c.wc.Wake() // closes once the open streams are done
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.resetStream(f.StreamID, http2.ErrCodeProtocol)
		}
	case *http2.PushPromiseFrame:
		return protocolError("PUSH_PROMISE from a client")
	case *http2.HeadersFrame:
		// only without ReadMetaHeaders
	}
	return nil
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				return connErr{http2.ErrCode(ce), "invalid setting " + s.String()}
			}
			return protocolError("invalid setting %v", s)
		}
		switch s.ID {
		case http2.SettingHeaderTableSize:
			c.peer.headerTable = s.Val
			c.enc.SetMaxDynamicTableSizeLimit(s.Val)
		case http2.SettingInitialWindowSize:
			delta := int64(s.Val) - c.peer.initialWindow
			c.peer.initialWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > maxWindow {
					return connErr{http2.ErrCodeFlowControl, "SETTINGS_INITIAL_WINDOW_SIZE overflows a stream window"}
				}
				if delta > 0 && len(st.out) > 0 {
					c.readyLocked(st)
				}
			}
		case http2.SettingMaxFrameSize:
			c.peer.maxFrame = int(s.Val)
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.ctrl = appendSettingsAck(c.ctrl)
	c.wc.Wake()
	return nil
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.sendWindow += inc
		if c.sendWindow > maxWindow {
			return connErr{http2.ErrCodeFlowControl, "connection window over 2^31-1"}
		}
		for _, st := range c.connBlocked {
			c.readyLocked(st)
		}
		clear(c.connBlocked)
		c.connBlocked = c.connBlocked[:0]
		c.wc.Wake()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxClientID {
			return protocolError("WINDOW_UPDATE on idle stream %d", f.StreamID)
		}
		return nil // closed: may arrive after we ended it
	}
	st.sendWindow += inc
	if st.sendWindow > maxWindow {
		c.resetLocked(st, http2.ErrCodeFlowControl)
		return nil
	}
	if len(st.out) > 0 || st.hdr != nil {
		c.readyLocked(st)
		c.wc.Wake()
	}
	return nil
}

func (c *conn) onReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	st := c.streams[f.StreamID]
	if st == nil {
		defer c.mu.Unlock()
		if f.StreamID > c.maxClientID {
			return protocolError("RST_STREAM on idle stream %d", f.StreamID)
		}
		return nil
	}
	body := c.removeLocked(st, true, errStreamReset)
	c.mu.Unlock()
	if body != nil {
		body.Closed(errStreamReset)
	}
	c.wc.Wake()
	return nil
}

// streamErrorFromRead answers a stream error the Framer found (invalid headers, a zero
// window increment) with RST_STREAM.
func (c *conn) streamErrorFromRead(se http2.StreamError) {
	c.mu.Lock()
	if se.StreamID > c.maxClientID && se.StreamID%2 == 1 {
		c.maxClientID = se.StreamID // the client used this id
	}
	c.mu.Unlock()
	c.resetStream(se.StreamID, se.Code)
}

// resetStream sends RST_STREAM for id and forgets the stream if it is open.
func (c *conn) resetStream(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	var body netwriter.Body
	if st := c.streams[id]; st != nil {
		body = c.resetLocked(st, code)
	} else {
		c.ctrl = appendRSTStream(c.ctrl, id, code)
		c.rememberClosed(id, true)
	}
	c.mu.Unlock()
	if body != nil {
		body.Closed(fmt.Errorf("http2: stream reset: %v", code))
	}
	c.wc.Wake()
}

// resetLocked sends RST_STREAM for an open stream and forgets it; the caller tells the
// returned body (if any) outside conn.mu.
func (c *conn) resetLocked(st *stream, code http2.ErrCode) netwriter.Body {
	c.ctrl = appendRSTStream(c.ctrl, st.id, code)
	return c.removeLocked(st, true, fmt.Errorf("http2: stream reset: %v", code))
}

// readyLocked lists st for the writer.
func (c *conn) readyLocked(st *stream) {
	if st.inReady || st.removed {
		return
	}
	st.inReady = true
	c.ready = append(c.ready, st)
}

// removeLocked forgets st: its handler's context is cancelled, its request body and
// blocked writes fail. The detached body returned must be told (Closed) without conn.mu.
func (c *conn) removeLocked(st *stream, reset bool, err error) netwriter.Body {
	if st.removed {
		return nil
	}
	st.removed = true
	delete(c.streams, st.id)
	c.rememberClosed(st.id, reset)
	if len(c.streams) == 0 {
		c.idleSince = netwriter.Now()
		if st.reqBody != nil && c.recvCredit > 0 {
			c.grantLocked(nil)
		}
	}
	if st.cancel != nil {
		st.cancel()
		st.cancel = nil
	}
	if st.reqBody != nil {
		// bytes the handler never read come back to the connection window
		c.recvCredit += int64(st.reqBody.fail(err))
		c.grantLocked(nil)
	}
	if st.rw != nil {
		st.rw.abort(err)
	}
	st.out = nil
	body := st.body
	st.body = nil
	if st.bodyDone {
		body = nil // told already
	}
	return body
}
