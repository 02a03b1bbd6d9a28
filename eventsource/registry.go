package eventsource

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/latch"
	"github.com/edgate/edgate/internal/telemetry"
)

// Registry holds the configured providers and shares broker consumers: there is exactly one
// consumer per distinct (provider id, sorted de-duplicated subject set, stream options),
// reference-counted by its subscribers and closed when the last one leaves.
//
// Lock order: mu, then a provider's own locks. The registry never holds mu while calling a
// provider's Consume, a Consumer's Close or a subscriber's fn.
type Registry struct {
	log zerolog.Logger

	mu        sync.Mutex
	providers map[string]*registeredProvider
	closed    bool

	// background counts consumer creations and closes in flight; Close waits for them.
	background sync.WaitGroup
	// resumes numbers the consumers of resumed streams, which are never shared.
	resumes atomic.Uint64

	metrics *telemetry.Metrics // publish durations; nil: none

	// beforeDispatch is called once per batch of every consumer; nil: none, and batches
	// go to the subscribers on the provider's goroutine.
	beforeDispatch BeforeDispatch
	hookTimeout    time.Duration
}

// SetMetrics makes Publish record its durations in m. Call it before publishing.
func (r *Registry) SetMetrics(m *telemetry.Metrics) { r.metrics = m }

// SetBeforeDispatch makes every consumer call hook once per batch before its subscribers
// see it (see dispatcher). The hook runs on a goroutine of each consumer's own, so that a
// slow hook delays only that consumer's events; an error or panic drops the batch, and so
// does a call that overruns timeout (its context ends then). Call it before the first
// Subscribe; a nil hook (the default) costs nothing.
func (r *Registry) SetBeforeDispatch(hook BeforeDispatch, timeout time.Duration) {
	r.beforeDispatch, r.hookTimeout = hook, timeout
}

type registeredProvider struct {
	p  Provider
	id ProviderID
	// own counts the traffic that passed through the registry, reported for providers that
	// do not implement StatsReporter.
	own providerCounters
	// consumers are the provider's shared consumers by consumerKey (guarded by
	// Registry.mu). A map per provider, so that the key of a consumer of one subject is
	// the subject itself, not a string of its own per subscriber.
	consumers map[string]*sharedConsumer
}

// sharedConsumer is one broker consumer and its subscribers.
type sharedConsumer struct {
	key      string
	provider *registeredProvider
	subjects []string
	// dispatch runs the registry's BeforeDispatch; nil without one.
	dispatch *dispatcher

	// subs is replaced, never mutated, so delivery reads it without a lock.
	subs atomic.Pointer[[]*subscriber]

	// Guarded by Registry.mu.
	refs     int
	consumer Consumer    // set once created
	ready    latch.Latch // fired when the creation finished, with err or consumer set
	err      error
}

// subscriber is one Subscribe call; its unsubscribe method is what Subscribe returns.
type subscriber struct {
	fn   func(Event)
	gone atomic.Bool // set once by unsubscribe, which then does the rest
	r    *Registry
	sc   *sharedConsumer
}

// NewRegistry returns an empty registry. A zero logger disables logging.
func NewRegistry(log zerolog.Logger) *Registry {
	return &Registry{
		log:       log,
		providers: make(map[string]*registeredProvider),
	}
}

// Add registers p under p.ID(). A second provider with the same id is an error.
func (r *Registry) Add(p Provider) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return fmt.Errorf("add %s provider %q: registry closed", p.Kind(), p.ID())
	}
	if prev, ok := r.providers[p.ID()]; ok {
		return fmt.Errorf("add %s provider %q: id already used by a %s provider", p.Kind(), p.ID(), prev.p.Kind())
	}
	r.providers[p.ID()] = &registeredProvider{p: p, id: providerIDOf(p), consumers: make(map[string]*sharedConsumer)}
	return nil
}

// Provider returns the provider registered under id.
func (r *Registry) Provider(id string) (Provider, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.providers[id]
	if !ok {
		return nil, false
	}
	return rp.p, true
}

