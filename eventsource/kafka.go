package eventsource

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/edgate/edgate/internal/telemetry"
)

// KafkaOptions configure a Kafka provider.
type KafkaOptions struct {
	// ID names the provider in directives and logs.
	ID string
	// Brokers are the seed brokers, "host:port".
	Brokers []string
	// TLS enables TLS to the brokers when set.
	TLS *tls.Config
	// SASL enables SASL authentication when set.
	SASL *KafkaSASL
	// FetchMaxWait is how long a broker may hold a fetch open waiting for records. It bounds
	// the delivery latency of a quiet topic; default 100ms.
	FetchMaxWait time.Duration
	// PublishTimeout bounds one Publish when the caller's context has no earlier deadline;
	// default 10s.
	PublishTimeout time.Duration
	// StartTimeout bounds the broker round trips of start-up: the reachability check of
	// StrictStartup and the end-offset lookup of each Consume; default 5s.
	StartTimeout time.Duration
	// PartitionCheckInterval is how often a running consumer looks for partitions added to
	// its topics; it reads new ones from their start, so their events reach the running
	// subscriptions too. Default 5s.
	PartitionCheckInterval time.Duration
	// StrictStartup makes NewKafka fail when no broker answers within StartTimeout. Without
	// it the provider starts anyway and its consumers begin once the brokers come up.
	StrictStartup bool
	// Log receives connection and consume errors; the zero value discards them.
	Log zerolog.Logger
}

// KafkaSASL selects SASL authentication.
type KafkaSASL struct {
	// Mechanism is "PLAIN", "SCRAM-SHA-256" or "SCRAM-SHA-512" (case-insensitive).
	Mechanism string
	Username  string
	Password  string
}

const (
	defaultKafkaFetchMaxWait   = 100 * time.Millisecond
	defaultKafkaPartitionCheck = 5 * time.Second
	defaultKafkaPublishTimeout = 10 * time.Second
	defaultKafkaStartTimeout   = 5 * time.Second
)

// Kafka is a Provider on a Kafka cluster with broadcast semantics: there is no consumer
// group, so every gateway instance (and every consumer within one) reads every record,
// starting at the end of each partition at the time Consume returns.
type Kafka struct {
	opts     KafkaOptions
	baseOpts []kgo.Opt
	producer *kgo.Client
	admin    *kadm.Client
	stats    providerCounters

	mu        sync.Mutex
	closed    bool
	consumers map[*kafkaConsumer]struct{}
}

var _ Provider = (*Kafka)(nil)

// NewKafka creates a Kafka provider. It does not wait for the brokers unless
// opts.StrictStartup is set.
func NewKafka(ctx context.Context, opts KafkaOptions) (*Kafka, error) {
	if len(opts.Brokers) == 0 {
		return nil, fmt.Errorf("kafka provider %q: no brokers", opts.ID)
	}
	if opts.FetchMaxWait <= 0 {
		opts.FetchMaxWait = defaultKafkaFetchMaxWait
	}
	if opts.PublishTimeout <= 0 {
		opts.PublishTimeout = defaultKafkaPublishTimeout
	}
	if opts.PartitionCheckInterval <= 0 {
		opts.PartitionCheckInterval = defaultKafkaPartitionCheck
	}
	if opts.StartTimeout <= 0 {
		opts.StartTimeout = defaultKafkaStartTimeout
	}
	opts.Log = opts.Log.With().Str("provider", opts.ID).Str("kind", "kafka").Logger()

	base := []kgo.Opt{
		kgo.SeedBrokers(opts.Brokers...),
		kgo.ClientID("edgate"),
		kgo.WithLogger(kafkaLogger{opts.Log}),
		// Refresh metadata at most once a second instead of every 5s when something fails
		// (broker restart, leader move, recreated topic): a live stream should recover fast.
		kgo.MetadataMinAge(time.Second),
		kgo.RetryBackoffFn(kafkaRetryBackoff),
	}
	if opts.TLS != nil {
		base = append(base, kgo.DialTLSConfig(opts.TLS.Clone()))
	}
	if opts.SASL != nil {
		mech, err := opts.SASL.mechanism()
		if err != nil {
			return nil, fmt.Errorf("kafka provider %q: %w", opts.ID, err)
		}
		base = append(base, kgo.SASL(mech))
	}

	producer, err := kgo.NewClient(append(base,
		// Publish must return within its deadline with an error when the brokers are down.
		// An idempotent producer may not fail a record once a request is in flight, so it
		// could outlive the caller's deadline; a gateway publish is a single fire of one
		// mutation, where a rare duplicate on retry is the better failure.
		kgo.DisableIdempotentWrite(),
		kgo.RecordDeliveryTimeout(opts.PublishTimeout),
		// Each Publish waits for its acknowledgement; the default 10ms linger would only add
		// that much latency to every mutation.
		kgo.ProducerLinger(0),
	)...)
	if err != nil {
		return nil, fmt.Errorf("kafka provider %q: %w", opts.ID, err)
	}

	if opts.StrictStartup {
		pingCtx, cancel := context.WithTimeout(ctx, opts.StartTimeout)
		err := producer.Ping(pingCtx)
		cancel()
		if err != nil {
			producer.Close()
			return nil, fmt.Errorf("kafka provider %q: brokers %v unreachable: %w", opts.ID, opts.Brokers, err)
		}
	}

	return &Kafka{
		opts:      opts,
		baseOpts:  base,
		producer:  producer,
		admin:     kadm.NewClient(producer),
		consumers: make(map[*kafkaConsumer]struct{}),
	}, nil
}

