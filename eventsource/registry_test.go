package eventsource

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

func newMemoryRegistry(t *testing.T) (*Registry, *Memory) {
	t.Helper()
	r := NewRegistry(zerolog.Nop())
	m := NewMemory("mem")
	if err := r.Add(m); err != nil {
		t.Fatal(err)
	}
	return r, m
}

// eventually polls cond until it holds or 10 s passed.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestRegistry_SharesOneConsumerPerSubjectSet(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	r, _ := newMemoryRegistry(t)
	defer r.Close()

	sets := [][]string{{"b", "a"}, {"a", "b"}, {"a", "b", "a"}}
	var unsubs []func()
	var cols []*collector
	for _, s := range sets {
		c := newCollector()
		unsub, err := r.Subscribe(ctx, "mem", s, ConsumeOptions{}, c.add)
		if err != nil {
			t.Fatal(err)
		}
		unsubs = append(unsubs, unsub)
		cols = append(cols, c)
	}
	if n := r.Consumers(); n != 1 {
		t.Fatalf("consumers = %d, want 1", n)
	}
	for _, s := range []string{"a", "b", "c"} {
		if err := r.Publish(ctx, "mem", s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	for i, c := range cols {
		got := strings.Join(subjectsOf(c.waitFor(t, 2)), ",")
		c.quiet(t, 2)
		if got != "a,b" {
			t.Errorf("subscriber %d got %s, want a,b", i, got)
		}
	}
	if st := r.Stats()["mem"]; st.EventsReceived != 2 || st.Published != 3 {
		t.Errorf("stats = %+v, want 2 received (once per consumer) and 3 published", st)
	}

	unsubs[0]()
	unsubs[0]() // idempotent
	if n := r.Consumers(); n != 1 {
		t.Fatalf("consumers after one left = %d, want 1", n)
	}
	unsubs[1]()
	unsubs[2]()
	if n := r.Consumers(); n != 0 {
		t.Fatalf("consumers after all left = %d, want 0", n)
	}
}

func TestRegistry_SeparatesSubjectSetsAndStreamOptions(t *testing.T) {
	ctx := context.Background()
	r, _ := newMemoryRegistry(t)
	defer r.Close()
	subscribe := func(subjects []string, opts ConsumeOptions) *collector {
		c := newCollector()
		if _, err := r.Subscribe(ctx, "mem", subjects, opts, c.add); err != nil {
			t.Fatal(err)
		}
		return c
	}
	ab := subscribe([]string{"a", "b"}, ConsumeOptions{})
	a := subscribe([]string{"a"}, ConsumeOptions{})
	subscribe([]string{"a"}, ConsumeOptions{Stream: &StreamOptions{StreamName: "S", ConsumerName: "c1"}})
	subscribe([]string{"a"}, ConsumeOptions{Stream: &StreamOptions{StreamName: "S", ConsumerName: "c1"}})
	subscribe([]string{"a"}, ConsumeOptions{Stream: &StreamOptions{StreamName: "S", ConsumerName: "c2"}})
	if n := r.Consumers(); n != 4 {
		t.Fatalf("consumers = %d, want 4", n)
	}
	if err := r.Publish(ctx, "mem", "b", nil); err != nil {
		t.Fatal(err)
	}
	ab.waitFor(t, 1)
	a.quiet(t, 0)
}

// Consumers are shared per provider: the same subject on two providers is two consumers,
// each with its provider's events only, and each closes with its last subscriber.
func TestRegistry_SeparatesProviders(t *testing.T) {
	ctx := context.Background()
	r, m1 := newMemoryRegistry(t)
	defer r.Close()
	if err := r.Add(NewMemory("mem2")); err != nil {
		t.Fatal(err)
	}
	c1, c2 := newCollector(), newCollector()
	unsub1, err := r.Subscribe(ctx, "mem", []string{"a"}, ConsumeOptions{}, c1.add)
	if err != nil {
		t.Fatal(err)
	}
	unsub2, err := r.Subscribe(ctx, "mem2", []string{"a"}, ConsumeOptions{}, c2.add)
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Consumers(); n != 2 {
		t.Fatalf("consumers = %d, want 2", n)
	}
	if err := m1.Publish(ctx, "a", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if err := r.Publish(ctx, "mem2", "a", []byte("2")); err != nil {
		t.Fatal(err)
	}
	if got := string(c1.waitFor(t, 1)[0].Data); got != "1" {
		t.Errorf("provider mem's subscriber got %q, want 1", got)
	}
	if got := string(c2.waitFor(t, 1)[0].Data); got != "2" {
		t.Errorf("provider mem2's subscriber got %q, want 2", got)
	}
	c1.quiet(t, 1)
	c2.quiet(t, 1)
	unsub1()
	if n := r.Consumers(); n != 1 {
		t.Fatalf("consumers after mem's subscriber left = %d, want 1", n)
	}
	unsub2()
	if n := r.Consumers(); n != 0 {
		t.Fatalf("consumers after all left = %d, want 0", n)
	}
}

func TestRegistry_UnsubscribeFromInsideHandler(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	r, _ := newMemoryRegistry(t)

	var (
		mu    sync.Mutex
		unsub func()
		calls int
	)
	done := make(chan struct{})
	u, err := r.Subscribe(ctx, "mem", []string{"x"}, ConsumeOptions{}, func(Event) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			unsub() // last subscriber: closes the consumer whose goroutine runs us
			close(done)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	unsub = u
	mu.Unlock()
	for range 3 {
		if err := r.Publish(ctx, "mem", "x", nil); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler did not run")
	}
	eventually(t, "consumer closed", func() bool { return r.Consumers() == 0 })
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if calls != 1 {
		t.Fatalf("handler called %d times, want 1 (no call after unsubscribe)", calls)
	}
}

func TestRegistry_ErrorsNameProviderAndSubjects(t *testing.T) {
	ctx := context.Background()
	r, _ := newMemoryRegistry(t)
	defer r.Close()

	_, err := r.Subscribe(ctx, "nope", []string{"a"}, ConsumeOptions{}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), `unknown event provider "nope"`) {
		t.Errorf("unknown provider: err = %v", err)
	}
	_, err = r.Subscribe(ctx, "mem", []string{"a..b"}, ConsumeOptions{}, func(Event) {})
	if err == nil || !strings.Contains(err.Error(), `memory provider "mem" subscribe [a..b]`) {
		t.Errorf("bad subject: err = %v", err)
	}
	if r.Consumers() != 0 {
		t.Errorf("a failed subscribe left %d consumers", r.Consumers())
	}
	if st := r.Stats()["mem"]; st.ConsumeErrors != 1 {
		t.Errorf("consume errors = %d, want 1", st.ConsumeErrors)
	}
	if err := r.Publish(ctx, "nope", "a", nil); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("publish to unknown provider: err = %v", err)
	}
	if err := r.Add(NewMemory("mem")); err == nil {
		t.Error("duplicate provider id: want error")
	}
}

// plainProvider hides Memory's Requester and StatsReporter methods.
type plainProvider struct{ p Provider }

func (p plainProvider) ID() string   { return p.p.ID() }
func (p plainProvider) Kind() string { return p.p.Kind() }
func (p plainProvider) Consume(ctx context.Context, s []string, o ConsumeOptions, fn func([]Event)) (Consumer, error) {
	return p.p.Consume(ctx, s, o, fn)
}
func (p plainProvider) Publish(ctx context.Context, s string, d []byte) error {
	return p.p.Publish(ctx, s, d)
}
func (p plainProvider) Close() error { return p.p.Close() }

func TestRegistry_HeadersNeedAHeaderPublisher(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(NewMemory("mem")); err != nil {
		t.Fatal(err)
	}
	if err := r.PublishWithHeader(ctx, "mem", "a", []byte("{}"), Header{"k": {"v"}}); !errors.Is(err, ErrNoHeaders) {
		t.Fatalf("publish with a header on memory: %v, want ErrNoHeaders", err)
	}
	if err := r.PublishWithHeader(ctx, "mem", "a", []byte("{}"), Header{}); err != nil {
		t.Fatalf("publish with an empty header: %v", err)
	}
	if s := r.Stats()["mem"]; s.PublishErrors != 0 || s.Published != 1 {
		t.Fatalf("stats %+v", s)
	}
}

func TestRegistry_RequestNeedsARequester(t *testing.T) {
	ctx := context.Background()
	r, m := newMemoryRegistry(t)
	defer r.Close()
	stop := m.Respond("echo", func(b []byte) []byte { return b })
	defer stop()
	got, err := r.Request(ctx, "mem", "echo", []byte("hi"))
	if err != nil || string(got) != "hi" {
		t.Fatalf("request = %q, %v", got, err)
	}

	if err := r.Add(plainProvider{NewMemory("plain")}); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Request(ctx, "plain", "echo", nil); err == nil || !strings.Contains(err.Error(), "not supported") {
		t.Fatalf("request on a non-requester: err = %v", err)
	}
}

func TestRegistry_CountsTrafficOfProvidersWithoutStats(t *testing.T) {
	ctx := context.Background()
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(plainProvider{NewMemory("plain")}); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	if _, err := r.Subscribe(ctx, "plain", []string{"a"}, ConsumeOptions{}, c.add); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if err := r.Publish(ctx, "plain", "a", nil); err != nil {
			t.Fatal(err)
		}
	}
	_ = r.Publish(ctx, "plain", "bad..subject", nil)
	c.waitFor(t, 3)
	want := ProviderStats{EventsReceived: 3, Published: 3, PublishErrors: 1}
	if got := r.Stats()["plain"]; got != want {
		t.Fatalf("stats = %+v, want %+v", got, want)
	}
}

func TestRegistry_ConcurrentSubscribersShareOneConsumer(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	r, _ := newMemoryRegistry(t)
	const n = 50
	var wg sync.WaitGroup
	unsubs := make([]func(), n)
	errs := make([]error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			unsubs[i], errs[i] = r.Subscribe(ctx, "mem", []string{"t.>", fmt.Sprint("k", i%2)}, ConsumeOptions{}, func(Event) {})
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if got := r.Consumers(); got != 2 {
		t.Fatalf("consumers = %d, want 2", got)
	}
	for i := range n {
		wg.Add(1)
		go func() { defer wg.Done(); unsubs[i]() }()
	}
	wg.Wait()
	if got := r.Consumers(); got != 0 {
		t.Fatalf("consumers after all left = %d, want 0", got)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Subscribe(ctx, "mem", []string{"a"}, ConsumeOptions{}, func(Event) {}); err == nil {
		t.Fatal("subscribe after close: want error")
	}
}
