package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/demo"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// subscriptionOpener is an Engine or a Reloader.
type subscriptionOpener interface {
	Prepare(ctx context.Context, req *Request) (*Operation, error)
	Subscribe(ctx context.Context, op *Operation, opts SubscribeOptions) (*Stream, error)
}

// openStream prepares req and subscribes with it, waking nobody; the stream closes when
// the test ends.
func openStream(t testing.TB, x subscriptionOpener, req *Request) *Stream {
	t.Helper()
	op, err := x.Prepare(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	s, err := x.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// newEngineWith builds an engine on the demo employees subgraph and a memory broker.
func newEngineWith(t testing.TB, opts Options) (*Engine, *eventsource.Memory) {
	t.Helper()
	sub := demo.Employees()
	srv := httptest.NewServer(sub.Handler())
	t.Cleanup(srv.Close)
	super, err := schema.Compose([]schema.SubgraphSource{
		{Name: "employees", RoutingURL: srv.URL, SDL: sub.SDL},
		{Name: "events", SDL: eventsSDL},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := eventsource.NewRegistry(zerolog.Nop())
	mem := eventsource.NewMemory("nats/default")
	if err := reg.Add(mem); err != nil {
		t.Fatal(err)
	}
	opts.Supergraph, opts.Events = super, reg
	e, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Shutdown(End{Code: EndShutdown})
		_ = reg.Close()
	})
	return e, mem
}

func TestHub_SlowSubscriberIsDisconnectedCountedAndLoggedWithoutSlowingOthers(t *testing.T) {
	var logs syncBuffer
	stats := &Stats{}
	e, mem := newEngineWith(t, Options{QueueSize: 4, Stats: stats, Log: zerolog.New(&logs)})
	op, err := e.Prepare(context.Background(), &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
	if err != nil {
		t.Fatal(err)
	}
	slow, err := e.Subscribe(context.Background(), op, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	fastWake := make(chan struct{}, 1)
	fast, err := e.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {
		select {
		case fastWake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Close()

	const n = 20
	received := 0
	for i := 1; i <= n; i++ {
		if err := mem.Publish(context.Background(), "employeeUpdated.1", []byte(`{"__typename":"Employee","id":1}`)); err != nil {
			t.Fatal(err)
		}
		// The fast subscriber keeps up: it drains after every event.
		deadline := time.After(5 * time.Second)
		for received < i {
			msgs, end := fast.Pull(nil)
			received += len(msgs)
			if end != nil {
				t.Fatalf("fast subscriber ended: %+v", end)
			}
			if received < i {
				select {
				case <-fastWake:
				case <-deadline:
					t.Fatalf("fast subscriber got %d of %d", received, i)
				}
			}
		}
	}
	msgs, end := slow.Pull(nil)
	if end == nil || end.Code != EndSlowConsumer {
		t.Fatalf("slow subscriber end = %+v (with %d messages), want %s", end, len(msgs), EndSlowConsumer)
	}
	if stats.SlowDrops.Load() == 0 {
		t.Fatal("no drop counted")
	}
	if !strings.Contains(logs.String(), "did not keep up") {
		t.Fatalf("log does not mention the slow subscriber: %s", logs.String())
	}
}

func TestHub_DropOldestKeepsTheNewestAndCounts(t *testing.T) {
	stats := &Stats{}
	e, mem := newEngineWith(t, Options{QueueSize: 3, SlowPolicy: DropOldest, Stats: stats})
	op, err := e.Prepare(context.Background(), &Request{Query: `subscription { employeeUpdates: employeeUpdated(id: 1) { id } }`})
	if err != nil {
		t.Fatal(err)
	}
	s, err := e.Subscribe(context.Background(), op, SubscribeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := 1; i <= 10; i++ {
		_ = mem.Publish(context.Background(), "employeeUpdated.1", []byte(fmt.Sprintf(`{"__typename":"Employee","id":%d}`, i)))
	}
	var got []Message
	deadline := time.Now().Add(5 * time.Second)
	for stats.MessagesQueued.Load() < 10 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	got, end := s.Pull(got)
	if end != nil {
		t.Fatalf("ended: %+v", end)
	}
	if len(got) != 3 {
		t.Fatalf("%d messages queued, want 3", len(got))
	}
	if !strings.Contains(string(got[2].Payload), `"id":10`) {
		t.Fatalf("last message %s, want id 10", got[2].Payload)
	}
	if d := stats.SlowDrops.Load(); d != 7 {
		t.Fatalf("%d drops counted, want 7", d)
	}
}

func TestHub_GroupsByVariablesAndLastLeaveClosesConsumer(t *testing.T) {
	e, _ := newEngineWith(t, Options{})
	sub := func(vars string) *Stream {
		op, err := e.Prepare(context.Background(), &Request{Query: `subscription($id: Int!) { employeeUpdated(id: $id) { id } }`, Variables: json.RawMessage(vars)})
		if err != nil {
			t.Fatal(err)
		}
		s, err := e.Subscribe(context.Background(), op, SubscribeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a, b, c := sub(`{"id":1}`), sub(`{ "id" : 1 }`), sub(`{"id":2}`)
	if g := e.Groups(); g != 2 {
		t.Fatalf("%d groups, want 2 (equal variables share one)", g)
	}
	a.Close()
	b.Close()
	if g := e.Groups(); g != 1 {
		t.Fatalf("%d groups after two left, want 1", g)
	}
	c.Close()
	if g := e.Groups(); g != 0 {
		t.Fatalf("%d groups after all left, want 0", g)
	}
	if n := e.Stats().Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscribers counted, want 0", n)
	}
}

// A group has no goroutine of its own: subscribers on their own subjects cost goroutines
// only while their events are being resolved, and events still arrive in order.
func TestHub_IdleGroupsHoldNoGoroutines(t *testing.T) {
	e, mem := newEngineWith(t, Options{Log: zerolog.Nop()})
	const n = 200
	subs := make([]subscriber, n)
	for i := range subs {
		subs[i] = subscribeTo(t, e, fmt.Sprintf("subscription { employeeUpdated(id: %d) { id } }", i+1))
	}
	if e.Groups() != n {
		t.Fatalf("groups = %d, want %d", e.Groups(), n)
	}
	if g := hubGoroutines(); g > 0 {
		t.Errorf("%d idle groups hold %d goroutines of the hub", n, g)
	}
	for round := 1; round <= 3; round++ {
		for i := range subs {
			payload := fmt.Sprintf(`{"__typename":"Employee","id":%d}`, 1000*round+i)
			if err := mem.Publish(context.Background(), fmt.Sprintf("employeeUpdated.%d", i+1), []byte(payload)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, s := range subs {
		var got []Message
		for len(got) < 3 {
			msgs, end := s.s.Pull(nil)
			got = append(got, msgs...)
			if end != nil {
				t.Fatalf("subscriber %d ended: %+v", i, end)
			}
			if len(got) < 3 {
				select {
				case <-s.wake:
				case <-time.After(5 * time.Second):
					t.Fatalf("subscriber %d got %d of 3 events", i, len(got))
				}
			}
		}
		for round := 1; round <= 3; round++ {
			want := fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d}}}`, 1000*round+i)
			if string(got[round-1].Payload) != want {
				t.Fatalf("subscriber %d event %d = %s, want %s", i, round, got[round-1].Payload, want)
			}
		}
	}
	// the workers that resolved them leave once idle
	deadline := time.Now().Add(10 * time.Second)
	for e.hub.workers.count() > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d workers remain after the events", e.hub.workers.count())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// hubGoroutines counts the goroutines running code of the hub (groups, workers); the
// test broker's own goroutines are not the hub's.
func hubGoroutines() int {
	buf := make([]byte, 4<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "edgate/resolve.(*") {
			n++
		}
	}
	return n
}
