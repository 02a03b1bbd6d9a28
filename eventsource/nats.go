package eventsource

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/telemetry"
)

// NATSOptions configure a NATS provider.
type NATSOptions struct {
	// ID is the provider id that directives name; default "default".
	ID string
	// URL is the server URL, or several separated by commas; default nats://127.0.0.1:4222.
	URL string
	// Name is the client connection name shown by the server; default "edgate".
	Name string
	// Token, User/Password and CredsFile authenticate the connection; all optional.
	Token     string
	User      string
	Password  string
	CredsFile string
	// ReconnectWait is the pause between reconnect attempts; default 250ms.
	ReconnectWait time.Duration
	// ReconnectBufSize bounds the bytes buffered by publishes during an outage; default
	// the client library's (8 MiB). Negative disables buffering: publishes fail at once.
	ReconnectBufSize int
	// RequestTimeout bounds Request when the context has no earlier deadline; default 5s.
	RequestTimeout time.Duration
	// InstanceID, when set, is part of JetStream durable consumer names ("name-instance-hash") so
	// that each gateway replica gets every event. Use a value that stays the same across
	// restarts of one replica, or missed events are not delivered after a restart.
	InstanceID string
	// ConsumerInactiveThreshold is the default StreamOptions.InactiveThreshold: a durable
	// consumer without subscribers is removed by the server after this long; default 30s,
	// the default of Cosmo's streamConfiguration.
	ConsumerInactiveThreshold time.Duration
	// QueueSize bounds the messages of exact-subject subscriptions that arrived but are not
	// yet routed to their consumers; one queue per connection serves all of them. Default
	// DefaultNATSQueueSize. Past it the client library drops messages (a slow consumer:
	// logged at most once a second, counted in ConsumeErrors).
	QueueSize int
	// Log receives connection events; the zero value disables logging.
	Log zerolog.Logger
}

// Defaults of NATSOptions.
const (
	DefaultNATSURL                   = "nats://127.0.0.1:4222"
	DefaultNATSReconnectWait         = 250 * time.Millisecond
	DefaultNATSRequestTimeout        = 5 * time.Second
	DefaultConsumerInactiveThreshold = 30 * time.Second
	// DefaultNATSQueueSize absorbs a burst of a quarter of a million events, such as one
	// event to each user of a large instance at once (each on a subject of its own), while
	// the gateway writes them out at tens of thousands a second. It was 65,536, which
	// dropped 10-13 % of a 100,000-event burst to 10,000 subscribers. The queue holds a
	// pointer per message: 2 MiB of address space, resident only once a burst has used it.
	DefaultNATSQueueSize = 1 << 18
)

// slowConsumerLogEvery spaces the slow-consumer log lines of a provider: the client library
// reports each subscription that drops, which with a subject per user is thousands of
// reports for one burst.
const slowConsumerLogEvery = time.Second

// Per-subscription limits of messages received but not yet handed to the consumer. They are
// large on purpose: a consumer's fn never blocks, so only a stall fills them, and the
// client library drops messages past them (counted and logged as a slow consumer).
const (
	natsPendingMsgs  = 1_000_000
	natsPendingBytes = 256 << 20
)

// NATS is a provider on one NATS connection, with core subscriptions, JetStream durable
// consumers and request/reply. The connection reconnects forever and keeps its
// subscriptions across outages.
type NATS struct {
	// resumeSeq numbers the ephemeral consumers of resumed streams, after resumeNonce.
	resumeSeq atomic.Uint64
	// resumeNonce is drawn per provider (so per process): the consumers of resumed streams
	// outlive the process on the server (until their inactive threshold), and a restarted
	// instance with the same instance id must not take one of its predecessor's for its
	// own and deliver from where that one stopped.
	resumeNonce    string
	replicasMu     sync.Mutex
	replicas       map[string]replicasEntry // stream name → its replica count
	id             string
	log            zerolog.Logger
	nc             *nats.Conn
	js             jetstream.JetStream
	requestTimeout time.Duration
	// confirm makes sure the server has new core subscriptions (see confirmer).
	confirm    *confirmer
	instanceID string
	inactive   time.Duration
	stats      providerCounters

	mu        sync.Mutex
	consumers map[Consumer]struct{}
	closed    bool

	// routes carries the single-subject core subscriptions (see natsRoutes); its
	// goroutine runs from NewNATS to Close.
	routes *natsRoutes

	slowMu      sync.Mutex
	slowLogged  time.Time // when the last slow-consumer line went out
	slowPending int       // reports since then, not logged
}

