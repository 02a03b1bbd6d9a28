// Package latch is a one-shot signal that makes no channel unless somebody waits for it
// before it fires.
//
// Event groups and broker consumers each signal once that they started, and almost every
// one of them, with a subject per user, has a single subscriber: the one that started it
// and never waits. A channel per start was 96 bytes of a few hundred per subscription.
package latch

import "sync"

// Latch is fired once; its zero value is ready to use. It must not be copied after first
// use.
type Latch struct {
	mu    sync.Mutex
	fired bool
	ch    chan struct{}
}

var closed = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Done returns a channel that is closed once Fire has been called. What the firing
// goroutine wrote before Fire is visible to a goroutine that received from it.
func (l *Latch) Done() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fired {
		return closed
	}
	if l.ch == nil {
		l.ch = make(chan struct{})
	}
	return l.ch
}

// Fire releases every waiter, present and future. Later calls do nothing.
func (l *Latch) Fire() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fired {
		return
	}
	l.fired = true
	if l.ch != nil {
		close(l.ch)
	}
}
