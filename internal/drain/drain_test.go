package drain

import (
	"context"
	"testing"
	"time"
)

func TestSpread_EndsEachOnceSpacedOverTheWindow(t *testing.T) {
	const n, window = 5, 200 * time.Millisecond
	start := time.Now()
	var at []time.Duration
	Spread(context.Background(), n, window, func(i int) {
		if i != len(at) {
			t.Fatalf("end(%d) called out of order after %d calls", i, len(at))
		}
		at = append(at, time.Since(start))
	})
	if len(at) != n {
		t.Fatalf("%d calls, want %d", len(at), n)
	}
	// Each call happens no earlier than its slot (a timer never fires early).
	for i, d := range at {
		if slot := window * time.Duration(i) / (n - 1); d < slot {
			t.Errorf("end(%d) at %v, before its slot %v", i, d, slot)
		}
	}
}

func TestSpread_ContextEndEndsTheRestAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	done := make(chan struct{})
	go func() {
		defer close(done)
		Spread(ctx, 3, time.Hour, func(int) {
			calls++
			if calls == 1 {
				cancel()
			}
		})
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Spread did not return after its context ended")
	}
	if calls != 3 {
		t.Fatalf("%d calls, want 3", calls)
	}
}

func TestSpread_NoWindowEndsAllAtOnce(t *testing.T) {
	calls := 0
	Spread(context.Background(), 4, 0, func(int) { calls++ })
	if calls != 4 {
		t.Fatalf("%d calls, want 4", calls)
	}
}
