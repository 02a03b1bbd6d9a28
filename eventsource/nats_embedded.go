package eventsource

import (
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/rs/zerolog"
)

// EmbeddedOptions configure the in-process NATS server.
type EmbeddedOptions struct {
	// Listen is host:port for clients; default "127.0.0.1:4223". Port 0 or -1 picks a
	// free port (see ClientURL).
	Listen string
	// JetStream enables JetStream with file storage in StoreDir.
	JetStream bool
	// StoreDir holds the JetStream data; default a new temporary directory that Shutdown
	// removes.
	StoreDir string
	// ReadyTimeout bounds the wait for the server to accept connections; default 10s.
	ReadyTimeout time.Duration
	// Log receives the server's log; the zero value disables it.
	Log zerolog.Logger
}

// DefaultEmbeddedListen is where the embedded server listens when EmbeddedOptions.Listen is
// empty: next to, not on, the standard NATS port.
const DefaultEmbeddedListen = "127.0.0.1:4223"

// Embedded is an in-process NATS server.
type Embedded struct {
	srv     *server.Server
	tempDir string // removed on Shutdown when we created it
	once    sync.Once
}

// StartEmbedded starts a NATS server in this process and waits until it accepts
// connections.
func StartEmbedded(opts EmbeddedOptions) (*Embedded, error) {
	listen := opts.Listen
	if listen == "" {
		listen = DefaultEmbeddedListen
	}
	host, portStr, err := net.SplitHostPort(listen)
	if err != nil {
		return nil, fmt.Errorf("embedded nats listen %q: %w", listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < -1 || port > math.MaxUint16 {
		return nil, fmt.Errorf("embedded nats listen %q: invalid port", listen)
	}
	if port == 0 {
		// For the server, 0 means its default port 4222; we promise a free one.
		port = server.RANDOM_PORT
	}
	if host == "" {
		host = "127.0.0.1"
	}
	readyTimeout := opts.ReadyTimeout
	if readyTimeout <= 0 {
		readyTimeout = 10 * time.Second
	}

	if port > 0 {
		// The server reports a busy port only through its log and then never becomes
		// ready; finding it here gives a clear error at once.
		l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, fmt.Errorf("embedded nats listen %s: %w", listen, err)
		}
		_ = l.Close()
	}

	e := &Embedded{}
	sopts := &server.Options{
		ServerName: "edgate-embedded",
		Host:       host,
		Port:       port,
		NoSigs:     true,
		JetStream:  opts.JetStream,
		StoreDir:   opts.StoreDir,
	}
	if opts.JetStream && opts.StoreDir == "" {
		dir, err := os.MkdirTemp("", "edgate-nats-*")
		if err != nil {
			return nil, fmt.Errorf("embedded nats store dir: %w", err)
		}
		e.tempDir, sopts.StoreDir = dir, dir
	}
	srv, err := server.NewServer(sopts)
	if err != nil {
		e.removeTempDir()
		return nil, fmt.Errorf("embedded nats on %s: %w", listen, err)
	}
	e.srv = srv
	debug := opts.Log.GetLevel() <= zerolog.DebugLevel
	// The caller names the component (e.g. "embedded-nats"); the server's own lines say so in
	// a key of their own, so that no line carries "component" twice.
	srv.SetLoggerV2(serverLogger{log: opts.Log.With().Str("source", "nats-server").Logger()}, debug, false, false)
	srv.Start()
	if !srv.ReadyForConnections(readyTimeout) {
		e.Shutdown()
		return nil, fmt.Errorf("embedded nats on %s: not ready for connections after %s", listen, readyTimeout)
	}
	if opts.JetStream && !srv.JetStreamEnabled() {
		e.Shutdown()
		return nil, errors.New("embedded nats: JetStream did not start")
	}
	opts.Log.Info().Str("url", srv.ClientURL()).Bool("jetstream", opts.JetStream).Msg("embedded nats server started")
	return e, nil
}

// ClientURL is the nats:// URL clients connect to.
func (e *Embedded) ClientURL() string { return e.srv.ClientURL() }

// Shutdown stops the server and waits until it has stopped. It is idempotent.
func (e *Embedded) Shutdown() {
	e.once.Do(func() {
		e.srv.Shutdown()
		e.srv.WaitForShutdown()
		e.removeTempDir()
	})
}

func (e *Embedded) removeTempDir() {
	if e.tempDir != "" {
		_ = os.RemoveAll(e.tempDir)
	}
}

// NumSubscriptions counts the subscriptions held by client connections; the server's own
// internal (system account, JetStream) subscriptions are not included.
func (e *Embedded) NumSubscriptions() uint32 {
	connz, err := e.srv.Connz(&server.ConnzOptions{Limit: math.MaxInt32})
	if err != nil {
		return 0
	}
	var n uint32
	for _, c := range connz.Conns {
		n += c.NumSubs
	}
	return n
}

// serverLogger forwards the server's log to zerolog.
type serverLogger struct{ log zerolog.Logger }

func (l serverLogger) Noticef(format string, v ...any) { l.log.Info().Msgf(format, v...) }
func (l serverLogger) Warnf(format string, v ...any)   { l.log.Warn().Msgf(format, v...) }
func (l serverLogger) Fatalf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Errorf(format string, v ...any)  { l.log.Error().Msgf(format, v...) }
func (l serverLogger) Debugf(format string, v ...any)  { l.log.Debug().Msgf(format, v...) }
func (l serverLogger) Tracef(format string, v ...any)  { l.log.Trace().Msgf(format, v...) }
