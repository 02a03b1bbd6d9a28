package eventsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// batchProvider hands the test each consumer's callback, so that the test decides the
// batches.
type batchProvider struct {
	mu  sync.Mutex
	fns map[string]func([]Event) // by first subject
}

func (p *batchProvider) ID() string   { return "fake/batches" }
func (p *batchProvider) Kind() string { return "fake" }
func (p *batchProvider) Consume(_ context.Context, s []string, _ ConsumeOptions, fn func([]Event)) (Consumer, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fns == nil {
		p.fns = map[string]func([]Event){}
	}
	p.fns[s[0]] = fn
	return closerFunc(func() error {
		p.mu.Lock()
		defer p.mu.Unlock()
		delete(p.fns, s[0])
		return nil
	}), nil
}
func (p *batchProvider) Publish(context.Context, string, []byte) error { return nil }
func (p *batchProvider) Close() error                                  { return nil }

// deliver sends a batch of payloads on subject, as the broker client would.
func (p *batchProvider) deliver(t *testing.T, subject string, payloads ...string) {
	t.Helper()
	p.mu.Lock()
	fn := p.fns[subject]
	p.mu.Unlock()
	if fn == nil {
		t.Fatalf("no consumer for %s", subject)
	}
	batch := make([]Event, len(payloads))
	for i, d := range payloads {
		batch[i] = Event{Subject: subject, Data: []byte(d)}
	}
	fn(batch)
	// The provider reuses its slice: the registry must not have kept it.
	for i := range batch {
		batch[i] = Event{Subject: "reused", Data: []byte("garbage")}
	}
}

type closerFunc func() error

func (f closerFunc) Close() error { return f() }

// batchHook records every batch and acts on payloads: "drop" is left out, "rewrite"
// becomes "rewritten", "fail" fails the batch, "panic" panics, "slow" overruns.
type batchHook struct {
	mu      sync.Mutex
	batches [][]string
}

func (h *batchHook) hook(ctx context.Context, b *Batch) error {
	if b.Provider != (ProviderID{Kind: "fake", ID: "batches"}) {
		return fmt.Errorf("batch of provider %+v", b.Provider)
	}
	var seen []string
	for _, ev := range b.Events {
		seen = append(seen, string(ev.Data))
	}
	h.mu.Lock()
	h.batches = append(h.batches, seen)
	h.mu.Unlock()
	for i := range b.Events {
		switch string(b.Events[i].Data) {
		case "rewrite":
			b.Events[i].Data = []byte("rewritten")
		case "fail":
			return errors.New("refused")
		case "panic":
			panic("a bug in the hook")
		case "slow":
			<-ctx.Done()
			return nil // ignores the deadline's error: still an overrun
		}
	}
	b.Events = slices.DeleteFunc(b.Events, func(ev Event) bool { return bytes.Equal(ev.Data, []byte("drop")) })
	return nil
}

func (h *batchHook) calls() [][]string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.batches)
}

func TestRegistry_BeforeDispatchOncePerBatch(t *testing.T) {
	ctx := context.Background()
	p := &batchProvider{}
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
	h := &batchHook{}
	r.SetBeforeDispatch(h.hook, 100*time.Millisecond)

	// Two subscribers share the consumer of "a"; "b" has a consumer of its own.
	a1, a2, b := newCollector(), newCollector(), newCollector()
	for _, s := range []struct {
		subject string
		c       *collector
	}{{"a", a1}, {"a", a2}, {"b", b}} {
		if _, err := r.Subscribe(ctx, p.ID(), []string{s.subject}, ConsumeOptions{}, s.c.add); err != nil {
			t.Fatal(err)
		}
	}

	p.deliver(t, "a", "one", "drop", "rewrite", "two")
	for _, c := range []*collector{a1, a2} {
		waitEvents(t, c, 3)
		if got := payloads(c); !slices.Equal(got, []string{"one", "rewritten", "two"}) {
			t.Fatalf("subscriber of a got %q", got)
		}
	}
	if got := h.calls(); len(got) != 1 || !slices.Equal(got[0], []string{"one", "drop", "rewrite", "two"}) {
		t.Fatalf("hook calls %q, want the one batch once (not once per subscriber)", got)
	}

	// A failing, panicking or overrunning hook drops its batch; the consumer goes on, and
	// the other consumer is not held up by the slow call.
	p.deliver(t, "a", "fail", "lost")
	p.deliver(t, "a", "panic", "lost")
	p.deliver(t, "a", "slow", "lost")
	p.deliver(t, "b", "other")
	waitEvents(t, b, 1)
	if got := payloads(b); !slices.Equal(got, []string{"other"}) {
		t.Fatalf("subscriber of b got %q", got)
	}
	p.deliver(t, "a", "after")
	waitEvents(t, a1, 4)
	waitEvents(t, a2, 4)
	for _, c := range []*collector{a1, a2} {
		if got := payloads(c); !slices.Equal(got, []string{"one", "rewritten", "two", "after"}) {
			t.Fatalf("subscriber of a got %q after the failed batches", got)
		}
	}
}

func TestRegistry_BeforeDispatchStuckHookDoesNotHoldClose(t *testing.T) {
	ctx := context.Background()
	p := &batchProvider{}
	r := NewRegistry(zerolog.Nop())
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
	release := make(chan struct{})
	entered := make(chan struct{})
	r.SetBeforeDispatch(func(context.Context, *Batch) error {
		close(entered)
		<-release // ignores its context
		return nil
	}, 50*time.Millisecond)
	c := newCollector()
	if _, err := r.Subscribe(ctx, p.ID(), []string{"a"}, ConsumeOptions{}, c.add); err != nil {
		t.Fatal(err)
	}
	p.deliver(t, "a", "x")
	<-entered
	done := make(chan error, 1)
	go func() { done <- r.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close waits for a hook that ignores its context")
	}
	close(release)
	if got := c.snapshot(); len(got) != 0 {
		t.Fatalf("delivered %d events of a batch whose hook outlived Close", len(got))
	}
}

// TestRegistry_NoHookNoAllocation shows that without a BeforeDispatch a batch goes to the
// subscribers without allocating.
func TestRegistry_NoHookNoAllocation(t *testing.T) {
	p := &batchProvider{}
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(p); err != nil {
		t.Fatal(err)
	}
	n := 0
	if _, err := r.Subscribe(context.Background(), p.ID(), []string{"a"}, ConsumeOptions{}, func(Event) { n++ }); err != nil {
		t.Fatal(err)
	}
	fn := p.fns["a"]
	batch := []Event{{Subject: "a", Data: []byte("x")}, {Subject: "a", Data: []byte("y")}}
	allocs := testing.AllocsPerRun(100, func() {
		batch[0].Received, batch[1].Received = 0, 0
		fn(batch)
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per batch without a hook", allocs)
	}
	if n != 202 { // AllocsPerRun runs once more to warm up
		t.Fatalf("%d deliveries", n)
	}
}

func waitEvents(t *testing.T, c *collector, n int) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for len(c.snapshot()) < n {
		select {
		case <-c.signal:
		case <-deadline:
			t.Fatalf("%d events, want %d", len(c.snapshot()), n)
		}
	}
}

func payloads(c *collector) []string {
	var out []string
	for _, ev := range c.snapshot() {
		out = append(out, string(ev.Data))
	}
	return out
}
