package eventsource

import (
	"context"
	"sync"
	"time"
)

// confirmer coalesces the round trips that make sure the server has new subscriptions.
// Every subscriber needs a round trip (NATS: PING/PONG) that starts after its own SUB was
// buffered; one round trip confirms every SUB buffered before it. So a subscriber that
// arrives while a round trip is in flight waits for the next one, which starts as soon as
// the current one ends and serves everybody who arrived meanwhile. When 10,000 clients
// reconnect at once that is a few hundred round trips instead of 10,000, and a lone
// subscriber still gets its own at once.
type confirmer struct {
	// flush is one round trip; it gets a context bounded by timeout, not a subscriber's:
	// the round serves several.
	flush   func(context.Context) error
	timeout time.Duration

	mu      sync.Mutex
	next    *confirmRound // gathering subscribers; its round trip has not started
	running bool          // a round trip is in flight
}

type confirmRound struct {
	done    chan struct{}
	err     error
	waiters int // subscribers served, for tests
}

// confirm returns when a round trip that started after the call has ended, with its
// error, or when ctx ends.
func (c *confirmer) confirm(ctx context.Context) error {
	c.mu.Lock()
	if c.next == nil {
		c.next = &confirmRound{done: make(chan struct{})}
	}
	r := c.next
	r.waiters++
	lead := !c.running
	if lead {
		c.running, c.next = true, nil
	}
	c.mu.Unlock()
	if lead {
		c.run(r)
	}
	select {
	case <-r.done:
		return r.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run does round r; the round that gathered meanwhile, if any, runs on a goroutine of its
// own so that r's caller is not held up by later arrivals. The chain ends with the first
// round nobody waited for; each round ends within timeout.
func (c *confirmer) run(r *confirmRound) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	r.err = c.flush(ctx)
	cancel()
	close(r.done)
	c.mu.Lock()
	next := c.next
	c.next = nil
	c.running = next != nil
	c.mu.Unlock()
	if next != nil {
		go c.run(next)
	}
}
