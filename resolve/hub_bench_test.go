package resolve

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// BenchmarkHub_FanOut measures one event resolved once for a group and delivered to every
// subscriber's queue (key-only selection: no subgraph fetch). ns/op is per event; the
// ns/delivery metric divides by the subscribers.
func BenchmarkHub_FanOut(b *testing.B) {
	for _, n := range []int{1, 100, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchFanOut(b, n, `subscription { employeeUpdated(id: 1) { id } }`)
		})
	}
}

// BenchmarkHub_FanOutWithEntities adds one _entities fetch per event (to an in-process
// HTTP subgraph), shared by all subscribers of the group.
func BenchmarkHub_FanOutWithEntities(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchFanOut(b, n, `subscription { employeeUpdated(id: 1) { id name } }`)
		})
	}
}

// BenchmarkHub_FanOutWithEventHooks is BenchmarkHub_FanOut with a no-op group hook and a
// no-op subscriber hook: what the hook calls themselves cost (compare with FanOut, which
// has no hooks and checks one nil pointer per event).
func BenchmarkHub_FanOutWithEventHooks(b *testing.B) {
	for _, n := range []int{1, 10000} {
		b.Run(fmt.Sprintf("subscribers=%d", n), func(b *testing.B) {
			benchFanOutWith(b, n, `subscription { employeeUpdated(id: 1) { id } }`, Hooks{Handlers: []any{noopEventHooks{}}})
		})
	}
}

type noopEventHooks struct{}

func (noopEventHooks) OnGroupEvent(context.Context, *GroupEvent) error           { return nil }
func (noopEventHooks) OnSubscriberEvent(context.Context, *SubscriberEvent) error { return nil }

func benchFanOut(b *testing.B, n int, query string) { benchFanOutWith(b, n, query, Hooks{}) }

func benchFanOutWith(b *testing.B, n int, query string, hooks Hooks) {
	e, mem := newEngineWith(b, Options{QueueSize: 1 << 20, Log: zerolog.Nop(), Hooks: hooks})
	op, err := e.Prepare(context.Background(), &Request{Query: query})
	if err != nil {
		b.Fatal(err)
	}
	streams := make([]*Stream, n)
	done := make(chan struct{}, 1)
	for i := range streams {
		var wake func()
		if i == n-1 {
			wake = func() {
				select {
				case done <- struct{}{}:
				default:
				}
			}
		}
		s, err := e.Subscribe(context.Background(), op, SubscribeOptions{Wake: wake})
		if err != nil {
			b.Fatal(err)
		}
		streams[i] = s
	}
	defer func() {
		for _, s := range streams {
			s.Close()
		}
	}()
	payload := []byte(`{"__typename":"Employee","id":1}`)
	last := streams[n-1]
	var buf []Message
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := mem.Publish(context.Background(), "employeeUpdated.1", payload); err != nil {
			b.Fatal(err)
		}
		// Wait until the last subscriber has it, then drain everyone (as transports would).
		for {
			buf, _ = last.Pull(buf[:0])
			if len(buf) > 0 {
				break
			}
			<-done
		}
		for _, s := range streams[:n-1] {
			buf, _ = s.Pull(buf[:0])
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/float64(n), "ns/delivery")
}

// BenchmarkHub_OwnSubjects is the per-user pattern: every subscriber has its own subject
// (employeeUpdated(id: i)), so each event is resolved for one subscriber. ns/op is per
// event and delivery; events go round robin over the subjects, one at a time. So that
// each event does not wait for the entity batch window (events of other groups could not
// join it here), the window is 1ns: "entities" is one event with a request of its own.
func BenchmarkHub_OwnSubjects(b *testing.B) {
	for _, q := range []struct{ name, selection string }{{"key-only", "{ id }"}, {"entities", "{ id name }"}} {
		b.Run(q.name, func(b *testing.B) {
			const n = 1000
			e, mem := newEngineWith(b, Options{Log: zerolog.Nop(), EntityBatchWindow: time.Nanosecond})
			streams := make([]*Stream, n)
			done := make(chan struct{}, 1)
			wake := func() {
				select {
				case done <- struct{}{}:
				default:
				}
			}
			for i := range streams {
				op, err := e.Prepare(context.Background(), &Request{Query: fmt.Sprintf("subscription { employeeUpdated(id: %d) %s }", i+1, q.selection)})
				if err != nil {
					b.Fatal(err)
				}
				if streams[i], err = e.Subscribe(context.Background(), op, SubscribeOptions{Wake: wake}); err != nil {
					b.Fatal(err)
				}
			}
			defer func() {
				for _, s := range streams {
					s.Close()
				}
			}()
			subjects := make([]string, n)
			for i := range subjects {
				subjects[i] = fmt.Sprintf("employeeUpdated.%d", i+1)
			}
			payload := []byte(`{"__typename":"Employee","id":1}`)
			var buf []Message
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				k := i % n
				if err := mem.Publish(context.Background(), subjects[k], payload); err != nil {
					b.Fatal(err)
				}
				for {
					buf, _ = streams[k].Pull(buf[:0])
					if len(buf) > 0 {
						break
					}
					<-done
				}
			}
		})
	}
}

// BenchmarkEngine_PrepareNewText prepares operations whose text is new each time but whose
// plan is cached (literal arguments per user, as in `employeeUpdated(id: 42)`): what every
// such subscription costs before it joins a group. B/op is the garbage a burst of them
// leaves, which sets the heap's peak.
func BenchmarkEngine_PrepareNewText(b *testing.B) {
	e, _ := newEngineWith(b, Options{Log: zerolog.Nop()})
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := e.Prepare(context.Background(), &Request{Query: fmt.Sprintf("subscription { employeeUpdated(id: %d) { id } }", i+1)}); err != nil {
			b.Fatal(err)
		}
	}
}
