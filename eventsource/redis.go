package eventsource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"
)

// RedisOptions configure a Redis provider.
type RedisOptions struct {
	// ID names the provider in directives and logs.
	ID string
	// URLs are redis:// or rediss:// URLs. One URL is a standalone server unless Cluster is
	// set; several URLs are the seed nodes of a cluster. Credentials and TLS come from the
	// first URL.
	URLs []string
	// Cluster selects the cluster client for a single URL.
	Cluster bool
	// PublishTimeout bounds one Publish when the caller's context has no earlier deadline;
	// default 5s.
	PublishTimeout time.Duration
	// SubscribeTimeout bounds how long Consume waits for Redis to confirm a new
	// subscription; default 5s. When it passes, Consume still succeeds: the subscription
	// is kept and re-sent on the next connection.
	SubscribeTimeout time.Duration
	// HealthCheckInterval is how long the pub/sub connection may be silent before the
	// provider pings it, so that a dead connection is noticed and replaced; default 3s.
	HealthCheckInterval time.Duration
	// Log receives connection errors; the zero value discards them.
	Log zerolog.Logger
}

const (
	defaultRedisPublishTimeout   = 5 * time.Second
	defaultRedisSubscribeTimeout = 5 * time.Second
	defaultRedisHealthInterval   = 3 * time.Second
)

// Redis is a Provider on Redis pub/sub. All consumers of a provider share one pub/sub
// connection: a channel or pattern is subscribed on the server once, however many consumers
// use it, and unsubscribed when the last of them closes. Channels containing glob
// characters (* ? [) are pattern subscriptions (PSUBSCRIBE).
//
// The go-redis PubSub reconnects on the next receive after an error and re-sends every
// SUBSCRIBE and PSUBSCRIBE it holds, so consumers survive a server restart untouched.
type Redis struct {
	opts   RedisOptions
	client redis.UniversalClient
	ps     *redis.PubSub
	stats  providerCounters
	// one is the batch route hands the consumers; only the receive goroutine uses it.
	one [1]Event

	// lastRecv is the UnixNano time of the last reply read from the pub/sub connection.
	lastRecv atomic.Int64
	stop     chan struct{}
	wg       sync.WaitGroup

	// mu guards the subscription tables and serialises the SUBSCRIBE/UNSUBSCRIBE writes,
	// so that the server's state follows the reference counts.
	mu       sync.Mutex
	closed   bool
	channels map[string]*redisSub
	patterns map[string]*redisSub
}

var _ Provider = (*Redis)(nil)

// redisSub is one server-side subscription (a channel or a pattern) and its consumers.
type redisSub struct {
	// consumers is replaced, never modified in place, so the receive loop can range over
	// a snapshot without holding the lock.
	consumers []*redisConsumer
	// unconfirmed counts SUBSCRIBE commands written and not yet confirmed by the server.
	unconfirmed int
	confirmed   bool
	// ready is closed when the server confirms the subscription.
	ready chan struct{}
}

// NewRedis creates a Redis provider. It does not wait for the server: the pub/sub connection
// is opened in the background and retried until the server answers.
func NewRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	if len(opts.URLs) == 0 {
		return nil, fmt.Errorf("redis provider %q: no urls", opts.ID)
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = defaultRedisPublishTimeout
	}
	if opts.SubscribeTimeout <= 0 {
		opts.SubscribeTimeout = defaultRedisSubscribeTimeout
	}
	if opts.HealthCheckInterval <= 0 {
		opts.HealthCheckInterval = defaultRedisHealthInterval
	}
	opts.Log = opts.Log.With().Str("provider", opts.ID).Str("kind", "redis").Logger()

	client, err := newRedisClient(opts)
	if err != nil {
		return nil, fmt.Errorf("redis provider %q: %w", opts.ID, err)
	}
	r := &Redis{
		opts:     opts,
		client:   client,
		ps:       client.Subscribe(ctx),
		stop:     make(chan struct{}),
		channels: make(map[string]*redisSub),
		patterns: make(map[string]*redisSub),
	}
	r.lastRecv.Store(time.Now().UnixNano())
	r.wg.Add(2)
	go r.receive()
	go r.healthCheck()
	return r, nil
}

