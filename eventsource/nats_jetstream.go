package eventsource

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Timings of JetStream consumers.
const (
	// jetStreamStopTimeout bounds how long Close waits for the client library to stop.
	jetStreamStopTimeout = 5 * time.Second
	// jetStreamRetryMin and jetStreamRetryMax bound the pause between attempts to create
	// the durable consumer while the server is unreachable or the consumer was lost.
	jetStreamRetryMin = 100 * time.Millisecond
	jetStreamRetryMax = 10 * time.Second
	// jetStreamAttemptMin and jetStreamAttemptMax bound one attempt's JetStream API
	// requests. The first attempts are short: a request that went to a cluster node that
	// just died (or sat in the reconnect buffer) is given up quickly and sent again over
	// the new connection, instead of waiting out the client library's 5s; later attempts
	// double their time, so a merely slow server still answers.
	jetStreamAttemptMin = time.Second
	jetStreamAttemptMax = 5 * time.Second
	// streamReplicasTTL is how long a stream's replica count is trusted before it is
	// looked up again for new resume consumers.
	streamReplicasTTL = time.Minute
)

// jetStreamConsumer is a durable JetStream consumer delivering to one fn. A supervisor
// goroutine re-creates the durable consumer when the server lost it (deleted, expired
// during an outage) or when it could not be created because the server was unreachable.
type jetStreamConsumer struct {
	n        *NATS
	fn       func([]Event)
	name     string
	stream   string
	subjects []string
	inactive time.Duration

	closed  atomic.Bool
	cancel  context.CancelFunc // cancels a background attempt on Close
	ctx     context.Context
	lastSeq atomic.Uint64 // stream sequence of the last delivered event
	// ephemeral consumers resume one client's stream (see consumeStream).
	ephemeral bool
	kick      chan struct{} // capacity 1: asks the supervisor to re-create
	stop      chan struct{}
	done      chan struct{}
	once      sync.Once

	mu sync.Mutex
	cc jetstream.ConsumeContext // current delivery; nil while there is none
}

// durableName is the durable consumer name of one subject set: ConsumerName, then the
// instance id, so that every replica has its own cursor and gets every event, then a hash
// of the subject set, so that the subject sets of one templated field (employees.1,
// employees.2) each have their own cursor instead of re-filtering one and splitting its
// events. The name is stable across restarts, so a restarted replica resumes.
func (n *NATS) durableName(consumerName string, subjects []string) string {
	sorted := slices.Clone(subjects)
	slices.Sort(sorted)
	h := fnv.New64a()
	for _, s := range slices.Compact(sorted) {
		_, _ = h.Write([]byte(s))
		_, _ = h.Write([]byte{0})
	}
	name := consumerName
	if n.instanceID != "" {
		name += "-" + n.instanceID
	}
	return name + "-" + strconv.FormatUint(h.Sum64(), 16)
}

// consumeStream creates or updates the durable consumer and starts delivery. A new durable
// consumer starts at the beginning of the stream (Cosmo's behaviour); an existing one
// resumes after the last event it acknowledged, so events published while nobody was
// subscribed arrive first. When the server is unreachable, the consumer is created in the
// background once it is back.
//
// With startAfter (a stream sequence from Event.Position) the consumer is a private,
// ephemeral one that starts right after it: a client resuming a stream gets what it
// missed without moving the shared durable's cursor.
func (n *NATS) consumeStream(ctx context.Context, subjects []string, so StreamOptions, startAfter string, fn func([]Event)) (*jetStreamConsumer, error) {
	if so.StreamName == "" || so.ConsumerName == "" {
		return nil, fmt.Errorf("jetstream consume %v: stream name and consumer name are required", subjects)
	}
	name := n.durableName(so.ConsumerName, subjects)
	var after uint64
	if startAfter != "" {
		seq, err := strconv.ParseUint(startAfter, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("jetstream consume %v: resume position %q is not a stream sequence", subjects, startAfter)
		}
		after = seq
		name += "-resume-" + n.resumeNonce + "-" + strconv.FormatUint(n.resumeSeq.Add(1), 36)
	}
	if strings.ContainsAny(name, ".*> \t\r\n/\\") {
		return nil, fmt.Errorf("jetstream consumer name %q for %v: must not contain '.', '*', '>', '/', '\\' or whitespace", name, subjects)
	}
	c := &jetStreamConsumer{
		n:        n,
		fn:       fn,
		name:     name,
		stream:   so.StreamName,
		subjects: subjects,
		inactive: so.InactiveThreshold,
		kick:     make(chan struct{}, 1),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	if c.inactive <= 0 {
		c.inactive = n.inactive
	}
	if startAfter != "" {
		c.ephemeral = true
		c.lastSeq.Store(after)
	}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	err := errNotConnected
	if n.nc.IsConnected() {
		actx, cancel := context.WithTimeout(ctx, jetStreamAttemptMin)
		err = c.start(actx)
		cancel()
	}
	if err != nil && !c.retryable(err) {
		c.cancel()
		return nil, err
	}
	if err != nil {
		n.log.Warn().Err(err).Str("consumer", c.name).Str("stream", c.stream).Msg("jetstream consumer not created yet; retrying in the background")
		c.kick <- struct{}{}
	}
	go c.supervise()
	return c, nil
}

var errNotConnected = errors.New("not connected to the nats server")

// retryable tells the errors that come from an unreachable server.
func (c *jetStreamConsumer) retryable(err error) bool {
	return errors.Is(err, errNotConnected) || !c.n.nc.IsConnected() || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, nats.ErrTimeout)
}

