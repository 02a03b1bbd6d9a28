// Package h2server serves HTTP/2 connections on the shared writer shards
// (internal/netwriter), so that an idle stream costs neither a goroutine nor a write
// buffer: what net/http's HTTP/2 server cannot do (it keeps a handler goroutine and a
// 4 KiB buffer per stream, ≈ 32 KiB per idle SSE stream).
//
// A connection has one reader goroutine, which parses frames (golang.org/x/net/http2's
// Framer and HPACK decoder) and keeps the connection's state; everything it sends (SETTINGS,
// PING and SETTINGS acknowledgements, WINDOW_UPDATE, RST_STREAM, GOAWAY, response HEADERS
// and DATA) is framed by the connection's netwriter shard when it is woken, in one write,
// within the client's flow-control windows. Every request runs the http.Handler on a
// goroutine of its own with a ResponseWriter that buffers into the stream; a handler that
// streams for long (an SSE subscription) detaches its body instead (Detach): the handler
// returns, and the shard asks the body for bytes when it is woken.
//
// Protocol rules enforced (RFC 9113), each covered by a Framer-level test and by h2spec in
// CI: the client preface and a SETTINGS first; SETTINGS validated, applied and
// acknowledged; MAX_CONCURRENT_STREAMS (REFUSED_STREAM beyond it), INITIAL_WINDOW_SIZE
// (applied to open streams), MAX_FRAME_SIZE (both ways), MAX_HEADER_LIST_SIZE (431);
// stream states (idle, open, half-closed, closed) with the errors the RFC names for frames
// in the wrong state; connection and stream flow control both ways (a client that grants
// no window leaves its stream's subscription unpulled: the slow-client policy of
// netwriter); RST_STREAM ends a stream at once (its handler's context is cancelled, a
// detached body is told); PING; CONTINUATION; request bodies with content-length checks;
// header validation (pseudo-headers, connection-specific fields, TE); GOAWAY with the
// error code of a connection error, and GOAWAY NO_ERROR on shutdown, after which the
// connection closes once its streams have finished.
package h2server

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/netwriter"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Pool writes the connections.
	Pool *netwriter.Pool
	// MaxConcurrentStreams is how many streams a client may open at once. Default 1000.
	MaxConcurrentStreams uint32
	// MaxHeaderListSize bounds a request's headers (SETTINGS_MAX_HEADER_LIST_SIZE); a
	// larger one gets 431. Default 1 MiB (net/http's DefaultMaxHeaderBytes).
	MaxHeaderListSize uint32
	// StreamWindow is the flow-control window a request body gets
	// (SETTINGS_INITIAL_WINDOW_SIZE); ConnWindow the connection's. Defaults 1 MiB and
	// 4 MiB: a request body waits in memory until its handler reads it.
	StreamWindow int32
	ConnWindow   int32
	// MaxHandlers is how many handlers of one connection run at once; further requests
	// wait for one to return, in order. Streaming responses (SSE) detach and return at
	// once, so this bounds queries in flight per connection. Default 16.
	MaxHandlers int
	// ReadHeaderTimeout bounds the client preface and its first SETTINGS. Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a connection (GOAWAY) that has had no open stream for this long.
	// 0: never.
	IdleTimeout time.Duration
	Log         zerolog.Logger
}

// Defaults of Options.
const (
	DefaultMaxConcurrentStreams = 1000
	DefaultMaxHeaderListSize    = http.DefaultMaxHeaderBytes
	DefaultStreamWindow         = 1 << 20
	DefaultConnWindow           = 4 << 20
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultMaxHandlers          = 16
)

// Server serves HTTP/2 connections handed to it by net/http (TLSNextProto "h2" after ALPN,
// and "unencrypted_http2" for cleartext connections with prior knowledge).
type Server struct {
	opts Options
	log  zerolog.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutdown bool
}

