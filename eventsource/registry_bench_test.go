package eventsource

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkRegistry_FanOut measures publish → shared memory consumer → every subscriber,
// per published event, until all subscribers have it.
func BenchmarkRegistry_FanOut(b *testing.B) {
	benchmarkFanOut(b, []int{1, 10, 100, 1000}, nil)
}

// BenchmarkRegistry_FanOutWithBeforeDispatch is BenchmarkRegistry_FanOut with a
// BeforeDispatch hook that looks at every event: the cost of the consumer's dispatcher
// (a copy of each batch and a goroutine hand-off) and of a call per batch.
func BenchmarkRegistry_FanOutWithBeforeDispatch(b *testing.B) {
	benchmarkFanOut(b, []int{1, 100}, func(_ context.Context, batch *Batch) error {
		for i := range batch.Events {
			if len(batch.Events[i].Data) == 0 {
				return errors.New("empty event")
			}
		}
		return nil
	})
}

func benchmarkFanOut(b *testing.B, subscribers []int, hook BeforeDispatch) {
	for _, subs := range subscribers {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			ctx := context.Background()
			r := NewRegistry(zerolog.Nop())
			defer r.Close()
			if hook != nil {
				r.SetBeforeDispatch(hook, time.Second)
			}
			if err := r.Add(NewMemory("mem")); err != nil {
				b.Fatal(err)
			}
			var delivered atomic.Int64
			for i := range subs {
				subjects := []string{"bench.events"}
				if i%2 == 1 {
					subjects = []string{"bench.events", "bench.events"} // same set, other spelling
				}
				if _, err := r.Subscribe(ctx, "mem", subjects, ConsumeOptions{}, func(Event) { delivered.Add(1) }); err != nil {
					b.Fatal(err)
				}
			}
			if n := r.Consumers(); n != 1 {
				b.Fatalf("consumers = %d, want 1", n)
			}
			payload := []byte(`{"__typename":"Employee","id":1}`)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := r.Publish(ctx, "mem", "bench.events", payload); err != nil {
					b.Fatal(err)
				}
				if hook != nil && i%1024 == 1023 {
					// The dispatcher's queue is bounded (it drops past it): stay below.
					for delivered.Load() < int64(i+1)*int64(subs) {
						runtime.Gosched()
					}
				}
			}
			want := int64(b.N) * int64(subs)
			for delivered.Load() < want {
				runtime.Gosched()
			}
		})
	}
}
