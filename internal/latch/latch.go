// Package latch is a one-shot signal that makes no channel unless somebody waits for it
// before it fires.
//
// Event groups and broker consumers each signal once that they started, and almost every
// one of them, with a subject per user, has a single subscriber: the one that started it
// and never waits. A channel per start was 96 bytes of a few hundred per subscription.
package latch

import "sync/atomic"

// Latch is fired once; its zero value is ready to use. It must not be copied after first
// use. It is one word: a mutex, a flag and a channel field were 24 bytes of every group
// and every broker consumer.
type Latch struct {
	// state is nil before anybody waited or Fire; then the waiters' channel; fired once
	// Fire ran.
	state atomic.Pointer[chan struct{}]
}

var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// fired is the state after Fire.
var fired = &closed

// Done returns a channel that is closed once Fire has been called. What the firing
// goroutine wrote before Fire is visible to a goroutine that received from it.
func (l *Latch) Done() <-chan struct{} {
	for {
		if p := l.state.Load(); p != nil {
			return *p
		}
		ch := make(chan struct{})
		if l.state.CompareAndSwap(nil, &ch) {
			return ch
		}
	}
}

// Fire releases every waiter, present and future. Later calls do nothing.
func (l *Latch) Fire() {
	if old := l.state.Swap(fired); old != nil && old != fired {
		close(*old)
	}
}