func (s *KafkaSASL) mechanism() (sasl.Mechanism, error) {
	switch strings.ToUpper(s.Mechanism) {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: s.Password}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: s.Password}.AsSha512Mechanism(), nil
	default:
		return nil, fmt.Errorf("unsupported SASL mechanism %q (want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512)", s.Mechanism)
	}
}

// ID returns the provider id.
func (k *Kafka) ID() string { return k.opts.ID }

// Kind returns "kafka".
func (k *Kafka) Kind() string { return "kafka" }

// Stats returns the provider's counters.
func (k *Kafka) Stats() ProviderStats { return k.stats.snapshot() }

// Consume starts a group-less consumer of topics (literal names). Before it returns, it
// pins every partition it can see to the partition's current end offset, so any record
// produced after Consume returns is delivered. Partitions it cannot see yet (brokers down,
// topic not created) start at their end once they appear. ctx bounds only that start-up
// lookup; the consumer runs until Close.
//
// Events carry as Position the offsets vector of the consumer after that record,
// "topic:partition:offset" entries joined by ",", so that ConsumeOptions.StartAfter can
// resume every partition exactly where a client left off.
func (k *Kafka) Consume(ctx context.Context, topics []string, opts ConsumeOptions, fn func([]Event)) (Consumer, error) {
	if opts.Stream != nil {
		return nil, fmt.Errorf("kafka provider %q: stream options are only supported by NATS", k.opts.ID)
	}
	if len(topics) == 0 {
		return nil, fmt.Errorf("kafka provider %q: no topics to consume", k.opts.ID)
	}
	uniq := make([]string, 0, len(topics))
	seen := make(map[string]bool, len(topics))
	for _, t := range topics {
		if err := validKafkaTopic(t); err != nil {
			return nil, fmt.Errorf("kafka provider %q: consume: %w", k.opts.ID, err)
		}
		if !seen[t] {
			seen[t] = true
			uniq = append(uniq, t)
		}
	}

	var resume offsetVector
	if opts.StartAfter != "" {
		v, err := parseOffsetVector(opts.StartAfter)
		if err != nil {
			return nil, fmt.Errorf("kafka provider %q: consume %v: %w", k.opts.ID, uniq, err)
		}
		resume = v
	}
	pinned, unresolved := k.endOffsets(ctx, uniq)
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("kafka provider %q: consume %v: %w", k.opts.ID, uniq, err)
	}
	// The position vector starts at the pinned ends (the last record before them), then a
	// resumed consumer starts after the client's last record instead.
	position := offsetVector{}
	for t, parts := range pinned {
		for p, o := range parts {
			position.set(t, p, o.EpochOffset().Offset-1)
		}
	}
	for t, parts := range resume {
		if !seen[t] {
			continue
		}
		if pinned == nil {
			pinned = map[string]map[int32]kgo.Offset{}
		}
		if pinned[t] == nil {
			pinned[t] = map[int32]kgo.Offset{}
			unresolved = slices.DeleteFunc(unresolved, func(u string) bool { return u == t })
		}
		for p, last := range parts {
			pinned[t][p] = kgo.NewOffset().At(last + 1)
			position.set(t, p, last)
		}
		for p := range pinned[t] {
			if _, ok := parts[p]; !ok {
				// Not in the client's position, which holds every partition its consumer
				// knew: added since, so all of it is news to the client.
				pinned[t][p] = kgo.NewOffset().AtStart()
			}
		}
	}

	clientOpts := append([]kgo.Opt{}, k.baseOpts...)
	clientOpts = append(clientOpts,
		kgo.FetchMaxWait(k.opts.FetchMaxWait),
		// Partitions that were not pinned (unknown at Consume time) start at their end,
		// like a live subscription. After a broker lost data the client's default reset
		// (rewind a minute before the last consumed record) applies: on a recreated cluster
		// that replays what was produced since, instead of skipping it.
		kgo.ConsumeStartOffset(kgo.NewOffset().AtEnd()),
	)
	if len(pinned) > 0 {
		clientOpts = append(clientOpts, kgo.ConsumePartitions(pinned))
	}
	if len(unresolved) > 0 {
		clientOpts = append(clientOpts, kgo.ConsumeTopics(unresolved...))
	}
	client, err := kgo.NewClient(clientOpts...)
	if err != nil {
		return nil, fmt.Errorf("kafka provider %q: consume %v: %w", k.opts.ID, uniq, err)
	}

	runCtx, cancel := context.WithCancel(context.Background())
	c := &kafkaConsumer{provider: k, client: client, cancel: cancel, done: make(chan struct{}), watched: make(chan struct{}), position: position}
	known := make(map[string]map[int32]bool, len(pinned))
	for t, parts := range pinned {
		known[t] = make(map[int32]bool, len(parts))
		for p := range parts {
			known[t][p] = true
		}
	}

	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		cancel()
		client.Close()
		return nil, fmt.Errorf("kafka provider %q: closed", k.opts.ID)
	}
	k.consumers[c] = struct{}{}
	k.mu.Unlock()

	go c.run(runCtx, fn)
	go c.watchPartitions(runCtx, known)
	return c, nil
}