func (r *Registry) lookup(id string) (*registeredProvider, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("event registry closed")
	}
	rp, ok := r.providers[id]
	if !ok {
		return nil, fmt.Errorf("unknown event provider %q", id)
	}
	return rp, nil
}

// Subscribe calls fn with every event of the shared consumer for (providerID, subjects,
// opts), creating the consumer if this is its first subscriber. The order of subjects and
// duplicates do not matter.
//
// fn runs on the consumer's delivery goroutine, in broker order, and must not block: it is
// called for every subscriber of the consumer in turn. unsubscribe is idempotent and may be
// called from any goroutine, fn included. After unsubscribe returns, fn is not called again,
// except that a delivery already running on another goroutine may finish its call.
func (r *Registry) Subscribe(ctx context.Context, providerID string, subjects []string, opts ConsumeOptions, fn func(Event)) (unsubscribe func(), err error) {
	subjects = normalizeSubjects(subjects)
	rp, err := r.lookup(providerID)
	if err != nil {
		return nil, fmt.Errorf("subscribe %v: %w", subjects, err)
	}
	if len(subjects) == 0 {
		return nil, fmt.Errorf("%s provider %q subscribe: no subjects", rp.p.Kind(), providerID)
	}
	if fn == nil {
		return nil, fmt.Errorf("%s provider %q subscribe %v: nil handler", rp.p.Kind(), providerID, subjects)
	}
	key := consumerKey(subjects, opts)
	if opts.StartAfter != "" {
		// A resumed consumer is private: one that another subscriber started from the
		// same position earlier has moved on, and joining it would skip what it delivered
		// before. (Clients of a failed instance reconnect with the same position at
		// slightly different times.)
		key += "\x00\x03resume\x00" + strconv.FormatUint(r.resumes.Add(1), 10)
	}
	sub := &subscriber{fn: fn, r: r}

	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil, fmt.Errorf("%s provider %q subscribe %v: event registry closed", rp.p.Kind(), providerID, subjects)
	}
	sc, exists := rp.consumers[key]
	if !exists {
		sc = &sharedConsumer{key: key, provider: rp, subjects: subjects}
		if r.beforeDispatch != nil {
			sc.dispatch = newDispatcher(sc, r.beforeDispatch, r.hookTimeout, r.log)
		}
		rp.consumers[key] = sc
		r.background.Add(1)
	}
	sc.refs++
	sc.addSubscriber(sub)
	sub.sc = sc
	r.mu.Unlock()

	unsubscribe = sub.unsubscribe
	if !exists {
		err = r.create(ctx, sc, opts)
	} else {
		select {
		case <-sc.ready.Done():
			err = sc.err
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	if err != nil {
		unsubscribe()
		return nil, fmt.Errorf("%s provider %q subscribe %v: %w", rp.p.Kind(), providerID, subjects, err)
	}
	return unsubscribe, nil
}

// create runs the provider's Consume for the first subscriber of sc.
func (r *Registry) create(ctx context.Context, sc *sharedConsumer, opts ConsumeOptions) error {
	defer r.background.Done()
	consumer, err := sc.provider.p.Consume(ctx, sc.subjects, opts, sc.deliver)

	r.mu.Lock()
	sc.consumer, sc.err = consumer, err
	sc.ready.Fire()
	if err != nil {
		sc.provider.own.consumeErrors.Add(1)
		if sc.provider.consumers[sc.key] == sc {
			delete(sc.provider.consumers, sc.key)
		}
		r.mu.Unlock()
		if sc.dispatch != nil {
			sc.dispatch.close()
		}
		return err
	}
	// Everybody left (or the registry closed) while Consume ran: nobody will close it.
	closed := r.closed
	orphan := sc.refs == 0 || closed
	if orphan && sc.provider.consumers[sc.key] == sc {
		delete(sc.provider.consumers, sc.key)
	}
	r.mu.Unlock()
	if orphan {
		r.closeConsumer(sc)
	}
	if closed {
		return errors.New("event registry closed")
	}
	return nil
}

// unsubscribe is what Subscribe returns. The first call marks sub gone, so that no
// delivery calls fn once any call has returned, and does the rest; later calls return at
// once. (A sync.Once and a closure per subscriber were 64 bytes of heap each.)
func (sub *subscriber) unsubscribe() {
	if !sub.gone.CompareAndSwap(false, true) {
		return
	}
	r, sc := sub.r, sub.sc
	r.mu.Lock()
	sc.removeSubscriber(sub)
	sc.refs--
	last := sc.refs == 0 && sc.provider.consumers[sc.key] == sc
	if last {
		delete(sc.provider.consumers, sc.key)
	}
	created := sc.consumer != nil
	if last && created {
		r.background.Add(1)
	}
	r.mu.Unlock()
	// A consumer still being created is closed by create when it sees refs == 0.
	if last && created {
		// Closing may wait for the delivery goroutine, and unsubscribe may run on it, so
		// the close happens on a goroutine of its own.
		go func() {
			defer r.background.Done()
			r.closeConsumer(sc)
		}()
	}
}

func (r *Registry) closeConsumer(sc *sharedConsumer) {
	err := sc.consumer.Close()
	if sc.dispatch != nil {
		sc.dispatch.close() // after the consumer, which then pushes no more
	}
	if err != nil {
		r.log.Warn().Err(err).Str("provider", sc.provider.p.ID()).Strs("subjects", sc.subjects).Msg("closing event consumer")
		return
	}
	r.log.Debug().Str("provider", sc.provider.p.ID()).Strs("subjects", sc.subjects).Msg("event consumer closed")
}

func (sc *sharedConsumer) addSubscriber(s *subscriber) {
	var next []*subscriber
	if cur := sc.subs.Load(); cur != nil {
		next = append(make([]*subscriber, 0, len(*cur)+1), *cur...)
	}
	next = append(next, s)
	sc.subs.Store(&next)
}

func (sc *sharedConsumer) removeSubscriber(s *subscriber) {
	cur := sc.subs.Load()
	if cur == nil {
		return
	}
	next := make([]*subscriber, 0, len(*cur))
	for _, o := range *cur {
		if o != s {
			next = append(next, o)
		}
	}
	sc.subs.Store(&next)
}

// deliver is the provider callback: it hands a batch to the dispatcher, or without one
// fans it out to the current subscribers.
func (sc *sharedConsumer) deliver(batch []Event) {
	sc.provider.own.received.Add(uint64(len(batch)))
	var now time.Duration
	for i := range batch {
		if batch[i].Received == 0 {
			if now == 0 {
				now = telemetry.Now()
			}
			batch[i].Received = now
		}
	}
	if sc.dispatch != nil {
		sc.dispatch.push(batch)
		return
	}
	sc.fanOut(batch)
}

// fanOut calls every current subscriber with each event of batch, in order.
func (sc *sharedConsumer) fanOut(batch []Event) {
	subs := sc.subs.Load()
	if subs == nil {
		return
	}
	for i := range batch {
		for _, s := range *subs {
			if !s.gone.Load() {
				s.fn(batch[i])
			}
		}
	}
}

// Publish sends data to subject through the provider providerID.
func (r *Registry) Publish(ctx context.Context, providerID, subject string, data []byte) error {
	return r.PublishWithHeader(ctx, providerID, subject, data, nil)
}

// PublishWithHeader is Publish with the message header h. A non-empty h needs a provider
// that implements HeaderPublisher; others fail with ErrNoHeaders and send nothing.
func (r *Registry) PublishWithHeader(ctx context.Context, providerID, subject string, data []byte, h Header) error {
	rp, err := r.lookup(providerID)
	if err != nil {
		return fmt.Errorf("publish %q: %w", subject, err)
	}
	hp, headers := rp.p.(HeaderPublisher)
	if len(h) > 0 && !headers {
		return fmt.Errorf("%s provider %q publish %q: %w", rp.p.Kind(), providerID, subject, ErrNoHeaders)
	}
	start := time.Now()
	ctx, span := telemetry.StartPublish(ctx, providerID, subject)
	if len(h) > 0 {
		err = hp.PublishWithHeader(ctx, subject, data, h)
	} else {
		err = rp.p.Publish(ctx, subject, data)
	}
	telemetry.End(span, err)
	r.metrics.ObservePublish(ctx, providerID, time.Since(start))
	countPublish(&rp.own, err)
	if err != nil {
		return fmt.Errorf("%s provider %q publish %q: %w", rp.p.Kind(), providerID, subject, err)
	}
	return nil
}

// Request sends a request to subject and returns the reply. The provider must implement
// Requester.
func (r *Registry) Request(ctx context.Context, providerID, subject string, data []byte) ([]byte, error) {
	rp, err := r.lookup(providerID)
	if err != nil {
		return nil, fmt.Errorf("request %q: %w", subject, err)
	}
	req, ok := rp.p.(Requester)
	if !ok {
		return nil, fmt.Errorf("%s provider %q request %q: request/reply not supported by %s providers", rp.p.Kind(), providerID, subject, rp.p.Kind())
	}
	reply, err := req.Request(ctx, subject, data)
	if err != nil {
		return nil, fmt.Errorf("%s provider %q request %q: %w", rp.p.Kind(), providerID, subject, err)
	}
	return reply, nil
}

// Consumers returns the number of open broker consumers.
func (r *Registry) Consumers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, rp := range r.providers {
		for _, sc := range rp.consumers {
			if sc.consumer != nil {
				n++
			}
		}
	}
	return n
}