// natsRoutes delivers the messages of every single-subject core subscription of a
// provider. A callback subscription of the client library costs a goroutine (and its
// stack) per subject, which with a subject per user is most of a subscription's memory;
// channel subscriptions cost none. They all feed one channel, in the order the messages
// came off the socket, and one goroutine routes each to its consumer. Routing does only
// a map lookup and the consumer's non-blocking callback.
type natsRoutes struct {
	msgs chan *nats.Msg
	mu   sync.RWMutex
	subs map[*nats.Subscription]*natsConsumer
	stop chan struct{}
	done chan struct{}
}

// startRoutes starts the routing goroutine; queue is the channel's capacity (QueueSize):
// past it the client library drops messages as a slow consumer.
func startRoutes(queue int) *natsRoutes {
	r := &natsRoutes{msgs: make(chan *nats.Msg, queue), subs: make(map[*nats.Subscription]*natsConsumer), stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *natsRoutes) run() {
	defer close(r.done)
	var buf [1]Event
	for {
		select {
		case <-r.stop:
			return
		case m := <-r.msgs:
			r.mu.RLock()
			c := r.subs[m.Sub]
			r.mu.RUnlock()
			if c != nil {
				c.deliverDirect(m, len(r.msgs) > 0, &buf)
			}
		}
	}
}

// subscribe makes a channel subscription routed to c. The route is in place before the
// subscription exists on the server: the lock is held across the client call, which only
// buffers the SUB.
func (r *natsRoutes) subscribe(nc *nats.Conn, subject string, c *natsConsumer) (*nats.Subscription, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	sub, err := nc.ChanSubscribe(subject, r.msgs)
	if err == nil {
		r.subs[sub] = c
	}
	return sub, err
}

// consumers appends the consumers of the routed subscriptions to dst.
func (r *natsRoutes) consumers(dst []Consumer) []Consumer {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, c := range r.subs {
		dst = append(dst, c)
	}
	return dst
}

func (r *natsRoutes) forget(sub *nats.Subscription) {
	r.mu.Lock()
	delete(r.subs, sub)
	r.mu.Unlock()
}

func (r *natsRoutes) close() {
	close(r.stop)
	<-r.done
}

// NewNATS connects to the server. When the server is unreachable the provider still starts
// and connects (and subscribes) as soon as the server is up; only invalid options fail.
func NewNATS(ctx context.Context, opts NATSOptions) (*NATS, error) {
	if opts.ID == "" {
		opts.ID = "default"
	}
	if opts.URL == "" {
		opts.URL = DefaultNATSURL
	}
	if opts.Name == "" {
		opts.Name = "edgate"
	}
	if opts.ReconnectWait <= 0 {
		opts.ReconnectWait = DefaultNATSReconnectWait
	}
	if opts.RequestTimeout <= 0 {
		opts.RequestTimeout = DefaultNATSRequestTimeout
	}
	if opts.ConsumerInactiveThreshold <= 0 {
		opts.ConsumerInactiveThreshold = DefaultConsumerInactiveThreshold
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultNATSQueueSize
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("nats provider %q connect: %w", opts.ID, err)
	}
	n := &NATS{
		id:             opts.ID,
		log:            opts.Log.With().Str("provider", opts.ID).Str("kind", "nats").Logger(),
		requestTimeout: opts.RequestTimeout,
		instanceID:     opts.InstanceID,
		inactive:       opts.ConsumerInactiveThreshold,
		consumers:      make(map[Consumer]struct{}),
		resumeNonce:    strconv.FormatUint(uint64(rand.Uint32()), 36),
	}
	nopts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(opts.ReconnectWait),
		nats.RetryOnFailedConnect(true),
		nats.ConnectHandler(func(nc *nats.Conn) {
			n.log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("nats connected")
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if nc.IsClosed() {
				// Our own Close: nothing to reconnect.
				return
			}
			n.log.Warn().Err(err).Msg("nats disconnected; reconnecting, subscriptions are kept")
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.log.Info().Str("url", nc.ConnectedUrlRedacted()).Msg("nats reconnected")
		}),
		nats.ClosedHandler(func(*nats.Conn) { n.log.Debug().Msg("nats connection closed") }),
		nats.ErrorHandler(n.asyncError),
	}
	if opts.ReconnectBufSize != 0 {
		nopts = append(nopts, nats.ReconnectBufSize(opts.ReconnectBufSize))
	}
	if opts.Token != "" {
		nopts = append(nopts, nats.Token(opts.Token))
	}
	if opts.User != "" {
		nopts = append(nopts, nats.UserInfo(opts.User, opts.Password))
	}
	if opts.CredsFile != "" {
		nopts = append(nopts, nats.UserCredentials(opts.CredsFile))
	}
	nc, err := nats.Connect(opts.URL, nopts...)
	if err != nil {
		return nil, fmt.Errorf("nats provider %q connect %s: %w", opts.ID, opts.URL, err)
	}
	if !nc.IsConnected() {
		n.log.Warn().Str("url", opts.URL).Msg("nats server unreachable at start-up; retrying in the background")
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats provider %q jetstream: %w", opts.ID, err)
	}
	n.nc, n.js = nc, js
	n.confirm = &confirmer{flush: nc.FlushWithContext, timeout: n.requestTimeout}
	n.routes = startRoutes(opts.QueueSize)
	return n, nil
}