// watchPartitions adds the partitions that appear in the consumer's pinned topics, read
// from their start: the client consumes only the partitions it was given, and a topic
// that gains partitions while subscribers are open would otherwise send them nothing from
// the new ones, without a word.
func (c *kafkaConsumer) watchPartitions(ctx context.Context, known map[string]map[int32]bool) {
	defer close(c.watched)
	if len(known) == 0 {
		return
	}
	topics := make([]string, 0, len(known))
	for t := range known {
		topics = append(topics, t)
	}
	every := c.provider.opts.PartitionCheckInterval
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		lctx, cancel := context.WithTimeout(ctx, every)
		details, err := c.provider.admin.ListTopics(lctx, topics...)
		cancel()
		if err != nil {
			continue // brokers unreachable: the next tick tries again
		}
		added := map[string]map[int32]kgo.Offset{}
		details.EachPartition(func(p kadm.PartitionDetail) {
			if p.Err != nil || known[p.Topic] == nil || known[p.Topic][p.Partition] {
				return
			}
			known[p.Topic][p.Partition] = true
			if added[p.Topic] == nil {
				added[p.Topic] = map[int32]kgo.Offset{}
			}
			added[p.Topic][p.Partition] = kgo.NewOffset().AtStart()
		})
		if len(added) > 0 {
			for t, parts := range added {
				c.provider.opts.Log.Info().Str("topic", t).Int("partitions", len(parts)).Msg("kafka topic gained partitions; consuming them from their start")
			}
			c.client.AddConsumePartitions(added)
		}
	}
}

