package eventsource

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// jetStreamStopTimeout bounds how long Close waits for the client library to stop a
// JetStream consumer.
const jetStreamStopTimeout = 5 * time.Second

// jetStreamConsumer is a durable JetStream consumer delivering to one fn.
type jetStreamConsumer struct {
	n      *NATS
	fn     func(Event)
	name   string
	cc     jetstream.ConsumeContext
	closed atomic.Bool
	once   sync.Once
}

// durableName is the durable consumer name for this provider: ConsumerName, suffixed with
// the instance id so that every replica has its own cursor and gets every event.
func (n *NATS) durableName(consumerName string) string {
	if n.instanceID == "" {
		return consumerName
	}
	return consumerName + "-" + n.instanceID
}

// consumeStream creates or updates the durable consumer and starts delivery. A new durable
// consumer starts at the beginning of the stream (Cosmo's behaviour); an existing one
// resumes after the last event it acknowledged, so events published while nobody was
// subscribed arrive first.
func (n *NATS) consumeStream(ctx context.Context, subjects []string, so StreamOptions, fn func(Event)) (*jetStreamConsumer, error) {
	if so.StreamName == "" || so.ConsumerName == "" {
		return nil, fmt.Errorf("jetstream consume %v: stream name and consumer name are required", subjects)
	}
	name := n.durableName(so.ConsumerName)
	cfg := jetstream.ConsumerConfig{
		Durable:           name,
		AckPolicy:         jetstream.AckExplicitPolicy,
		InactiveThreshold: so.InactiveThreshold,
	}
	if cfg.InactiveThreshold <= 0 {
		cfg.InactiveThreshold = n.inactive
	}
	if len(subjects) == 1 {
		cfg.FilterSubject = subjects[0]
	} else {
		cfg.FilterSubjects = subjects
	}
	cons, err := n.js.CreateOrUpdateConsumer(ctx, so.StreamName, cfg)
	if errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("jetstream stream %q not found (create it before subscribing to %v): %w", so.StreamName, subjects, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jetstream consumer %q on stream %q for %v: %w", name, so.StreamName, subjects, err)
	}

	c := &jetStreamConsumer{n: n, fn: fn, name: name}
	// Consume keeps a pull request open on the server, which pushes messages as they come;
	// an idle consumer costs one heartbeat now and then, no polling.
	cc, err := cons.Consume(c.handle, jetstream.ConsumeErrHandler(c.consumeError))
	if err != nil {
		return nil, fmt.Errorf("jetstream consume %q on stream %q: %w", name, so.StreamName, err)
	}
	c.cc = cc
	return c, nil
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
	if meta, err := msg.Metadata(); err == nil {
		ev.Position = strconv.FormatUint(meta.Sequence.Stream, 10)
	}
	c.fn(ev)
	if err := msg.Ack(); err != nil {
		c.n.stats.consumeErrors.Add(1)
		c.n.log.Warn().Err(err).Str("consumer", c.name).Str("position", ev.Position).Msg("jetstream ack failed; the event will be redelivered")
	}
}

func (c *jetStreamConsumer) consumeError(_ jetstream.ConsumeContext, err error) {
	c.n.stats.consumeErrors.Add(1)
	c.n.log.Warn().Err(err).Str("consumer", c.name).Msg("jetstream consume error")
}

// Close stops delivery and waits until the last fn call returned; the durable consumer
// stays on the server (until its InactiveThreshold) to resume from. It must not be called
// from fn.
func (c *jetStreamConsumer) Close() error {
	var err error
	c.once.Do(func() {
		c.closed.Store(true)
		c.cc.Stop()
		select {
		case <-c.cc.Closed():
		case <-time.After(jetStreamStopTimeout):
			err = fmt.Errorf("jetstream consumer %q: not stopped after %s", c.name, jetStreamStopTimeout)
		}
		c.n.forget(c)
	})
	return err
}
