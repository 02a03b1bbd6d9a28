package eventsource

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkRegistry_FanOut measures publish → shared memory consumer → every subscriber,
// per published event, until all subscribers have it.
func BenchmarkRegistry_FanOut(b *testing.B) {
	for _, subs := range []int{1, 10, 100, 1000} {
		b.Run(fmt.Sprintf("subscribers=%d", subs), func(b *testing.B) {
			ctx := context.Background()
			r := NewRegistry(zerolog.Nop())
			defer r.Close()
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
			for range b.N {
				if err := r.Publish(ctx, "mem", "bench.events", payload); err != nil {
					b.Fatal(err)
				}
			}
			want := int64(b.N) * int64(subs)
			for delivered.Load() < want {
				runtime.Gosched()
			}
		})
	}
}
