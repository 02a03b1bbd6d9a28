// Package drain paces the end of a stopping instance's client connections, so that the
// clients it tells to reconnect reach the rest of the fleet spread out instead of in one
// burst.
package drain

import (
	"context"
	"time"
)

// Spread calls end(i) for every i in [0, n): the first at once, the others evenly spaced
// so that the last runs when window has passed. When ctx ends first, the ones left are
// ended at once. It returns after the last call.
func Spread(ctx context.Context, n int, window time.Duration, end func(i int)) {
	if n <= 0 {
		return
	}
	if window <= 0 || n == 1 {
		for i := range n {
			end(i)
		}
		return
	}
	start := time.Now()
	step := window / time.Duration(n-1)
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for i := range n {
		if wait := time.Until(start.Add(step * time.Duration(i))); wait > 0 && ctx.Err() == nil {
			timer.Reset(wait)
			select {
			case <-timer.C:
			case <-ctx.Done():
			}
		}
		end(i)
	}
}
