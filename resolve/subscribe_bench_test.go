package resolve

import (
	"context"
	"strconv"
	"testing"

	"github.com/rs/zerolog"
)

// BenchmarkEngine_SubscribeOwnSubject opens a subscription on a subject of its own, as
// the SSE benchmark's clients do (a text of its own each: the id is a literal), and
// closes it: prepare (a prepared-cache miss), group, trigger and broker consumer, then
// their teardown. ns/op, B/op and allocs/op are per subscription.
func BenchmarkEngine_SubscribeOwnSubject(b *testing.B) {
	for _, c := range []struct{ name, selection string }{
		{"key-only", "id"},
		{"entities", "id name"},
	} {
		b.Run(c.name, func(b *testing.B) {
			e, _ := newEngineWith(b, Options{Log: zerolog.Nop()})
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				q := "subscription { employeeUpdated(id: " + strconv.Itoa(i) + ") { " + c.selection + " } }"
				op, err := e.Prepare(ctx, &Request{Query: q})
				if err != nil {
					b.Fatal(err)
				}
				s, err := e.Subscribe(ctx, op, SubscribeOptions{Wake: func() {}})
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
