package eventsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
)

// Memory is an in-process provider for tests and examples. Subjects follow NATS rules:
// tokens separated by '.', '*' matches one token and '>' the rest (at least one token).
// Each consumer has an unbounded queue, so Publish never blocks on a slow consumer.
type Memory struct {
	id    string
	stats providerCounters

	mu         sync.RWMutex
	consumers  map[*memoryConsumer]struct{}
	responders map[*memoryResponder]struct{}
	closed     bool
}

// NewMemory returns an in-process provider with the given id.
func NewMemory(id string) *Memory {
	return &Memory{
		id:         id,
		consumers:  make(map[*memoryConsumer]struct{}),
		responders: make(map[*memoryResponder]struct{}),
	}
}

func (m *Memory) ID() string           { return m.id }
func (m *Memory) Kind() string         { return "memory" }
func (m *Memory) Stats() ProviderStats { return m.stats.snapshot() }

type memoryConsumer struct {
	m        *Memory
	patterns [][]string
	q        *deliveryQueue
	once     sync.Once
}

// Consume subscribes to subjects (wildcards allowed). Stream options are ignored: memory
// keeps no history, so Event.Position stays empty.
func (m *Memory) Consume(ctx context.Context, subjects []string, opts ConsumeOptions, fn func([]Event)) (Consumer, error) {
	if opts.StartAfter != "" {
		return nil, fmt.Errorf("memory provider %q: consume %v: %w", m.id, subjects, ErrNoResume)
	}
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory consume %v: %w", subjects, err)
	}
	if len(subjects) == 0 {
		return nil, errors.New("memory consume: no subjects")
	}
	patterns := make([][]string, 0, len(subjects))
	for _, s := range subjects {
		if err := validateSubject(s, true); err != nil {
			m.stats.consumeErrors.Add(1)
			return nil, fmt.Errorf("memory consume %q: %w", s, err)
		}
		patterns = append(patterns, strings.Split(s, "."))
	}
	c := &memoryConsumer{m: m, patterns: patterns, q: newDeliveryQueue(0, fn)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		c.q.close()
		return nil, errors.New("memory consume: provider closed")
	}
	m.consumers[c] = struct{}{}
	return c, nil
}

func (c *memoryConsumer) matches(tokens []string) bool {
	for _, p := range c.patterns {
		if subjectMatches(p, tokens) {
			return true
		}
	}
	return false
}

func (c *memoryConsumer) Close() error {
	c.once.Do(func() {
		c.m.mu.Lock()
		delete(c.m.consumers, c)
		c.m.mu.Unlock()
		c.q.close()
	})
	return nil
}

// Publish delivers data to every consumer with a matching subject. The payload is copied,
// so the caller may reuse data.
func (m *Memory) Publish(ctx context.Context, subject string, data []byte) error {
	err := m.publish(ctx, subject, data)
	countPublish(&m.stats, err)
	return err
}

func (m *Memory) publish(ctx context.Context, subject string, data []byte) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("memory publish %q: %w", subject, err)
	}
	if err := validateSubject(subject, false); err != nil {
		return fmt.Errorf("memory publish %q: %w", subject, err)
	}
	tokens := strings.Split(subject, ".")
	ev := Event{Subject: subject, Data: append([]byte(nil), data...)}
	m.mu.RLock()
	defer m.mu.RUnlock()
	if m.closed {
		return fmt.Errorf("memory publish %q: provider closed", subject)
	}
	for c := range m.consumers {
		if c.matches(tokens) && c.q.push(ev) {
			m.stats.received.Add(1)
		}
	}
	return nil
}

type memoryResponder struct {
	pattern []string
	fn      func([]byte) []byte
}

// Respond makes fn answer requests on subject (wildcards allowed) until stop is called.
// When several responders match, any one of them answers.
func (m *Memory) Respond(subject string, fn func([]byte) []byte) (stop func()) {
	r := &memoryResponder{pattern: strings.Split(subject, "."), fn: fn}
	m.mu.Lock()
	m.responders[r] = struct{}{}
	m.mu.Unlock()
	return func() {
		m.mu.Lock()
		delete(m.responders, r)
		m.mu.Unlock()
	}
}

// Request calls a matching responder with a copy of data and returns its reply.
func (m *Memory) Request(ctx context.Context, subject string, data []byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("memory request %q: %w", subject, err)
	}
	if err := validateSubject(subject, false); err != nil {
		return nil, fmt.Errorf("memory request %q: %w", subject, err)
	}
	tokens := strings.Split(subject, ".")
	var fn func([]byte) []byte
	m.mu.RLock()
	for r := range m.responders {
		if subjectMatches(r.pattern, tokens) {
			fn = r.fn
			break
		}
	}
	m.mu.RUnlock()
	if fn == nil {
		return nil, fmt.Errorf("memory request %q: %w", subject, ErrNoResponders)
	}
	return fn(append([]byte(nil), data...)), nil
}

// Close stops every consumer; later calls to Consume and Publish fail.
func (m *Memory) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return nil
	}
	m.closed = true
	consumers := make([]*memoryConsumer, 0, len(m.consumers))
	for c := range m.consumers {
		consumers = append(consumers, c)
	}
	m.mu.Unlock()
	for _, c := range consumers {
		_ = c.Close()
	}
	return nil
}

// validateSubject applies the NATS subject rules: non-empty tokens without whitespace;
// with wildcards, '*' is a whole token and '>' a whole last token.
func validateSubject(subject string, wildcards bool) error {
	if subject == "" {
		return errors.New("empty subject")
	}
	if strings.ContainsAny(subject, " \t\r\n") {
		return errors.New("subject contains whitespace")
	}
	tokens := strings.Split(subject, ".")
	for i, t := range tokens {
		switch {
		case t == "":
			return errors.New("subject has an empty token")
		case t == "*" || (t == ">" && i == len(tokens)-1):
			if !wildcards {
				return errors.New("wildcards are not allowed here")
			}
		case strings.ContainsAny(t, "*>"):
			return fmt.Errorf("invalid wildcard in token %q", t)
		}
	}
	return nil
}

// subjectMatches reports whether a literal subject matches a pattern, both split on '.'.
func subjectMatches(pattern, subject []string) bool {
	for i, p := range pattern {
		switch {
		case p == ">":
			return len(subject) > i
		case i >= len(subject):
			return false
		case p != "*" && p != subject[i]:
			return false
		}
	}
	return len(pattern) == len(subject)
}
