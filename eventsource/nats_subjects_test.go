package eventsource

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// With a subject per user, each subject is its own consumer: every message must reach the
// consumer of its subject only, in order, and the consumers hold no goroutine each.
func TestNATS_ManySubjectsRouteToTheirConsumersWithoutGoroutines(t *testing.T) {
	n := newNATS(t, NATSOptions{URL: natsURL(t)})
	r := NewRegistry(zerolog.Nop())
	t.Cleanup(func() { _ = r.Close() })
	if err := r.Add(n); err != nil {
		t.Fatal(err)
	}
	prefix := uniquePrefix()
	const subjects, perSubject = 300, 5
	base := runtime.NumGoroutine()
	var mu sync.Mutex
	got := make([][]string, subjects)
	var total atomic.Int64
	done := make(chan struct{})
	for i := range subjects {
		unsub, err := r.Subscribe(context.Background(), "default", []string{fmt.Sprintf("%s.%d", prefix, i)}, ConsumeOptions{}, func(ev Event) {
			mu.Lock()
			got[i] = append(got[i], ev.Subject+" "+string(ev.Data))
			mu.Unlock()
			if total.Add(1) == subjects*perSubject {
				close(done)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(unsub)
	}
	if g := runtime.NumGoroutine() - base; g > 20 {
		t.Errorf("%d subscriptions hold %d goroutines", subjects, g)
	}
	for k := range perSubject {
		for i := range subjects {
			if err := n.Publish(context.Background(), fmt.Sprintf("%s.%d", prefix, i), fmt.Appendf(nil, "%d", k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("%d of %d messages arrived", total.Load(), subjects*perSubject)
	}
	mu.Lock()
	defer mu.Unlock()
	for i, msgs := range got {
		for k, m := range msgs {
			if want := fmt.Sprintf("%s.%d %d", prefix, i, k); m != want {
				t.Fatalf("consumer %d message %d = %q, want %q", i, k, m, want)
			}
		}
	}
}

// BenchmarkNATS_SubjectMemory is the gateway-side heap of one more single-subject
// consumer (registry entry, consumer, client subscription), with the server in another
// process when NATS_URL is set (otherwise the embedded server's share is included).
func BenchmarkNATS_SubjectMemory(b *testing.B) {
	url := natsURLBench(b)
	ctx := context.Background()
	n, err := NewNATS(ctx, NATSOptions{URL: url})
	if err != nil {
		b.Fatal(err)
	}
	defer n.Close()
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(n); err != nil {
		b.Fatal(err)
	}
	prefix := uniquePrefix()
	var unsubs []func()
	defer func() {
		for _, u := range unsubs {
			u()
		}
	}()
	var ms runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms)
	before := ms.HeapAlloc
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		u, err := r.Subscribe(ctx, "default", []string{fmt.Sprintf("%s.%d", prefix, i)}, ConsumeOptions{}, func(Event) {})
		if err != nil {
			b.Fatal(err)
		}
		unsubs = append(unsubs, u)
	}
	b.StopTimer()
	runtime.GC()
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(int64(ms.HeapAlloc)-int64(before))/float64(b.N), "heap-B/subject")
}

func natsURLBench(b *testing.B) string {
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	e, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(e.Shutdown)
	return e.ClientURL()
}

// Close ends every consumer, the single-subject ones kept only in the routes' table as
// well as those with several subjects.
func TestNATS_CloseClosesEveryConsumer(t *testing.T) {
	n, err := NewNATS(context.Background(), NATSOptions{URL: natsURL(t)})
	if err != nil {
		t.Fatal(err)
	}
	prefix := uniquePrefix()
	var consumers []Consumer
	for _, subjects := range [][]string{{prefix + ".a"}, {prefix + ".b"}, {prefix + ".c", prefix + ".d"}} {
		c, err := n.Consume(context.Background(), subjects, ConsumeOptions{}, func([]Event) {})
		if err != nil {
			t.Fatal(err)
		}
		consumers = append(consumers, c)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	for i, c := range consumers {
		if !c.(*natsConsumer).closed.Load() {
			t.Errorf("consumer %d is open after the provider closed", i)
		}
	}
	if _, err := n.Consume(context.Background(), []string{prefix + ".e"}, ConsumeOptions{}, func([]Event) {}); err == nil {
		t.Error("Consume succeeded on a closed provider")
	}
}
