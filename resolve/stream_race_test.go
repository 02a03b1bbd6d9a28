package resolve

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/rs/zerolog"
)

// A stream's rarely used part is made on first use, which may come after the stream joined
// its group (a close hook a transport adds, the subscription's trace, the first drop),
// while the group's goroutine delivers events to it and asks it for a subscriber hook's
// view. Run with -race: reading that part's pointer without the stream's lock was a data
// race (seen in CI on a traced subscription whose upstream failed).
func TestStream_RarePartMadeWhileEventsAreDelivered(t *testing.T) {
	e, mem := newEngineWith(t, Options{Log: zerolog.Nop()})
	const n = 50
	subs := make([]subscriber, n)
	for i := range subs {
		subs[i] = subscribeTo(t, e, fmt.Sprintf("subscription { employeeUpdated(id: %d) { id } }", i+1))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for seq := 1; ; seq++ {
			select {
			case <-stop:
				return
			default:
			}
			for i := range subs {
				_ = mem.Publish(context.Background(), fmt.Sprintf("employeeUpdated.%d", i+1), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, seq))
			}
		}
	}()
	// Drain so that queues never fill (a drop would make the part under the lock too).
	for round := 0; round < 20; round++ {
		for i := range subs {
			if round == 10 {
				subs[i].s.OnClose(func() {})
			}
			<-subs[i].wake
			if _, end := subs[i].s.Pull(nil); end != nil {
				t.Fatalf("subscriber %d ended: %+v", i, end)
			}
		}
	}
	close(stop)
	wg.Wait()
}