func (n *NATS) ID() string           { return n.id }
func (n *NATS) Kind() string         { return "nats" }
func (n *NATS) Stats() ProviderStats { return n.stats.snapshot() }

// Conn is the underlying connection, for callers that need more than the Provider API.
func (n *NATS) Conn() *nats.Conn { return n.nc }

// asyncError receives the errors the client library reports outside any call: a slow
// consumer (messages dropped past the pending limits) and permission violations. Slow
// consumers are logged at most once per slowConsumerLogEvery, with how many reports the
// line stands for.
func (n *NATS) asyncError(_ *nats.Conn, sub *nats.Subscription, err error) {
	n.stats.consumeErrors.Add(1)
	slow := errors.Is(err, nats.ErrSlowConsumer)
	reports := 1
	if slow {
		n.slowMu.Lock()
		now := time.Now()
		if now.Sub(n.slowLogged) < slowConsumerLogEvery {
			n.slowPending++
			n.slowMu.Unlock()
			return
		}
		reports += n.slowPending
		n.slowLogged, n.slowPending = now, 0
		n.slowMu.Unlock()
	}
	ev := n.log.Error().Err(err)
	if sub != nil {
		dropped, _ := sub.Dropped()
		ev = ev.Str("subject", sub.Subject).Int("dropped_total", dropped)
	}
	if slow {
		ev.Int("reports", reports).Msg("nats slow consumer: the client library dropped messages")
		return
	}
	ev.Msg("nats asynchronous error")
}

// Consume subscribes to subjects: with opts.Stream a JetStream durable consumer, otherwise
// one core subscription per subject (wildcards pass through to the server).
func (n *NATS) Consume(ctx context.Context, subjects []string, opts ConsumeOptions, fn func([]Event)) (Consumer, error) {
	if len(subjects) == 0 {
		return nil, errors.New("nats consume: no subjects")
	}
	var (
		c   Consumer
		err error
	)
	if opts.Stream != nil {
		c, err = n.consumeStream(ctx, subjects, *opts.Stream, opts.StartAfter, fn)
	} else if opts.StartAfter != "" {
		err = fmt.Errorf("nats consume %v: %w (core NATS; use a JetStream streamConfiguration)", subjects, ErrNoResume)
	} else {
		c, err = n.consumeCore(ctx, subjects, fn)
	}
	if err != nil {
		n.stats.consumeErrors.Add(1)
		return nil, err
	}
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		_ = c.Close()
		return nil, errors.New("nats consume: provider closed")
	}
	if !routed(c) {
		n.consumers[c] = struct{}{}
	}
	n.mu.Unlock()
	return c, nil
}

// routed reports whether c is a single-subject core consumer: the routes' table holds
// it from before Consume checks closed until it is closed, so Close finds it there and
// consumers need not (an entry per subscriber on a subject of its own, ≈ 44 bytes).
func routed(c Consumer) bool {
	nc, ok := c.(*natsConsumer)
	return ok && nc.routes != nil
}

func (n *NATS) forget(c Consumer) {
	n.mu.Lock()
	delete(n.consumers, c)
	n.mu.Unlock()
}

// natsConsumer is a set of core subscriptions delivering to one fn in order.
type natsConsumer struct {
	n  *NATS
	fn func([]Event)
	// sub is a single-subject consumer's subscription; a consumer of several subjects
	// keeps them in merge.subs.
	sub *nats.Subscription
	// closed is set by the first Close, which alone releases the subscriptions.
	closed atomic.Bool
	// merge orders the messages of several subjects (nil with one); routes delivers a
	// single-subject consumer's messages (nil with several). A consumer with a subject of
	// its own is one per subscriber: what only the other kind needs lives apart.
	merge  *natsMerge
	routes *natsRoutes
}

