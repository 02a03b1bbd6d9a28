package ws

import (
	"context"
	"encoding/json"
	"io"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/drain"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// Executor runs the GraphQL operations a connection starts.
type Executor interface {
	// Prepare parses, validates and plans a request; a client mistake is a
	// *resolve.RequestError.
	Prepare(ctx context.Context, req *resolve.Request) (*resolve.Operation, error)
	// Execute runs a query or mutation and writes its complete JSON result to w.
	Execute(ctx context.Context, op *resolve.Operation, w io.Writer) error
	// Subscribe starts a subscription. The transport pulls the stream when opts.Wake fires
	// and closes it when the client is done.
	Subscribe(ctx context.Context, op *resolve.Operation, opts resolve.SubscribeOptions) (*resolve.Stream, error)
}

// Options configure a Handler. Zero values mean the documented defaults.
type Options struct {
	Executor Executor
	// Metrics receives the delivery latency of every event frame; nil: none.
	Metrics *telemetry.Metrics
	// InitTimeout is how long a client may take to send connection_init; then the
	// connection is closed with 4408. Default 10s.
	InitTimeout time.Duration
	// PingInterval is the period of the server's keep-alive: a ping on graphql-transport-ws,
	// a "ka" on graphql-ws. Default 10s; negative turns it off.
	PingInterval time.Duration
	// MaxSubscriptionsPerConnection limits the operations running at once on a connection;
	// a subscribe over it gets an error message and the connection stays open. Default 100;
	// negative is unlimited.
	MaxSubscriptionsPerConnection int
	// MaxMessageBytes limits a client message. A bigger one closes the connection with 4400
	// (graphql-transport-ws) or 1009 (graphql-ws). Default 64 KiB; negative is unlimited.
	MaxMessageBytes int64
	// MessagesPerSecond and MessageBurst bound the messages a client sends on a connection:
	// a token bucket of MessageBurst tokens refilled at MessagesPerSecond. A subscribe over
	// it gets an error message with extensions.code RATE_LIMITED and the connection stays
	// open (see overMessageRate for the other messages). Defaults 50 and 200, enough for a
	// client that starts and stops its whole quota of subscriptions at once; a negative
	// MessagesPerSecond is unlimited.
	MessagesPerSecond int
	MessageBurst      int
	// SubscribesPerSecond and SubscribeBurst bound the subscribe (start) messages the same
	// way, since each one parses and plans an operation. Defaults 10 and 100 (a page that
	// opens max_subscriptions_per_connection subscriptions at load, or a client that
	// resubscribes everything after a reconnect, is within the burst); negative is unlimited.
	SubscribesPerSecond int
	SubscribeBurst      int
	// WriteTimeout is how long a client may take to accept queued bytes before it is
	// disconnected. Default 10s. Used only without Pool (the pool's own applies).
	WriteTimeout time.Duration
	// Pool writes the connections (internal/netwriter); share one with the other
	// transports. Without it the handler starts its own and stops it in Shutdown.
	Pool *netwriter.Pool
	// Authenticate, when set, is called with the effective headers (the upgrade request's,
	// plus an Authorization token found in the payload when the request had none) and the
	// connection_init payload. An error closes the connection with 4403 Forbidden.
	Authenticate func(ctx context.Context, header http.Header, initPayload json.RawMessage) error
	// CheckOrigin, when set, decides whether an upgrade request may open a connection;
	// refused ones get 403 (see gateway's same-origin and cors.allowed_origins check).
	CheckOrigin func(r *http.Request) bool
	Log         zerolog.Logger
}

// Handler serves GraphQL over WebSocket: graphql-transport-ws and the legacy graphql-ws.
// Call Shutdown to close its connections and stop its goroutines.
type Handler struct {
	opts      Options
	log       zerolog.Logger
	delivered *telemetry.Delivery // nil without Options.Metrics

	startOnce  sync.Once
	writer     *netwriter.Pool
	ownPool    bool
	poller     poller // nil where epoll is unavailable: every connection gets a reader goroutine
	starts     starters
	stop       chan struct{}
	goroutines sync.WaitGroup // every goroutine the handler and its connections start

	mu     sync.Mutex
	conns  map[*conn]struct{}
	closed bool
	// restart: Shutdown closes with 1012 and no complete messages (set before closed)
	restart atomic.Bool
	idle    chan struct{} // closed when the last connection is gone after Shutdown began
	count   atomic.Int64

	now func() time.Duration // the rate limits' clock; tests replace it

	// forceReaderGoroutine makes every connection use a reader goroutine (tests of the
	// portable path).
	forceReaderGoroutine bool
}

// NewHandler returns a Handler; its goroutines start with the first connection.
func NewHandler(opts Options) *Handler {
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = 10 * time.Second
	}
	switch {
	case opts.MaxSubscriptionsPerConnection == 0:
		opts.MaxSubscriptionsPerConnection = 100
	case opts.MaxSubscriptionsPerConnection < 0:
		opts.MaxSubscriptionsPerConnection = math.MaxInt
	}
	switch {
	case opts.MaxMessageBytes == 0:
		opts.MaxMessageBytes = 64 << 10
	case opts.MaxMessageBytes < 0:
		opts.MaxMessageBytes = math.MaxInt64
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 10 * time.Second
	}
	opts.MessagesPerSecond, opts.MessageBurst = rateDefaults(opts.MessagesPerSecond, opts.MessageBurst, 50, 200)
	opts.SubscribesPerSecond, opts.SubscribeBurst = rateDefaults(opts.SubscribesPerSecond, opts.SubscribeBurst, 10, 100)
	return &Handler{
		now:       netwriter.Now,
		opts:      opts,
		log:       opts.Log.With().Str("component", "ws").Logger(),
		stop:      make(chan struct{}),
		conns:     make(map[*conn]struct{}),
		writer:    opts.Pool,
		delivered: opts.Metrics.Delivered(telemetry.TransportWebSocket),
	}
}