// Stats returns the counters of every provider by id.
func (r *Registry) Stats() map[string]ProviderStats {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make(map[string]ProviderStats, len(r.providers))
	for id, rp := range r.providers {
		if sr, ok := rp.p.(StatsReporter); ok {
			out[id] = sr.Stats()
		} else {
			out[id] = rp.own.snapshot()
		}
	}
	return out
}

// Close closes every consumer, then every provider. Subscribe and Publish fail afterwards.
// Close must not be called from a subscriber's fn.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	var open []*sharedConsumer
	for _, rp := range r.providers {
		for key, sc := range rp.consumers {
			if sc.consumer != nil {
				open = append(open, sc)
			}
			delete(rp.consumers, key)
		}
	}
	providers := make([]*registeredProvider, 0, len(r.providers))
	for _, rp := range r.providers {
		providers = append(providers, rp)
	}
	r.mu.Unlock()

	for _, sc := range open {
		r.closeConsumer(sc)
	}
	var errs []error
	for _, rp := range providers {
		if err := rp.p.Close(); err != nil {
			errs = append(errs, fmt.Errorf("close %s provider %q: %w", rp.p.Kind(), rp.p.ID(), err))
		}
	}
	// Consumers still being created fail fast once their provider is closed.
	r.background.Wait()
	return errors.Join(errs...)
}