// natsMerge is the delivery of a consumer with several subjects: the client library puts
// every message into msgs in the order it read them from the socket; forward moves them
// into queue, whose goroutine calls fn.
type natsMerge struct {
	subs    []*nats.Subscription
	msgs    chan *nats.Msg
	queue   *deliveryQueue
	stop    chan struct{}
	stopped chan struct{}
	drops   atomic.Uint64
}

// natsMergeChanSize is the channel between the client library and the forwarding
// goroutine. It only has to absorb scheduling delays: the goroutine does nothing but move
// messages into the delivery queue.
const natsMergeChanSize = 8192

func (n *NATS) consumeCore(ctx context.Context, subjects []string, fn func([]Event)) (*natsConsumer, error) {
	for _, subject := range subjects {
		if err := validateSubject(subject, true); err != nil {
			return nil, fmt.Errorf("nats subscribe %q: %w (%v)", subject, nats.ErrBadSubject, err)
		}
	}
	c := &natsConsumer{n: n, fn: fn}
	if len(subjects) > 1 {
		// Callback subscriptions would each run on a goroutine of their own and lose the
		// order between subjects; one shared channel keeps it.
		c.merge = &natsMerge{
			msgs:    make(chan *nats.Msg, natsMergeChanSize),
			queue:   newDeliveryQueue(natsPendingMsgs, c.deliverIfOpen),
			stop:    make(chan struct{}),
			stopped: make(chan struct{}),
		}
		go c.forward()
	}
	for _, subject := range subjects {
		var (
			sub *nats.Subscription
			err error
		)
		if c.merge != nil {
			sub, err = n.nc.ChanSubscribe(subject, c.merge.msgs)
		} else {
			c.routes = n.routes
			sub, err = c.routes.subscribe(n.nc, subject, c)
		}
		switch {
		case sub == nil:
		case c.merge != nil:
			c.merge.subs = append(c.merge.subs, sub)
		default:
			c.sub = sub
		}
		if err != nil {
			c.release()
			return nil, fmt.Errorf("nats subscribe %q: %w", subject, err)
		}
	}
	// A round trip makes sure the server has the subscriptions, so that what is published
	// after Consume returns is received. During an outage the subscriptions are sent on
	// reconnect instead.
	if n.nc.IsConnected() {
		if err := n.confirm.confirm(ctx); err != nil {
			n.log.Debug().Err(err).Strs("subjects", subjects).Msg("nats flush after subscribe")
		}
	}
	return c, nil
}

func toEvent(m *nats.Msg) Event {
	// nats.go allocates each message's payload, so it can be shared read-only.
	ev := Event{Subject: m.Subject, Data: m.Data}
	ev.TraceParent, ev.TraceState = natsTraceHeaders(m.Header)
	return ev
}

// natsTraceHeaders reads the W3C trace context of a message. NATS header names are case
// sensitive; publishers write "traceparent" (as edgate does) or, through an HTTP-style
// carrier, "Traceparent": both count.
func natsTraceHeaders(h nats.Header) (traceparent, tracestate string) {
	if h == nil {
		return "", ""
	}
	get := func(lower, canonical string) string {
		if v := h.Get(lower); v != "" {
			return v
		}
		return h.Get(canonical)
	}
	return get("traceparent", "Traceparent"), get("tracestate", "Tracestate")
}

// publishMsg is the message of a publish: with header h, and with the trace context of
// ctx's span when tracing is on and h has none.
func publishMsg(ctx context.Context, subject string, data []byte, h Header) *nats.Msg {
	m := &nats.Msg{Subject: subject, Data: data}
	if len(h) > 0 {
		m.Header = make(nats.Header, len(h)+2)
		for k, v := range h {
			m.Header[k] = slices.Clone(v)
		}
	}
	if tp, ts := telemetry.TraceHeaders(ctx); tp != "" && !hasTraceParent(h) {
		if m.Header == nil {
			m.Header = make(nats.Header, 2)
		}
		m.Header["traceparent"] = []string{tp}
		if ts != "" {
			m.Header["tracestate"] = []string{ts}
		}
	}
	return m
}

// deliverDirect hands a single-subject consumer's message to fn as a batch of one in
// buf, which the routing goroutine owns and reuses (fn does not keep the slice).
func (c *natsConsumer) deliverDirect(m *nats.Msg, backlog bool, buf *[1]Event) {
	if c.closed.Load() {
		return
	}
	c.n.stats.received.Add(1)
	buf[0] = toEvent(m)
	buf[0].Backlog = backlog
	c.fn(buf[:])
	buf[0] = Event{}
}