// rateDefaults applies a rate limit's defaults: zero rate the default, negative off (0); a
// burst below 1 the default burst, but never less than one second of the rate.
func rateDefaults(rate, burst, defRate, defBurst int) (int, int) {
	switch {
	case rate == 0:
		rate = defRate
	case rate < 0:
		return 0, 0
	}
	if burst < 1 {
		burst = max(defBurst, rate)
	}
	return rate, burst
}

// IsUpgrade reports whether r asks for a WebSocket.
func IsUpgrade(r *http.Request) bool {
	if r.Method != http.MethodGet || !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for tok := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "upgrade") {
				return true
			}
		}
	}
	return false
}

// start launches the writer pool (unless one was given) and the epoll loop.
func (h *Handler) start() {
	if h.writer == nil {
		h.writer = netwriter.New(netwriter.Options{
			Shards:       runtime.GOMAXPROCS(0),
			WriteTimeout: h.opts.WriteTimeout,
			Tick:         max(min(h.opts.PingInterval, h.opts.WriteTimeout)/4, time.Millisecond),
			Log:          h.log,
		})
		h.ownPool = true
	}
	if !h.forceReaderGoroutine {
		p, err := newPoller(h)
		if err != nil {
			h.log.Info().Err(err).Msg("epoll unavailable: one reader goroutine per WebSocket")
		} else {
			h.poller = p
		}
	}
}