func newRedisClient(opts RedisOptions) (redis.UniversalClient, error) {
	first, err := redis.ParseURL(opts.URLs[0])
	if err != nil {
		return nil, fmt.Errorf("parse url %q: %w", redactURL(opts.URLs[0]), err)
	}
	// The name tells the gateway's connections apart in CLIENT LIST.
	name := redisClientName(opts.ID)
	if !opts.Cluster && len(opts.URLs) == 1 {
		first.ClientName = name
		return redis.NewClient(first), nil
	}
	addrs := []string{first.Addr}
	for _, u := range opts.URLs[1:] {
		o, err := redis.ParseURL(u)
		if err != nil {
			return nil, fmt.Errorf("parse url %q: %w", redactURL(u), err)
		}
		addrs = append(addrs, o.Addr)
	}
	return redis.NewClusterClient(&redis.ClusterOptions{
		Addrs:      addrs,
		ClientName: name,
		Username:   first.Username,
		Password:   first.Password,
		TLSConfig:  first.TLSConfig,
	}), nil
}

// redisClientName is "edgate:<id>" with characters CLIENT SETNAME refuses replaced.
func redisClientName(id string) string {
	return "edgate:" + strings.Map(func(r rune) rune {
		if r <= ' ' || r > '~' {
			return '_'
		}
		return r
	}, id)
}

// redactURL drops credentials from a URL for error messages.
func redactURL(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	if at := strings.LastIndex(rest, "@"); at >= 0 {
		rest = "***@" + rest[at+1:]
	}
	return scheme + "://" + rest
}

// ID returns the provider id.
func (r *Redis) ID() string { return r.opts.ID }

// Kind returns "redis".
func (r *Redis) Kind() string { return "redis" }

// Stats returns the provider's counters.
func (r *Redis) Stats() ProviderStats { return r.stats.snapshot() }

// isRedisGlob reports whether a channel is a pattern for PSUBSCRIBE.
func isRedisGlob(channel string) bool { return strings.ContainsAny(channel, "*?[") }

// Consume subscribes to channels; a channel with glob characters is a pattern. It returns
// once Redis confirmed every new subscription (or after SubscribeTimeout, or at once when
// the server is unreachable: the subscriptions are then made on reconnect). Events carry
// the concrete channel as Subject and no Position. fn is called from the provider's single
// receive goroutine, in the order Redis delivered the messages. As in Redis itself, a
// message matching several of a consumer's channels and patterns arrives once per match.
func (r *Redis) Consume(ctx context.Context, channels []string, opts ConsumeOptions, fn func([]Event)) (Consumer, error) {
	if opts.StartAfter != "" {
		return nil, fmt.Errorf("redis provider %q: consume %v: %w", r.opts.ID, channels, ErrNoResume)
	}
	if opts.Stream != nil {
		return nil, fmt.Errorf("redis provider %q: stream options are only supported by NATS", r.opts.ID)
	}
	if len(channels) == 0 {
		return nil, fmt.Errorf("redis provider %q: no channels to consume", r.opts.ID)
	}
	c := &redisConsumer{provider: r, fn: fn}
	for _, ch := range channels {
		if ch == "" {
			return nil, fmt.Errorf("redis provider %q: consume: empty channel name", r.opts.ID)
		}
		if isRedisGlob(ch) {
			if !slices.Contains(c.patterns, ch) {
				c.patterns = append(c.patterns, ch)
			}
		} else if !slices.Contains(c.channels, ch) {
			c.channels = append(c.channels, ch)
		}
	}

	subCtx, cancel := context.WithTimeout(ctx, r.opts.SubscribeTimeout)
	defer cancel()

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("redis provider %q: closed", r.opts.ID)
	}
	var waits []chan struct{}
	newChannels := attach(r.channels, c.channels, c, &waits)
	newPatterns := attach(r.patterns, c.patterns, c, &waits)
	subErr := r.write(subCtx, r.ps.Subscribe, "subscribe", newChannels)
	if err := r.write(subCtx, r.ps.PSubscribe, "psubscribe", newPatterns); subErr == nil {
		subErr = err
	}
	r.mu.Unlock()

	if subErr != nil {
		// The server is unreachable: the subscriptions are recorded in the PubSub and sent
		// when the receive loop reconnects.
		r.opts.Log.Warn().Err(subErr).Strs("channels", channels).
			Msg("redis subscribe not confirmed; it is made when the server is reachable")
		return c, nil
	}
	for _, w := range waits {
		select {
		case <-w:
		case <-subCtx.Done():
			if ctx.Err() != nil {
				_ = c.Close()
				return nil, fmt.Errorf("redis provider %q: subscribe %v: %w", r.opts.ID, channels, ctx.Err())
			}
			r.opts.Log.Warn().Strs("channels", channels).Dur("timeout", r.opts.SubscribeTimeout).
				Msg("redis subscribe not confirmed in time; continuing")
			return c, nil
		}
	}
	return c, nil
}