// start creates or updates the durable consumer and replaces the current delivery.
func (c *jetStreamConsumer) start(ctx context.Context) error {
	cfg := jetstream.ConsumerConfig{
		Durable:           c.name,
		AckPolicy:         jetstream.AckExplicitPolicy,
		InactiveThreshold: c.inactive,
	}
	if c.ephemeral {
		cfg.Durable, cfg.Name = "", c.name
		// The server makes a consumer without a durable name R1 unless told otherwise; a
		// resumed stream must survive the loss of a node like its stream does.
		r, err := c.n.streamReplicas(ctx, c.stream)
		if err != nil {
			return c.startError(err)
		}
		cfg.Replicas = r
	}
	if len(c.subjects) == 1 {
		cfg.FilterSubject = c.subjects[0]
	} else {
		cfg.FilterSubjects = c.subjects
	}
	cons, err := c.n.js.Consumer(ctx, c.stream, c.name)
	if err == nil {
		// Keep its position; the update only applies a changed filter or threshold. An
		// update, not a create-or-update: if the server lost the consumer since the lookup
		// (deleted, expired), creating it again with its old policy would replay the
		// stream from the start; it is re-created after the last event below instead.
		prev := cons.CachedInfo().Config
		upd := cfg
		upd.DeliverPolicy, upd.OptStartSeq, upd.OptStartTime = prev.DeliverPolicy, prev.OptStartSeq, prev.OptStartTime
		cons, err = c.n.js.UpdateConsumer(ctx, c.stream, upd)
		if errors.Is(err, jetstream.ErrConsumerDoesNotExist) {
			err = jetstream.ErrConsumerNotFound
		}
	}
	if errors.Is(err, jetstream.ErrConsumerNotFound) {
		if seq := c.lastSeq.Load(); seq > 0 {
			// Re-created after the server lost it: go on after the last event we had
			// instead of replaying the stream.
			cfg.DeliverPolicy = jetstream.DeliverByStartSequencePolicy
			cfg.OptStartSeq = seq + 1
		}
		cons, err = c.n.js.CreateOrUpdateConsumer(ctx, c.stream, cfg)
	}
	if err != nil {
		return c.startError(err)
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed.Load() {
		return nil
	}
	if c.cc != nil {
		c.stopDelivery()
	}
	// Consume keeps a pull request open on the server, which sends messages as they come;
	// an idle consumer costs one heartbeat now and then, no polling.
	cc, err := cons.Consume(c.handle, jetstream.ConsumeErrHandler(c.consumeError))
	if err != nil {
		return fmt.Errorf("jetstream consume %q on stream %q: %w", c.name, c.stream, err)
	}
	c.cc = cc
	return nil
}

// startError gives an error of start its context.
func (c *jetStreamConsumer) startError(err error) error {
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return fmt.Errorf("jetstream stream %q not found (create it before subscribing to %v): %w", c.stream, c.subjects, err)
	}
	return fmt.Errorf("jetstream consumer %q on stream %q for %v: %w", c.name, c.stream, c.subjects, err)
}