// ServeHTTP upgrades r and serves the connection. Requests that are not WebSocket upgrades
// get 426; a client that offers only subprotocols other than ours gets 400.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !IsUpgrade(r) {
		w.Header().Set("Upgrade", "websocket")
		http.Error(w, "expected a WebSocket upgrade", http.StatusUpgradeRequired)
		return
	}
	if h.opts.CheckOrigin != nil && !h.opts.CheckOrigin(r) {
		h.log.Debug().Str("origin", r.Header.Get("Origin")).Msg("websocket upgrade from another origin refused")
		http.Error(w, "WebSocket connections from this origin are not allowed", http.StatusForbidden)
		return
	}
	proto, selected, ok := negotiate(r.Header)
	if !ok {
		http.Error(w, "unsupported WebSocket subprotocol: use graphql-transport-ws or graphql-ws", http.StatusBadRequest)
		return
	}
	h.mu.Lock()
	closed := h.closed
	if !closed {
		// Under h.mu, so that Shutdown either stops what start launched or start never runs.
		h.startOnce.Do(h.start)
	}
	h.mu.Unlock()
	if closed {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}

	// Headers a middleware set (the request id) go into the handshake response, which the
	// upgrader writes itself.
	up := ws.HTTPUpgrader{Timeout: h.opts.WriteTimeout, Header: w.Header()}
	if selected != "" {
		up.Protocol = func(p string) bool { return p == selected }
	}
	nc, rw, _, err := up.Upgrade(r, w)
	if err != nil {
		if nc != nil {
			_ = nc.Close()
		}
		telemetry.Logger(r.Context(), &h.log).Debug().Err(err).Msg("websocket upgrade failed")
		return
	}
	// Bytes the client sent right after the handshake sit in the hijacked reader.
	var early []byte
	if n := rw.Reader.Buffered(); n > 0 {
		early, _ = rw.Reader.Peek(n)
		early = append([]byte(nil), early...)
	}

	c := &conn{
		h:        h,
		nc:       nc,
		proto:    proto,
		header:   connectionHeader(r.Header),
		reqID:    telemetry.RequestID(r.Context()),
		upgrade:  telemetry.Link(r.Context()),
		lastPing: netwriter.Now(),
	}
	now := h.now()
	c.messages = newBucket(now, h.opts.MessageBurst)
	c.subscribes = newBucket(now, h.opts.SubscribeBurst)
	// Raw access lets writers send without blocking whoever reads the connection; TLS
	// connections have none and are written with blocking writes.
	if sc, ok := nc.(syscall.Conn); ok {
		if rc, err := sc.SyscallConn(); err == nil {
			c.rc = rc
			c.polled = h.poller != nil
		}
	}
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		// Shutdown began during the handshake.
		code, reason := h.shutdownClose()
		_ = nc.SetWriteDeadline(time.Now().Add(time.Second))
		_, _ = nc.Write(appendCloseFrame(nil, code, reason))
		_ = nc.Close()
		return
	}
	wc, err := h.writer.Attach(nc, c, netwriter.AttachOptions{})
	if err != nil {
		h.mu.Unlock()
		_ = nc.Close()
		return
	}
	c.wc = wc
	h.conns[c] = struct{}{}
	h.count.Add(1)
	if !c.polled {
		h.goroutines.Add(1)
	}
	c.mu.Lock()
	c.timer = time.AfterFunc(h.opts.InitTimeout, c.onInitTimeout)
	c.mu.Unlock()
	h.mu.Unlock()

	if len(early) > 0 {
		c.feed(early)
	}
	if !c.polled {
		go c.readLoop()
		return
	}
	if err := h.poller.add(c); err != nil {
		c.tag(h.log.Error()).Err(err).Msg("websocket: epoll registration failed")
		c.teardown()
	}
}

func (h *Handler) removeConn(c *conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.conns[c]; !ok {
		return
	}
	delete(h.conns, c)
	h.count.Add(-1)
	if h.closed && len(h.conns) == 0 && h.idle != nil {
		close(h.idle)
		h.idle = nil
	}
}

// Connections returns the number of open WebSocket connections.
func (h *Handler) Connections() int { return int(h.count.Load()) }

// ShutdownOptions say how Shutdown ends the open connections.
type ShutdownOptions struct {
	// Window spreads the closes of the open connections evenly over this long, so that
	// the clients do not all reconnect to the other instances at once. 0: all at once.
	Window time.Duration
	// Complete ends each subscription for good: a complete message each, then close 1001
	// Going Away. By default a connection gets what is queued for it and then close 1012
	// Service Restart without complete messages, so that clients that retry (graphql-ws
	// does on 1012) subscribe again on another instance.
	Complete bool
}

// shutdownClose is the close code and reason of a connection that Shutdown ends.
func (h *Handler) shutdownClose() (int, string) {
	if h.restart.Load() {
		return closeServiceRestart, "service restart"
	}
	return closeGoingAway, "server shutting down"
}

// Shutdown ends every connection as opts say, spread over opts.Window, and stops the
// handler's goroutines. Connections that have not finished their closing handshake when
// ctx ends are closed at once. New upgrades are refused with 503.
func (h *Handler) Shutdown(ctx context.Context, opts ShutdownOptions) {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return
	}
	h.restart.Store(!opts.Complete)
	h.closed = true
	idle := make(chan struct{})
	if len(h.conns) == 0 {
		close(idle)
	} else {
		h.idle = idle
	}
	conns := make([]*conn, 0, len(h.conns))
	for c := range h.conns {
		conns = append(conns, c)
	}
	h.mu.Unlock()

	drain.Spread(ctx, len(conns), opts.Window, func(i int) { conns[i].shutdown() })
	select {
	case <-idle:
	case <-ctx.Done():
		for _, c := range conns {
			c.teardown()
		}
	}
	close(h.stop)
	if h.poller != nil {
		h.poller.close()
	}
	h.goroutines.Wait()
	if h.ownPool {
		h.writer.Close()
	}
}