// endOffsets looks up the current end offset of every partition of topics. Topics it could
// not resolve are returned in unresolved; a lookup failure is not an error, because the
// consumer recovers once the brokers answer.
func (k *Kafka) endOffsets(ctx context.Context, topics []string) (pinned map[string]map[int32]kgo.Offset, unresolved []string) {
	ctx, cancel := context.WithTimeout(ctx, k.opts.StartTimeout)
	defer cancel()
	listed, err := k.admin.ListEndOffsets(ctx, topics...)
	if err != nil {
		k.opts.Log.Warn().Err(err).Strs("topics", topics).
			Msg("kafka end offsets unavailable; the consumer starts at the end once brokers answer")
		return nil, topics
	}
	pinned = make(map[string]map[int32]kgo.Offset, len(topics))
	for _, t := range topics {
		parts, ok := listed[t]
		failed := !ok || len(parts) == 0
		for _, o := range parts {
			if o.Err != nil {
				failed = true
				k.opts.Log.Warn().Err(o.Err).Str("topic", t).Int32("partition", o.Partition).
					Msg("kafka end offset unavailable; the topic starts at the end once it appears")
				break
			}
		}
		if failed {
			unresolved = append(unresolved, t)
			continue
		}
		m := make(map[int32]kgo.Offset, len(parts))
		for p, o := range parts {
			m[p] = kgo.NewOffset().At(o.Offset).WithEpoch(o.LeaderEpoch)
		}
		pinned[t] = m
	}
	return pinned, unresolved
}

// Publish produces data to topic and waits for the broker's acknowledgement.
func (k *Kafka) Publish(ctx context.Context, topic string, data []byte) error {
	return k.PublishWithHeader(ctx, topic, data, nil)
}

// PublishWithHeader is Publish with record headers h: one record header per value, keys in
// sorted order (see HeaderPublisher).
func (k *Kafka) PublishWithHeader(ctx context.Context, topic string, data []byte, h Header) error {
	if err := validKafkaTopic(topic); err != nil {
		k.stats.publishErrors.Add(1)
		return fmt.Errorf("kafka provider %q: publish: %w", k.opts.ID, err)
	}
	ctx, cancel := context.WithTimeout(ctx, k.opts.PublishTimeout)
	defer cancel()
	err := k.produce(ctx, topic, data, h)
	if errors.Is(err, kerr.UnknownTopicID) {
		// The topic was deleted and recreated (or the cluster replaced): the client keeps
		// failing on the old topic ID until the topic is purged from it.
		k.opts.Log.Warn().Str("topic", topic).Msg("kafka topic was recreated; producing to the new one")
		k.producer.PurgeTopicsFromClient(topic)
		err = k.produce(ctx, topic, data, h)
	}
	if err != nil {
		k.stats.publishErrors.Add(1)
		return fmt.Errorf("kafka provider %q: publish to %q: %w", k.opts.ID, topic, err)
	}
	k.stats.published.Add(1)
	return nil
}

// produce waits for the broker's acknowledgement or ctx, whichever comes first. The client
// checks a record's context only between requests, so while the brokers are unreachable
// ProduceSync can outlast the caller's deadline by the client's retry backoff; the record
// then fails on its own by RecordDeliveryTimeout.
func (k *Kafka) produce(ctx context.Context, topic string, data []byte, h Header) error {
	done := make(chan error, 1)
	rec := &kgo.Record{Topic: topic, Value: data}
	for _, key := range slices.Sorted(maps.Keys(h)) {
		for _, v := range h[key] {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: key, Value: []byte(v)})
		}
	}
	if tp, ts := telemetry.TraceHeaders(ctx); tp != "" && !hasTraceParent(h) {
		rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "traceparent", Value: []byte(tp)})
		if ts != "" {
			rec.Headers = append(rec.Headers, kgo.RecordHeader{Key: "tracestate", Value: []byte(ts)})
		}
	}
	k.producer.Produce(ctx, rec, func(_ *kgo.Record, err error) {
		done <- err
	})
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close stops every consumer of the provider and the producer.
func (k *Kafka) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	consumers := make([]*kafkaConsumer, 0, len(k.consumers))
	for c := range k.consumers {
		consumers = append(consumers, c)
	}
	k.mu.Unlock()

	for _, c := range consumers {
		_ = c.Close()
	}
	k.producer.Close()
	return nil
}