func (c *natsConsumer) deliverIfOpen(batch []Event) {
	if !c.closed.Load() {
		c.fn(batch)
	}
}

func (c *natsConsumer) forward() {
	mg := c.merge
	defer close(mg.stopped)
	for {
		select {
		case <-mg.stop:
			return
		case m := <-mg.msgs:
			c.n.stats.received.Add(1)
			if mg.queue.push(toEvent(m)) {
				continue
			}
			c.n.stats.consumeErrors.Add(1)
			if d := mg.drops.Add(1); d == 1 || d%10000 == 0 {
				c.n.log.Error().Str("subject", m.Subject).Uint64("dropped_total", d).Msg("nats slow consumer: delivery queue full, message dropped")
			}
		}
	}
}

// Close removes the subscriptions from the server and stops delivery. It must not be
// called from fn.
func (c *natsConsumer) Close() error {
	if !c.closed.CompareAndSwap(false, true) {
		return nil
	}
	c.release()
	if c.routes == nil {
		c.n.forget(c)
	}
	return nil
}

func (c *natsConsumer) release() {
	if c.sub != nil {
		// Fails only when the connection is already closed, which removed it anyway.
		_ = c.sub.Unsubscribe()
		if c.routes != nil {
			c.routes.forget(c.sub)
		}
	}
	if mg := c.merge; mg != nil {
		for _, sub := range mg.subs {
			_ = sub.Unsubscribe()
		}
		close(mg.stop)
		<-mg.stopped
		mg.queue.close()
	}
}

// Publish sends data to subject. While the connection is down the client library buffers
// the message (up to ReconnectBufSize) and sends it on reconnect; that is logged at warn.
// It fails when the connection is closed, the buffer is full or the subject is invalid.
func (n *NATS) Publish(ctx context.Context, subject string, data []byte) error {
	return n.PublishWithHeader(ctx, subject, data, nil)
}

// PublishWithHeader is Publish with NATS message headers h (see HeaderPublisher).
func (n *NATS) PublishWithHeader(ctx context.Context, subject string, data []byte, h Header) error {
	err := n.publish(ctx, subject, data, h)
	countPublish(&n.stats, err)
	return err
}

func (n *NATS) publish(ctx context.Context, subject string, data []byte, h Header) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("nats publish %q: %w", subject, err)
	}
	if err := validateSubject(subject, false); err != nil {
		return fmt.Errorf("nats publish %q: %w (%v)", subject, nats.ErrBadSubject, err)
	}
	before := n.nc.Status()
	if err := n.nc.PublishMsg(publishMsg(ctx, subject, data, h)); err != nil {
		if before != nats.CONNECTED {
			n.log.Warn().Err(err).Str("subject", subject).Str("status", before.String()).Msg("nats publish failed during outage")
		}
		return fmt.Errorf("nats publish %q: %w", subject, err)
	}
	if before != nats.CONNECTED || n.nc.Status() != nats.CONNECTED {
		n.log.Warn().Str("subject", subject).Str("status", n.nc.Status().String()).Msg("nats publish buffered during outage; it is sent when the connection is back")
	}
	return nil
}

// Request sends data to subject and waits for one reply, at most RequestTimeout unless ctx
// ends sooner.
func (n *NATS) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	rctx, cancel := context.WithTimeoutCause(ctx, n.requestTimeout, &NoReplyError{Timeout: n.requestTimeout})
	defer cancel()
	msg, err := n.nc.RequestWithContext(rctx, subject, data)
	switch {
	case err == nil:
		return msg.Data, nil
	case errors.Is(err, nats.ErrNoResponders):
		err = ErrNoResponders
	case ctx.Err() == nil && rctx.Err() != nil:
		err = context.Cause(rctx) // our own timeout, not the caller's
	}
	return nil, fmt.Errorf("nats request %q: %w", subject, err)
}

// Close closes every consumer and the connection.
func (n *NATS) Close() error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed = true
	consumers := make([]Consumer, 0, len(n.consumers))
	for c := range n.consumers {
		consumers = append(consumers, c)
	}
	n.mu.Unlock()
	// After closed is set: a routed consumer that Consume returned is in the table by now.
	consumers = n.routes.consumers(consumers)
	for _, c := range consumers {
		_ = c.Close()
	}
	n.nc.Close()
	n.routes.close()
	return nil
}