// streamReplicas is the replica count of stream, cached for streamReplicasTTL.
func (n *NATS) streamReplicas(ctx context.Context, stream string) (int, error) {
	n.replicasMu.Lock()
	e, ok := n.replicas[stream]
	n.replicasMu.Unlock()
	if ok && time.Since(e.at) < streamReplicasTTL {
		return e.n, nil
	}
	st, err := n.js.Stream(ctx, stream)
	if err != nil {
		return 0, err
	}
	r := max(st.CachedInfo().Config.Replicas, 1)
	n.replicasMu.Lock()
	if n.replicas == nil {
		n.replicas = map[string]replicasEntry{}
	}
	n.replicas[stream] = replicasEntry{n: r, at: time.Now()}
	n.replicasMu.Unlock()
	return r, nil
}

type replicasEntry struct {
	n  int
	at time.Time
}

// stopDelivery stops the current delivery and waits for it. c.mu must be held.
func (c *jetStreamConsumer) stopDelivery() {
	c.cc.Stop()
	select {
	case <-c.cc.Closed():
	case <-time.After(jetStreamStopTimeout):
		c.n.log.Warn().Str("consumer", c.name).Msg("jetstream consumer not stopped in time")
	}
	c.cc = nil
}

func (c *jetStreamConsumer) supervise() {
	defer close(c.done)
	for {
		select {
		case <-c.stop:
			return
		case <-c.kick:
		}
		delay, attempt := jetStreamRetryMin, jetStreamAttemptMin
		for {
			for !c.n.nc.IsConnected() {
				// Requests would only wait in the reconnect buffer until they time out.
				select {
				case <-c.stop:
					return
				case <-time.After(jetStreamRetryMin):
				}
			}
			ctx, cancel := context.WithTimeout(c.ctx, attempt)
			attempt = min(2*attempt, jetStreamAttemptMax)
			err := c.start(ctx)
			cancel()
			if err == nil {
				c.n.log.Info().Str("consumer", c.name).Str("stream", c.stream).Uint64("after_seq", c.lastSeq.Load()).Msg("jetstream consumer (re)created")
				break
			}
			c.n.stats.consumeErrors.Add(1)
			c.n.log.Warn().Err(err).Str("consumer", c.name).Dur("retry_in", delay).Msg("jetstream consumer re-create failed")
			select {
			case <-c.stop:
				return
			case <-time.After(delay):
			}
			delay = min(2*delay, jetStreamRetryMax)
		}
	}
}

func (c *jetStreamConsumer) handle(msg jetstream.Msg) {
	if c.closed.Load() {
		// Hand it back at once, so the next consumer on this durable gets it without
		// waiting for the ack timeout.
		_ = msg.Nak()
		return
	}
	c.n.stats.received.Add(1)
	ev := Event{Subject: msg.Subject(), Data: msg.Data()}
	ev.TraceParent, ev.TraceState = natsTraceHeaders(msg.Headers())
	if meta, err := msg.Metadata(); err == nil {
		ev.Position = strconv.FormatUint(meta.Sequence.Stream, 10)
		c.lastSeq.Store(meta.Sequence.Stream)
	}
	c.fn([]Event{ev}) // the client hands over one message at a time
	if err := msg.Ack(); err != nil {
		c.n.stats.consumeErrors.Add(1)
		c.n.log.Warn().Err(err).Str("consumer", c.name).Str("position", ev.Position).Msg("jetstream ack failed; the event will be redelivered")
	}
}

func (c *jetStreamConsumer) consumeError(_ jetstream.ConsumeContext, err error) {
	if c.closed.Load() {
		return
	}
	c.n.stats.consumeErrors.Add(1)
	c.n.log.Warn().Err(err).Str("consumer", c.name).Msg("jetstream consume error")
	// The durable consumer is gone (deleted, or removed while the server was away).
	if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) || errors.Is(err, nats.ErrNoResponders) {
		select {
		case c.kick <- struct{}{}:
		default:
		}
	}
}

// Close stops delivery and waits until the last fn call returned; the durable consumer
// stays on the server (until its InactiveThreshold) to resume from. It must not be called
// from fn.
func (c *jetStreamConsumer) Close() error {
	c.once.Do(func() {
		c.closed.Store(true)
		c.cancel()
		close(c.stop)
		<-c.done
		c.mu.Lock()
		if c.cc != nil {
			c.stopDelivery()
		}
		c.mu.Unlock()
		c.n.forget(c)
	})
	return nil
}
