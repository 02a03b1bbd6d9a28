package eventsource

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// collector records events; safe for the delivery goroutine and the test goroutine.
type collector struct {
	mu     sync.Mutex
	events []Event
	signal chan struct{}
}

func newCollector() *collector { return &collector{signal: make(chan struct{}, 1)} }

func (c *collector) add(ev Event) {
	c.mu.Lock()
	c.events = append(c.events, ev)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// addBatch is add for a provider's Consume, which delivers batches.
func (c *collector) addBatch(batch []Event) {
	for _, ev := range batch {
		c.add(ev)
	}
}

func (c *collector) snapshot() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.events)
}

// waitFor waits until n events arrived and returns them.
func (c *collector) waitFor(t *testing.T, n int) []Event {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		if evs := c.snapshot(); len(evs) >= n {
			return evs
		}
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("got %d events, want %d", len(c.snapshot()), n)
		}
	}
}

// quiet asserts that no further event arrives beyond n within a short while.
func (c *collector) quiet(t *testing.T, n int) {
	t.Helper()
	time.Sleep(100 * time.Millisecond)
	if got := len(c.snapshot()); got != n {
		t.Fatalf("got %d events, want exactly %d", got, n)
	}
}

func subjectsOf(evs []Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Subject
	}
	return out
}

func TestMemory_WildcardMatching(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	m := NewMemory("mem")
	defer m.Close()

	cases := []struct {
		pattern string
		want    []string
	}{
		{"orders.*", []string{"orders.1", "orders.2"}},
		{"orders.>", []string{"orders.1", "orders.1.items", "orders.2"}},
		{"orders.*.items", []string{"orders.1.items"}},
		{"*.1", []string{"orders.1", "users.1"}},
		{">", []string{"orders", "orders.1", "orders.1.items", "orders.2", "users.1"}},
		{"orders", []string{"orders"}},
	}
	collectors := make([]*collector, len(cases))
	for i, tc := range cases {
		collectors[i] = newCollector()
		c, err := m.Consume(ctx, []string{tc.pattern}, ConsumeOptions{}, collectors[i].addBatch)
		if err != nil {
			t.Fatalf("consume %q: %v", tc.pattern, err)
		}
		defer c.Close()
	}
	for _, s := range []string{"orders", "orders.1", "orders.1.items", "orders.2", "users.1"} {
		if err := m.Publish(ctx, s, []byte(s)); err != nil {
			t.Fatalf("publish %q: %v", s, err)
		}
	}
	for i, tc := range cases {
		got := subjectsOf(collectors[i].waitFor(t, len(tc.want)))
		collectors[i].quiet(t, len(tc.want))
		if !slices.Equal(got, tc.want) {
			t.Errorf("pattern %q got %v, want %v", tc.pattern, got, tc.want)
		}
	}
}

func TestMemory_RejectsInvalidSubjects(t *testing.T) {
	ctx := context.Background()
	m := NewMemory("mem")
	defer m.Close()
	for _, s := range []string{"", "a..b", "a.b*", "a.>.b", "a b", ".a"} {
		if _, err := m.Consume(ctx, []string{s}, ConsumeOptions{}, func([]Event) {}); err == nil {
			t.Errorf("consume %q: want error", s)
		}
	}
	for _, s := range []string{"a.*", "a.>", ""} {
		if err := m.Publish(ctx, s, nil); err == nil {
			t.Errorf("publish %q: want error", s)
		}
	}
}

func TestMemory_RequestReply(t *testing.T) {
	ctx := context.Background()
	m := NewMemory("mem")
	defer m.Close()
	stop := m.Respond("greet.*", func(b []byte) []byte { return append([]byte("hello "), b...) })
	got, err := m.Request(ctx, "greet.en", []byte("ann"))
	if err != nil || string(got) != "hello ann" {
		t.Fatalf("request = %q, %v; want %q", got, err, "hello ann")
	}
	stop()
	if _, err := m.Request(ctx, "greet.en", nil); !errors.Is(err, ErrNoResponders) {
		t.Fatalf("request after stop: err = %v, want ErrNoResponders", err)
	}
}

func TestMemory_PublishAfterCloseFails(t *testing.T) {
	m := NewMemory("mem")
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if err := m.Publish(context.Background(), "a", nil); err == nil {
		t.Fatal("publish after close: want error")
	}
}
