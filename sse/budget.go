package sse

import (
	"context"
	"math"
	"sync"
	"time"
)

// CodeLargeBodyRate is the extensions.code of the 503 a request with a large body gets when
// the handler's budget for large bodies could not admit it within LargeBodyWait.
const CodeLargeBodyRate = "MAX_LARGE_BODY_RATE_EXCEEDED"

// limitLargeBodyRate is the configuration key the budget's error names (gateway maps it
// onto Options.LargeBodyRate).
const limitLargeBodyRate = "limits.max_large_body_rate"

// byteBudget is a token bucket of bytes shared by every request with a body over
// largeBody. The gate bounds how many such bodies are decoded at once, but a closed-loop
// client is not slowed by it: reading, checking and refusing each 1 MiB body still costs
// a few milliseconds of CPU, and the faster they are refused the more the client sends.
// The budget bounds the bytes per second the handler takes in, and so the CPU all such
// clients together can take from the subscribers' deliveries; each request waits for its
// share before its body is read, so the wait costs a parked goroutine and nothing else.
//
// The bucket may go into debt: a request takes its bytes at once and waits until the
// debt it leaves behind would have been refilled, so requests are admitted in the order
// they arrive and none is starved by smaller ones.
type byteBudget struct {
	rate    float64 // bytes per second
	burst   float64 // the bucket's size: at least the largest admissible body
	maxWait time.Duration
	now     func() time.Time

	mu     sync.Mutex
	tokens float64 // negative: bytes promised to requests still waiting
	last   time.Time
}

func newByteBudget(rate, burst int64, maxWait time.Duration, now func() time.Time) *byteBudget {
	b := &byteBudget{rate: float64(rate), burst: float64(max(rate, burst)), maxWait: maxWait, now: now}
	b.tokens, b.last = b.burst, now()
	return b
}

// reserve takes n bytes and says how long the caller must wait before it reads them. When
// that wait would be longer than maxWait it takes nothing and returns ok false with the
// wait a request of this size would have now (for Retry-After).
func (b *byteBudget) reserve(n int64) (wait time.Duration, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if now.After(b.last) {
		b.tokens = min(b.burst, b.tokens+now.Sub(b.last).Seconds()*b.rate)
		b.last = now
	}
	left := b.tokens - float64(n)
	if left < 0 {
		wait = time.Duration(math.Ceil(-left / b.rate * float64(time.Second)))
	}
	if wait > b.maxWait {
		return wait, false
	}
	b.tokens = left
	return wait, true
}

// refund gives back bytes taken but not read: those of a client that left while waiting,
// or the unused part of what a body of unknown length reserved.
func (b *byteBudget) refund(n int64) {
	if n <= 0 {
		return
	}
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+float64(n))
	b.mu.Unlock()
}

// take reserves n bytes and waits for them. ok false: over the budget (nothing taken;
// retry is the wait it would have needed) or the client left while waiting (the bytes
// are given back; ctx.Err() is set).
func (b *byteBudget) take(ctx context.Context, n int64) (retry time.Duration, ok bool) {
	wait, ok := b.reserve(n)
	if !ok {
		return wait, false
	}
	if wait <= 0 {
		return 0, true
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		return 0, true
	case <-ctx.Done():
		b.refund(n)
		return 0, false
	}
}