// attach adds c to the subscriptions of names in table and returns the names that need a
// SUBSCRIBE (no consumer had them). It appends the ready channel of every subscription
// that the server has not confirmed yet to waits. r.mu must be held.
func attach(table map[string]*redisSub, names []string, c *redisConsumer, waits *[]chan struct{}) (subscribe []string) {
	for _, name := range names {
		s := table[name]
		if s == nil {
			s = &redisSub{ready: make(chan struct{})}
			table[name] = s
			subscribe = append(subscribe, name)
			s.unconfirmed++
		}
		s.consumers = append(slices.Clip(s.consumers), c)
		if !s.confirmed {
			*waits = append(*waits, s.ready)
		}
	}
	return subscribe
}

// write sends one (P)SUBSCRIBE or (P)UNSUBSCRIBE for names. A failed write leaves the
// names recorded in the PubSub (it re-sends them after reconnecting), but a reconnect that
// happened inside the failed call resubscribed before they were recorded, so the write is
// tried once more. r.mu must be held.
func (r *Redis) write(ctx context.Context, cmd func(context.Context, ...string) error, what string, names []string) error {
	// An empty list would mean "all" to UNSUBSCRIBE.
	if len(names) == 0 {
		return nil
	}
	err := cmd(ctx, names...)
	if err != nil && ctx.Err() == nil {
		err = cmd(ctx, names...)
	}
	if err != nil {
		return fmt.Errorf("redis %s %v: %w", what, names, err)
	}
	return nil
}

// detach removes c from the subscriptions of names and returns the names no consumer uses
// any more. r.mu must be held.
func detach(table map[string]*redisSub, names []string, c *redisConsumer) (unsubscribe []string) {
	for _, name := range names {
		s := table[name]
		if s == nil {
			continue
		}
		i := slices.Index(s.consumers, c)
		if i < 0 {
			continue
		}
		s.consumers = slices.Delete(slices.Clone(s.consumers), i, i+1)
		if len(s.consumers) == 0 {
			delete(table, name)
			unsubscribe = append(unsubscribe, name)
		}
	}
	return unsubscribe
}

// receive reads the pub/sub connection and routes every message to the consumers of the
// channel or pattern it matched. It is the only reader of r.ps.
func (r *Redis) receive() {
	defer r.wg.Done()
	ctx := context.Background()
	var failures int
	for {
		msg, err := r.ps.Receive(ctx)
		if err != nil {
			if r.stopping() {
				return
			}
			r.stats.consumeErrors.Add(1)
			r.connectionLost()
			if failures == 0 {
				r.opts.Log.Warn().Err(err).Msg("redis pub/sub connection lost; reconnecting")
			}
			failures++
			backoff := min(100*time.Millisecond<<min(failures-1, 4), time.Second)
			select {
			case <-r.stop:
				return
			case <-time.After(backoff):
			}
			continue
		}
		if failures > 0 {
			r.opts.Log.Info().Int("failures", failures).Msg("redis pub/sub connection restored")
			failures = 0
		}
		r.lastRecv.Store(time.Now().UnixNano())
		switch m := msg.(type) {
		case *redis.Message:
			r.route(m)
		case *redis.Subscription:
			switch m.Kind {
			case "subscribe":
				r.confirm(r.channels, m.Channel)
			case "psubscribe":
				r.confirm(r.patterns, m.Channel)
			}
		}
	}
}

func (r *Redis) route(m *redis.Message) {
	r.mu.Lock()
	var s *redisSub
	if m.Pattern != "" {
		s = r.patterns[m.Pattern]
	} else {
		s = r.channels[m.Channel]
	}
	var consumers []*redisConsumer
	if s != nil {
		consumers = s.consumers
	}
	r.mu.Unlock()

	// A message still in flight when its last consumer unsubscribed has no one to go to.
	if len(consumers) == 0 {
		return
	}
	r.stats.received.Add(1)
	// A pub/sub read returns one message: a batch of one, in a slice only this goroutine
	// (the only reader) uses.
	r.one[0] = Event{Subject: m.Channel, Data: []byte(m.Payload)}
	for _, c := range consumers {
		c.deliver(r.one[:])
	}
	r.one[0] = Event{}
}

