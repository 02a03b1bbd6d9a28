package eventsource

import (
	"context"
	"errors"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// Subscribers that arrive while a round trip is in flight share the next one: 1 + 1 round
// trips for 51 subscribers, and none of the 50 returns on the round trip that started
// before it asked.
func TestConfirmer_LateArrivalsShareTheNextRoundTrip(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	var calls atomic.Int32
	release := make(chan struct{})
	c := &confirmer{timeout: 5 * time.Second, flush: func(ctx context.Context) error {
		if calls.Add(1) == 1 {
			<-release
			return nil
		}
		return errors.New("second round")
	}}
	first := make(chan error, 1)
	go func() { first <- c.confirm(context.Background()) }()
	eventually(t, "the first round trip in flight", func() bool { return calls.Load() == 1 })

	const late = 50
	errs := make(chan error, late)
	for range late {
		go func() { errs <- c.confirm(context.Background()) }()
	}
	eventually(t, "late subscribers gathered", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.next != nil && c.next.waiters == late
	})
	select {
	case err := <-errs:
		t.Fatalf("a late subscriber returned before its round trip: %v", err)
	default:
	}
	close(release)
	if err := <-first; err != nil {
		t.Fatalf("first: %v", err)
	}
	for range late {
		// the second round's error shows they were answered by the second round trip
		if err := <-errs; err == nil || err.Error() != "second round" {
			t.Fatalf("late subscriber: %v, want the second round's error", err)
		}
	}
	if n := calls.Load(); n != 2 {
		t.Fatalf("%d round trips, want 2", n)
	}
	// idle again: the next subscriber starts its own round trip at once
	if err := c.confirm(context.Background()); err == nil || calls.Load() != 3 {
		t.Fatalf("after the rounds: %v, %d round trips", err, calls.Load())
	}
}

// A subscriber whose context ends stops waiting; the round trip goes on for the others.
func TestConfirmer_WaiterContextEnds(t *testing.T) {
	release := make(chan struct{})
	c := &confirmer{timeout: 5 * time.Second, flush: func(context.Context) error { <-release; return nil }}
	done := make(chan error, 1)
	go func() { done <- c.confirm(context.Background()) }()
	eventually(t, "round trip in flight", func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.running
	})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.confirm(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled waiter: %v", err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// Through a real server: many subscribers at once, and for each an event published from
// another connection right after its Consume returns: all arrive, so the shared round
// trips still confirm every SUB before Consume returns.
func TestNATS_ConcurrentSubscribersReceiveWhatIsPublishedAfterConsume(t *testing.T) {
	for _, target := range natsTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			n := newNATS(t, NATSOptions{URL: target.url})
			pub := newNATS(t, NATSOptions{URL: target.url})
			p := uniquePrefix()
			const subs = 300
			var got atomic.Int32
			var wg sync.WaitGroup
			errs := make(chan error, subs)
			for i := range subs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					subject := p + "." + strconv.Itoa(i)
					cons, err := n.Consume(ctx, []string{subject}, ConsumeOptions{}, func(batch []Event) { got.Add(int32(len(batch))) })
					if err != nil {
						errs <- err
						return
					}
					t.Cleanup(func() { _ = cons.Close() })
					if err := pub.Publish(ctx, subject, []byte("x")); err != nil {
						errs <- err
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			eventually(t, "every subscriber's event", func() bool { return got.Load() == subs })
		})
	}
}
