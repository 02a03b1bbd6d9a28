package resolve

import (
	"context"
	"fmt"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/telemetry"
)

// BenchmarkGroup_OwnSubjectEvent is one event of a subscriber on a subject of its own,
// from the broker's callback to the subscriber's queue, on the calling goroutine (as the
// broker's goroutine runs it): check, render, stats and push, without a broker or a
// goroutine hand-off in the measurement. ns/op and allocs/op are per delivery.
func BenchmarkGroup_OwnSubjectEvent(b *testing.B) {
	for _, c := range []struct{ name, query, payload string }{
		{"key-only", `subscription { employeeUpdated(id: 1) { id } }`, `{"__typename":"Employee","id":1}`},
		{"aliases", `subscription S { e: employeeUpdated(id: 1) { t: __typename id } }`, `{"__typename":"Employee","id":1}`},
		{"no-typename", `subscription { employeeUpdated(id: 1) { id } }`, `{"id":1}`},
	} {
		b.Run(c.name, func(b *testing.B) {
			e, _ := newEngineWith(b, Options{Log: zerolog.Nop(), Metrics: telemetry.NewMetrics()})
			op, err := e.Prepare(context.Background(), &Request{Query: c.query})
			if err != nil {
				b.Fatal(err)
			}
			s, err := e.Subscribe(context.Background(), op, SubscribeOptions{})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.mu.Lock()
			g := s.group
			s.mu.Unlock()
			if g.spec.sub.fast == nil {
				b.Fatal("the operation does not take the fast path")
			}
			ev := eventsource.Event{Subject: "employeeUpdated.1", Data: []byte(c.payload), Received: telemetry.Now()}
			var buf []Message
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				g.enqueue(ev)
				buf, _ = s.Pull(buf[:0])
				if len(buf) != 1 {
					b.Fatalf("pulled %d messages, want 1", len(buf))
				}
			}
		})
	}
}

// BenchmarkEntityLoader_SplitAnswer parses a full batch's answer (entityBatchMax
// entities) into the arena the loader holds it in. ns/op is per answer.
func BenchmarkEntityLoader_SplitAnswer(b *testing.B) {
	out := []byte(`{"data":{"_entities":[`)
	for i := range entityBatchMax {
		if i > 0 {
			out = append(out, ',')
		}
		out = fmt.Appendf(out, `{"__typename":"Employee","id":%d,"name":"Employee %d"}`, i, i)
	}
	out = append(out, "]}}"...)
	b.ReportAllocs()
	for b.Loop() {
		a := getAnswerArena()
		if splitEntities(a, out, entityBatchMax) == nil {
			b.Fatal("the answer does not split")
		}
		putAnswerArena(a)
	}
}