// confirm marks a subscription as confirmed by the server once every SUBSCRIBE written for
// it has been answered; an answer to an earlier SUBSCRIBE of the same name (before an
// unsubscribe and a new subscribe) does not count for the new one.
func (r *Redis) confirm(table map[string]*redisSub, name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := table[name]
	if s == nil {
		return
	}
	if s.unconfirmed > 0 {
		s.unconfirmed--
	}
	if s.unconfirmed == 0 && !s.confirmed {
		s.confirmed = true
		close(s.ready)
	}
}

// connectionLost marks every subscription unconfirmed: the PubSub re-sends them on the new
// connection, and their confirmations arrive again.
func (r *Redis) connectionLost() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, table := range []map[string]*redisSub{r.channels, r.patterns} {
		for _, s := range table {
			s.unconfirmed = 0
			if s.confirmed {
				s.confirmed = false
				s.ready = make(chan struct{})
			}
		}
	}
}

// healthCheck pings the pub/sub connection when it has been silent for a while. A failed
// ping write makes the PubSub replace the connection; the pong itself counts as traffic.
func (r *Redis) healthCheck() {
	defer r.wg.Done()
	interval := r.opts.HealthCheckInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-r.stop:
			return
		case <-t.C:
		}
		if time.Since(time.Unix(0, r.lastRecv.Load())) < interval {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), interval)
		err := r.ps.Ping(ctx)
		cancel()
		if err != nil && !r.stopping() {
			r.opts.Log.Debug().Err(err).Msg("redis pub/sub ping failed")
		}
	}
}

func (r *Redis) stopping() bool {
	select {
	case <-r.stop:
		return true
	default:
		return false
	}
}

// Publish sends data to channel with PUBLISH. Glob characters in channel are literal here.
func (r *Redis) Publish(ctx context.Context, channel string, data []byte) error {
	if channel == "" {
		r.stats.publishErrors.Add(1)
		return fmt.Errorf("redis provider %q: publish: empty channel name", r.opts.ID)
	}
	ctx, cancel := context.WithTimeout(ctx, r.opts.PublishTimeout)
	defer cancel()
	if err := r.client.Publish(ctx, channel, data).Err(); err != nil {
		r.stats.publishErrors.Add(1)
		return fmt.Errorf("redis provider %q: publish to %q: %w", r.opts.ID, channel, err)
	}
	r.stats.published.Add(1)
	return nil
}

// Close stops every consumer, the pub/sub connection and the client.
func (r *Redis) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var consumers []*redisConsumer
	for _, table := range []map[string]*redisSub{r.channels, r.patterns} {
		for _, s := range table {
			consumers = append(consumers, s.consumers...)
		}
	}
	r.mu.Unlock()
	for _, c := range consumers {
		c.stop()
	}

	close(r.stop)
	psErr := r.ps.Close()
	r.wg.Wait()
	err := r.client.Close()
	if psErr != nil && !errors.Is(psErr, redis.ErrClosed) {
		return fmt.Errorf("redis provider %q: close: %w", r.opts.ID, psErr)
	}
	if err != nil && !errors.Is(err, redis.ErrClosed) {
		return fmt.Errorf("redis provider %q: close: %w", r.opts.ID, err)
	}
	return nil
}

type redisConsumer struct {
	provider           *Redis
	channels, patterns []string
	fn                 func([]Event)

	// mu makes Close wait for a delivery in progress, so fn is never called after Close
	// returns.
	mu     sync.Mutex
	closed bool
}

func (c *redisConsumer) deliver(batch []Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.closed {
		c.fn(batch)
	}
}

// stop ends deliveries; it reports whether this call stopped the consumer.
func (c *redisConsumer) stop() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	return true
}

// Close stops deliveries and unsubscribes the channels and patterns no other consumer uses.
// Close must not be called from fn.
func (c *redisConsumer) Close() error {
	if !c.stop() {
		return nil
	}
	r := c.provider
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.opts.SubscribeTimeout)
	defer cancel()
	err := r.write(ctx, r.ps.Unsubscribe, "unsubscribe", detach(r.channels, c.channels, c))
	if perr := r.write(ctx, r.ps.PUnsubscribe, "punsubscribe", detach(r.patterns, c.patterns, c)); err == nil {
		err = perr
	}
	if err != nil {
		// The PubSub forgot the names already, so the next connection will not carry them.
		r.opts.Log.Warn().Err(err).Msg("redis unsubscribe failed")
	}
	return nil
}
