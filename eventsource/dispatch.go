package eventsource

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"
)

// Batch is the events one broker consumer received together (see Provider.Consume), on
// their way to every subscriber of the consumer.
type Batch struct {
	// Provider is the provider (String: "nats/default"); Subjects are the consumer's
	// subjects, topics or channels as subscribed (wildcards and patterns included), sorted.
	Provider ProviderID
	Subjects []string
	// Events are the batch's events in broker order. A BeforeDispatch may replace an
	// event's Data (assign a new slice: the payload may be shared with the broker client),
	// and drop, reorder or add events by changing the slice (slices.DeleteFunc and append
	// are safe: the slice is the hook's for the call).
	Events []Event
}

// BeforeDispatch is called once per batch before any subscriber sees it. An error drops
// the batch. It must not keep b or its slices after it returns.
type BeforeDispatch func(ctx context.Context, b *Batch) error

// dispatchPendingEvents bounds the events a consumer's dispatcher holds while its hook
// runs; past it batches are dropped (logged, counted as consume errors of the registry).
const dispatchPendingEvents = 8192

// dispatcher runs the BeforeDispatch hook for one shared consumer on a goroutine of its
// own. Provider goroutines are often shared (one NATS routing goroutine or one Redis
// receive loop for every consumer of a provider), so a slow hook on them would delay every
// consumer; here it delays only its own consumer, whose batches queue up (bounded) behind
// it.
type dispatcher struct {
	sc      *sharedConsumer
	hook    BeforeDispatch
	timeout time.Duration
	log     zerolog.Logger

	mu     sync.Mutex
	events []Event // queued batches, back to back
	ends   []int   // end offset in events of each queued batch
	closed bool

	wake   chan struct{} // capacity 1: a pending wake-up is enough
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	drops  atomic.Uint64
}

func newDispatcher(sc *sharedConsumer, hook BeforeDispatch, timeout time.Duration, log zerolog.Logger) *dispatcher {
	ctx, cancel := context.WithCancel(context.Background())
	d := &dispatcher{sc: sc, hook: hook, timeout: timeout, log: log, wake: make(chan struct{}, 1), ctx: ctx, cancel: cancel, done: make(chan struct{})}
	go d.run()
	return d
}

// push copies batch into the queue; the provider reuses its slice.
func (d *dispatcher) push(batch []Event) {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return
	}
	if len(d.events)+len(batch) > dispatchPendingEvents {
		d.mu.Unlock()
		d.sc.provider.own.consumeErrors.Add(1)
		if n := d.drops.Add(1); n == 1 || n%1000 == 0 {
			d.log.Error().Str("provider", d.sc.provider.p.ID()).Strs("subjects", d.sc.subjects).Int("events", len(batch)).Uint64("dropped_batches_total", n).
				Msg("before-dispatch hook too slow: its queue is full, batch dropped")
		}
		return
	}
	d.events = append(d.events, batch...)
	d.ends = append(d.ends, len(d.events))
	d.mu.Unlock()
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

func (d *dispatcher) run() {
	defer close(d.done)
	var events []Event
	var ends []int
	for {
		select {
		case <-d.ctx.Done():
			return
		case <-d.wake:
		}
		d.mu.Lock()
		events, d.events = d.events, events[:0]
		ends, d.ends = d.ends, ends[:0]
		d.mu.Unlock()
		start := 0
		for _, end := range ends {
			// The full slice expression makes a hook's append copy instead of overwriting
			// the next batch.
			b := Batch{Provider: d.sc.provider.id, Subjects: d.sc.subjects, Events: events[start:end:end]}
			start = end
			if !d.call(&b) {
				continue
			}
			if d.ctx.Err() != nil {
				return // closed while the hook ran: nothing is delivered after close
			}
			d.sc.fanOut(b.Events)
		}
		clear(events) // let the payloads be collected
	}
}

// call runs the hook on one batch; false drops the batch. A panic, an error and a call
// that overran the timeout drop it, with a log line: the hook's failure costs its own
// consumer's events only.
func (d *dispatcher) call(b *Batch) (ok bool) {
	ctx, cancel := context.WithTimeout(d.ctx, d.timeout)
	defer cancel()
	events := len(b.Events)
	defer func() {
		if r := recover(); r != nil {
			d.log.Error().Str("provider", d.sc.provider.p.ID()).Strs("subjects", b.Subjects).Interface("panic", r).Bytes("stack", debug.Stack()).
				Msg("before-dispatch hook panicked; batch dropped")
			ok = false
		}
	}()
	err := d.hook(ctx, b)
	if err == nil && ctx.Err() != nil && d.ctx.Err() == nil {
		err = fmt.Errorf("did not return within the hook timeout (%s)", d.timeout)
	}
	if err != nil {
		if !errors.Is(err, context.Canceled) || d.ctx.Err() == nil {
			d.log.Warn().Err(err).Str("provider", d.sc.provider.p.ID()).Strs("subjects", b.Subjects).Int("events", events).
				Msg("before-dispatch hook failed; batch dropped")
		}
		return false
	}
	return true
}

// close stops the dispatcher after its consumer stopped pushing. It cancels a running
// hook's context and waits for the hook to return, but no longer than the hook timeout:
// a hook that ignores its context must not hold up an unsubscribe or a shutdown. Nothing
// is delivered after close returns.
func (d *dispatcher) close() {
	d.mu.Lock()
	d.closed = true
	d.events, d.ends = nil, nil
	d.mu.Unlock()
	d.cancel()
	t := time.NewTimer(d.timeout)
	defer t.Stop()
	select {
	case <-d.done:
	case <-t.C:
		d.log.Warn().Str("provider", d.sc.provider.p.ID()).Strs("subjects", d.sc.subjects).
			Msg("before-dispatch hook still running after its consumer closed; abandoned")
	}
}