// New returns a Server.
func New(opts Options) *Server {
	if opts.MaxConcurrentStreams == 0 {
		opts.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if opts.MaxHeaderListSize == 0 {
		opts.MaxHeaderListSize = DefaultMaxHeaderListSize
	}
	if opts.StreamWindow <= 0 {
		opts.StreamWindow = DefaultStreamWindow
	}
	if opts.ConnWindow <= 0 {
		opts.ConnWindow = DefaultConnWindow
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.MaxHandlers <= 0 {
		opts.MaxHandlers = DefaultMaxHandlers
	}
	return &Server{opts: opts, log: opts.Log.With().Str("component", "http2").Logger(), conns: make(map[*conn]struct{})}
}

// Configure installs s on hs: TLSNextProto "h2" (with "h2" offered in ALPN) and, when
// hs.Protocols allows unencrypted HTTP/2, the cleartext prior-knowledge hand-off. Call it
// before serving, after hs's timeouts are set: hs.IdleTimeout and hs.ReadHeaderTimeout
// apply to HTTP/2 connections too unless Options set them. Shutdown of hs starts s's
// graceful shutdown.
func (s *Server) Configure(hs *http.Server) {
	if s.opts.IdleTimeout == 0 {
		s.opts.IdleTimeout = hs.IdleTimeout
	}
	if hs.ReadHeaderTimeout > 0 && s.opts.ReadHeaderTimeout == DefaultReadHeaderTimeout {
		s.opts.ReadHeaderTimeout = hs.ReadHeaderTimeout
	}
	if hs.TLSNextProto == nil {
		hs.TLSNextProto = map[string]func(*http.Server, *tls.Conn, http.Handler){}
	}
	hs.TLSNextProto["h2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		state := tc.ConnectionState()
		s.ServeConn(tc, &state, false, baseContext(h), h)
	}
	hs.TLSNextProto["unencrypted_http2"] = func(hs *http.Server, tc *tls.Conn, h http.Handler) {
		nc, ok := tc.NetConn().(interface{ UnencryptedNetConn() net.Conn })
		if !ok {
			s.log.Error().Msg("cleartext HTTP/2 hand-off without its connection")
			_ = tc.Close()
			return
		}
		s.ServeConn(nc.UnencryptedNetConn(), nil, true, baseContext(h), h)
	}
	if hs.TLSConfig != nil {
		protos := []string{"h2"}
		for _, p := range hs.TLSConfig.NextProtos {
			if p != "h2" {
				protos = append(protos, p)
			}
		}
		if len(protos) == 1 {
			protos = append(protos, "http/1.1")
		}
		hs.TLSConfig.NextProtos = protos
	}
	hs.RegisterOnShutdown(s.Shutdown)
}

// baseContext is the per-connection context net/http passes down (with
// http.ServerContextKey and http.LocalAddrContextKey) through an unadvertised method of
// the handler it gives TLSNextProto.
func baseContext(h http.Handler) context.Context {
	if bc, ok := h.(interface{ BaseContext() context.Context }); ok {
		return bc.BaseContext()
	}
	return context.Background()
}

// ServeConn serves one HTTP/2 connection until it closes. tlsState is nil for cleartext;
// sawPreface tells that the client preface was read already (net/http's cleartext
// hand-off reads it to recognise HTTP/2).
func (s *Server) ServeConn(nc net.Conn, tlsState *tls.ConnectionState, sawPreface bool, base context.Context, h http.Handler) {
	c := newConn(s, nc, tlsState, base, h)
	s.mu.Lock()
	if s.shutdown {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve(sawPreface)
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown sends GOAWAY (NO_ERROR) on every connection: new streams are refused, and each
// connection closes once its open streams have finished. End long streams (SSE) first.
// New connections are closed at once.
func (s *Server) Shutdown() {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway(0, false)
	}
}

// Connections is the number of open HTTP/2 connections.
func (s *Server) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

var errStreamReset = errors.New("http2: stream reset by the client")