// normalizeSubjects returns the sorted subjects without duplicates, in a new slice.
func normalizeSubjects(subjects []string) []string {
	out := slices.Clone(subjects)
	slices.Sort(out)
	return slices.Compact(out)
}

// consumerKey identifies a shared consumer of a provider. Subjects cannot contain NUL, so
// it separates the parts unambiguously; the common key, one subject and no options, is
// the subject itself (a subject per user keeps one per subscriber).
func consumerKey(subjects []string, opts ConsumeOptions) string {
	if len(subjects) == 1 && opts.Stream == nil && opts.StartAfter == "" {
		return subjects[0]
	}
	var b strings.Builder
	for i, s := range subjects {
		if i > 0 {
			b.WriteByte(0)
		}
		b.WriteString(s)
	}
	if so := opts.Stream; so != nil {
		b.WriteString("\x00\x01stream\x00")
		b.WriteString(so.StreamName)
		b.WriteByte(0)
		b.WriteString(so.ConsumerName)
		b.WriteByte(0)
		b.WriteString(strconv.FormatInt(int64(so.InactiveThreshold), 10))
	}
	if opts.StartAfter != "" {
		// A resumed consumer is private to the position it resumes from.
		b.WriteString("\x00\x02after\x00")
		b.WriteString(opts.StartAfter)
	}
	return b.String()
}

// countPublish records the outcome of one publish in c.
func countPublish(c *providerCounters, err error) {
	if err != nil {
		c.publishErrors.Add(1)
		return
	}
	c.published.Add(1)
}
