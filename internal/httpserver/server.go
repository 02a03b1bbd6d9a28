// Package httpserver runs the gateway's HTTP listener: HTTP/1.1 and HTTP/2 on one port,
// over TLS when a certificate is configured and in cleartext (h2c with prior knowledge)
// otherwise, so that many SSE streams from one client share one connection. net/http
// serves HTTP/1.1 and hands HTTP/2 connections (after ALPN, or on seeing the cleartext
// preface) to internal/h2server, which writes them on the shared writer shards.
package httpserver

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/h2server"
	"github.com/edgate/edgate/internal/netwriter"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr is the TCP address to listen on, e.g. ":8080" or "127.0.0.1:0".
	Addr    string
	Handler http.Handler
	// TLSCertFile and TLSKeyFile, both set, serve HTTPS with HTTP/2 negotiated by ALPN;
	// both empty serve cleartext HTTP/1.1 and HTTP/2 with prior knowledge (h2c).
	TLSCertFile, TLSKeyFile string
	Log                     zerolog.Logger
	// ReadHeaderTimeout bounds reading a request's headers. Default 10s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes a keep-alive connection that has carried no request (HTTP/2: no
	// stream) for this long. 0: never.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers, HTTP/1.1 and HTTP/2 alike (431 over it).
	// Default 1 MiB (net/http's DefaultMaxHeaderBytes).
	MaxHeaderBytes int
	// MaxConnections caps open TCP connections; beyond it new connections are closed at
	// once and logged. 0 means unlimited.
	MaxConnections int
	// MaxConcurrentStreams is how many requests (SSE streams) one HTTP/2 connection may
	// carry at once. Default 1000.
	MaxConcurrentStreams int
	// Pool writes HTTP/2 connections (share the transports' pool). Without it the server
	// starts its own and stops it in Shutdown.
	Pool *netwriter.Pool
}

// Defaults of Options.
const (
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultMaxConcurrentStreams = 1000
)

// Server is a bound listener and the http.Server that serves it.
type Server struct {
	ln      net.Listener
	srv     *http.Server
	h2      *h2server.Server
	pool    *netwriter.Pool
	ownPool bool
	tls     bool
	log     zerolog.Logger
	closed  chan struct{}
}

// Listen binds opts.Addr (so the caller knows the address, e.g. with port 0) and prepares
// the server; Serve starts serving.
func Listen(opts Options) (*Server, error) {
	if opts.Handler == nil {
		return nil, errors.New("httpserver: no handler")
	}
	if (opts.TLSCertFile == "") != (opts.TLSKeyFile == "") {
		return nil, errors.New("httpserver: TLS needs both a certificate file and a key file")
	}
	if opts.ReadHeaderTimeout <= 0 {
		opts.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if opts.MaxConcurrentStreams <= 0 {
		opts.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}

	var protocols http.Protocols
	protocols.SetHTTP1(true)
	var tlsConfig *tls.Config
	if opts.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(opts.TLSCertFile, opts.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("httpserver: load TLS key pair %s, %s: %w", opts.TLSCertFile, opts.TLSKeyFile, err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		protocols.SetHTTP2(true)
	} else {
		// The standard library's h2c: a connection that opens with the HTTP/2 preface is
		// served as HTTP/2, anything else as HTTP/1.1. (The HTTP/1.1 Upgrade: h2c dance is
		// not supported; RFC 9113 deprecated it and no browser uses h2c anyway.)
		protocols.SetUnencryptedHTTP2(true)
	}

	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("httpserver: listen on %s: %w", opts.Addr, err)
	}
	s := &Server{tls: tlsConfig != nil, log: opts.Log, closed: make(chan struct{})}
	s.ln = ln
	if opts.MaxConnections > 0 {
		s.ln = newLimitListener(ln, opts.MaxConnections, opts.Log)
	}
	s.srv = &http.Server{
		Handler:           opts.Handler,
		ReadHeaderTimeout: opts.ReadHeaderTimeout,
		IdleTimeout:       opts.IdleTimeout,
		MaxHeaderBytes:    opts.MaxHeaderBytes,
		TLSConfig:         tlsConfig,
		Protocols:         &protocols,
		ErrorLog:          log.New(errorLogWriter{opts.Log}, "", 0),
	}
	s.pool = opts.Pool
	if s.pool == nil {
		s.pool = netwriter.New(netwriter.Options{Log: opts.Log})
		s.ownPool = true
	}
	s.h2 = h2server.New(h2server.Options{
		Pool:                 s.pool,
		MaxConcurrentStreams: uint32(opts.MaxConcurrentStreams),
		ReadHeaderTimeout:    opts.ReadHeaderTimeout,
		IdleTimeout:          opts.IdleTimeout,
		MaxHeaderListSize:    uint32(max(opts.MaxHeaderBytes, 0)),
		Log:                  opts.Log,
	})
	s.h2.Configure(s.srv)
	return s, nil
}

// Addr is the bound address.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// HTTP2Connections is the number of open HTTP/2 connections (h2 over TLS and h2c).
func (s *Server) HTTP2Connections() int { return s.h2.Connections() }

// Serve serves until Shutdown; it returns nil after Shutdown and the error otherwise.
func (s *Server) Serve() error {
	var err error
	if s.tls {
		err = s.srv.ServeTLS(s.ln, "", "")
	} else {
		err = s.srv.Serve(s.ln)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits, until ctx ends, for active requests to
// finish. Long-lived streams do not finish on their own: end them first (the sse handler's
// Shutdown, the ws handler's) so that this returns promptly. When ctx ends first, the
// remaining connections are closed.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.srv.Shutdown(ctx) // sends GOAWAY on HTTP/2 connections (RegisterOnShutdown)
	if err != nil {
		_ = s.srv.Close()
	}
	if s.ownPool {
		s.pool.Close()
	}
	return err
}

// Abandon releases a server that never served: its listener (and its own writer pool).
func (s *Server) Abandon() {
	_ = s.ln.Close()
	if s.ownPool {
		s.pool.Close()
	}
}

// errorLogWriter forwards net/http's own log lines (TLS handshake errors, panics in
// handlers) to zerolog.
type errorLogWriter struct{ log zerolog.Logger }

func (w errorLogWriter) Write(p []byte) (int, error) {
	w.log.Warn().Str("component", "http").Msg(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