type kafkaConsumer struct {
	// position is only touched by the run goroutine.
	position offsetVector
	provider *Kafka
	client   *kgo.Client
	cancel   context.CancelFunc
	done     chan struct{} // run returned
	watched  chan struct{} // watchPartitions returned
	once     sync.Once
}

// run delivers records from one goroutine, in the order the client returns them (per
// partition, the log order), each poll's records as one batch.
func (c *kafkaConsumer) run(ctx context.Context, fn func([]Event)) {
	defer close(c.done)
	log := c.provider.opts.Log
	var batch []Event // reused across polls
	for {
		fetches := c.client.PollFetches(ctx)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			return
		}
		var errs int
		var recreated []string
		fetches.EachError(func(topic string, partition int32, err error) {
			errs++
			c.provider.stats.consumeErrors.Add(1)
			if errors.Is(err, kerr.UnknownTopicID) {
				if !slices.Contains(recreated, topic) {
					recreated = append(recreated, topic)
				}
				return
			}
			log.Warn().Err(err).Str("topic", topic).Int32("partition", partition).Msg("kafka fetch error")
		})
		fetches.EachRecord(func(r *kgo.Record) {
			c.provider.stats.received.Add(1)
			c.position.set(r.Topic, r.Partition, r.Offset)
			ev := Event{
				Subject:  r.Topic,
				Data:     r.Value,
				Position: c.position.String(),
			}
			for _, h := range r.Headers {
				switch {
				case strings.EqualFold(h.Key, "traceparent"):
					ev.TraceParent = string(h.Value)
				case strings.EqualFold(h.Key, "tracestate"):
					ev.TraceState = string(h.Value)
				}
			}
			batch = append(batch, ev)
		})
		if len(batch) > 0 {
			fn(batch)
			clear(batch) // let the records be collected
			batch = batch[:0]
		}
		for _, topic := range recreated {
			c.resubscribeRecreated(ctx, topic)
		}
		if errs > len(recreated) && fetches.NumRecords() == 0 {
			// Errors the client returns are not retried inside it; pause so a persistent
			// one does not spin.
			select {
			case <-ctx.Done():
				return
			case <-time.After(250 * time.Millisecond):
			}
		}
	}
}

// resubscribeRecreated resumes a topic that was deleted and recreated (or whose cluster was
// replaced). The client stalls on the old topic ID by design until the topic is purged and
// added back. Everything in the new topic was written after the consumer last read the old
// one, so the new partitions are read from their start.
func (c *kafkaConsumer) resubscribeRecreated(ctx context.Context, topic string) {
	log := c.provider.opts.Log.With().Str("topic", topic).Logger()
	c.client.PurgeTopicsFromClient(topic)
	lookupCtx, cancel := context.WithTimeout(ctx, c.provider.opts.StartTimeout)
	listed, err := c.provider.admin.ListStartOffsets(lookupCtx, topic)
	cancel()
	parts := listed[topic]
	if err == nil {
		err = listed.Error()
	}
	if err != nil || len(parts) == 0 {
		log.Warn().Err(err).Msg("kafka topic was recreated; its partitions are unknown, resuming at its end")
		c.client.AddConsumeTopics(topic)
		return
	}
	offsets := make(map[int32]kgo.Offset, len(parts))
	for p := range parts {
		offsets[p] = kgo.NewOffset().AtStart()
	}
	log.Warn().Int("partitions", len(offsets)).Msg("kafka topic was recreated; reading the new topic from its start")
	c.client.AddConsumePartitions(map[string]map[int32]kgo.Offset{topic: offsets})
}

// Close stops the consumer and waits until its goroutine has returned; fn is not called
// after Close returns. Close must not be called from fn.
func (c *kafkaConsumer) Close() error {
	c.once.Do(func() {
		c.cancel()
		<-c.done
		<-c.watched
		c.client.Close()
		c.provider.mu.Lock()
		delete(c.provider.consumers, c)
		c.provider.mu.Unlock()
	})
	return nil
}

