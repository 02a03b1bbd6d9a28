package latch

import (
	"sync"
	"testing"
)

func TestLatch_WaitersBeforeAndAfterFire(t *testing.T) {
	var l Latch
	before := l.Done()
	select {
	case <-before:
		t.Fatal("done before Fire")
	default:
	}
	var wg sync.WaitGroup
	results := make([]int, 8)
	value := 0
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-l.Done()
			results[i] = value // ordered after the write before Fire (run with -race)
		}()
	}
	value = 42
	l.Fire()
	l.Fire() // a second Fire is harmless
	wg.Wait()
	for i, r := range results {
		if r != 42 {
			t.Fatalf("waiter %d saw %d", i, r)
		}
	}
	select {
	case <-before:
	default:
		t.Fatal("a channel taken before Fire is still open")
	}
	select {
	case <-l.Done():
	default:
		t.Fatal("Done after Fire is not closed")
	}
}

func TestLatch_NoChannelWithoutWaiter(t *testing.T) {
	var l Latch
	l.Fire()
	if l.state.Load() != fired {
		t.Fatal("a latch nobody waited on made a channel")
	}
}
