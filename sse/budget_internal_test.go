package sse

import (
	"context"
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

func TestByteBudget_ReservesInOrderAndRefusesOverTheWait(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newByteBudget(1000, 2000, 2*time.Second, c.now) // 1000 B/s, bucket 2000 B

	if w, ok := b.reserve(2000); !ok || w != 0 {
		t.Fatalf("a full bucket: wait %v ok %v", w, ok)
	}
	if w, ok := b.reserve(1500); !ok || w != 1500*time.Millisecond {
		t.Fatalf("1500 B into an empty bucket: wait %v ok %v, want 1.5s", w, ok)
	}
	// behind that debt 1000 B more would wait 2.5s: refused, and nothing taken
	if w, ok := b.reserve(1000); ok || w != 2500*time.Millisecond {
		t.Fatalf("over the wait: wait %v ok %v, want refused with 2.5s", w, ok)
	}
	if w, ok := b.reserve(500); !ok || w != 2*time.Second {
		t.Fatalf("500 B: wait %v ok %v, want 2s (the refused request took nothing)", w, ok)
	}
	c.t = c.t.Add(10 * time.Second) // refills to the bucket's size, not beyond
	if w, ok := b.reserve(2000); !ok || w != 0 {
		t.Fatalf("after 10s: wait %v ok %v", w, ok)
	}
	if _, ok := b.reserve(1); !ok {
		t.Fatal("1 B after the bucket was spent: refused")
	}
}

// The bucket holds at least the largest body it must admit, whatever the rate.
func TestByteBudget_BucketHoldsTheLargestBody(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newByteBudget(10, 1<<20, time.Second, c.now)
	if w, ok := b.reserve(1 << 20); !ok || w != 0 {
		t.Fatalf("a body of the maximum size: wait %v ok %v", w, ok)
	}
}

// A client that leaves while it waits gives its bytes back.
func TestByteBudget_ClientLeavingWhileWaitingGivesItsShareBack(t *testing.T) {
	c := &fakeClock{t: time.Unix(1000, 0)}
	b := newByteBudget(1000, 1000, time.Hour, c.now)
	b.reserve(1000)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, ok := b.take(ctx, 1000); ok {
		t.Fatal("a client that left was admitted")
	}
	if w, ok := b.reserve(1000); !ok || w != time.Second {
		t.Fatalf("after the refund: wait %v ok %v, want 1s (one second of rate, not two)", w, ok)
	}
	b.refund(1 << 30) // never beyond the bucket's size
	if w, _ := b.reserve(1000); w != 0 {
		t.Fatalf("after a large refund: wait %v, want 0", w)
	}
	if w, _ := b.reserve(1); w != time.Millisecond {
		t.Fatalf("the bucket held more than its size: wait %v for 1 B, want 1ms", w)
	}
}