// kafkaRetryBackoff doubles from 100ms to at most 1s with ±20% jitter. The client default
// grows to 5s, which a live stream feels as a long gap after a broker comes back; a retry a
// second against a down cluster costs it nothing.
func kafkaRetryBackoff(fails int) time.Duration {
	d := time.Second
	if fails < 4 {
		d = 100 * time.Millisecond << max(fails-1, 0)
	}
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// validKafkaTopic applies Kafka's topic name rules, so a bad name fails at Consume or
// Publish instead of as an endless client retry.
func validKafkaTopic(t string) error {
	if t == "" || t == "." || t == ".." || len(t) > 249 {
		return fmt.Errorf("invalid kafka topic %q", t)
	}
	for _, r := range t {
		ok := r == '.' || r == '_' || r == '-' ||
			(r >= 'a' && r <= 'z') || (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9')
		if !ok {
			return fmt.Errorf("invalid kafka topic %q: only letters, digits, '.', '_' and '-' are allowed", t)
		}
	}
	return nil
}

// kafkaLogger forwards franz-go's warnings and errors to zerolog; its info and debug
// output is per request and too chatty for a gateway log.
type kafkaLogger struct{ log zerolog.Logger }

func (l kafkaLogger) Level() kgo.LogLevel {
	if l.log.GetLevel() == zerolog.Disabled {
		return kgo.LogLevelNone
	}
	return kgo.LogLevelWarn
}

func (l kafkaLogger) Log(level kgo.LogLevel, msg string, keyvals ...any) {
	var ev *zerolog.Event
	switch level {
	case kgo.LogLevelError:
		ev = l.log.Error()
	case kgo.LogLevelWarn:
		ev = l.log.Warn()
	default:
		ev = l.log.Debug()
	}
	for i := 0; i+1 < len(keyvals); i += 2 {
		key, ok := keyvals[i].(string)
		if !ok {
			key = fmt.Sprint(keyvals[i])
		}
		if err, isErr := keyvals[i+1].(error); isErr {
			ev = ev.AnErr(key, err)
			continue
		}
		ev = ev.Interface(key, keyvals[i+1])
	}
	ev.Msg("kafka: " + msg)
}

// offsetVector is the last consumed offset per topic and partition.
type offsetVector map[string]map[int32]int64

func (v offsetVector) set(topic string, partition int32, offset int64) {
	if v[topic] == nil {
		v[topic] = map[int32]int64{}
	}
	v[topic][partition] = offset
}

// String encodes the vector as sorted "topic:partition:offset" entries joined by ",".
// Kafka topic names cannot contain ':' or ','.
func (v offsetVector) String() string {
	topics := make([]string, 0, len(v))
	for t := range v {
		topics = append(topics, t)
	}
	slices.Sort(topics)
	var b []byte
	for _, t := range topics {
		parts := make([]int32, 0, len(v[t]))
		for p := range v[t] {
			parts = append(parts, p)
		}
		slices.Sort(parts)
		for _, p := range parts {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, t...)
			b = append(b, ':')
			b = strconv.AppendInt(b, int64(p), 10)
			b = append(b, ':')
			b = strconv.AppendInt(b, v[t][p], 10)
		}
	}
	return string(b)
}

func parseOffsetVector(s string) (offsetVector, error) {
	v := offsetVector{}
	for _, entry := range strings.Split(s, ",") {
		fields := strings.Split(entry, ":")
		if len(fields) != 3 || validKafkaTopic(fields[0]) != nil {
			return nil, fmt.Errorf("resume position %q is not a kafka offsets vector (topic:partition:offset,...)", s)
		}
		p, err1 := strconv.ParseInt(fields[1], 10, 32)
		o, err2 := strconv.ParseInt(fields[2], 10, 64)
		if err1 != nil || err2 != nil || p < 0 || o < -1 {
			return nil, fmt.Errorf("resume position %q is not a kafka offsets vector (topic:partition:offset,...)", s)
		}
		v.set(fields[0], int32(p), o)
	}
	return v, nil
}
