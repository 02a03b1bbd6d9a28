package resolve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

func TestPlanCache_EvictsLeastRecentlyUsedByEntriesAndBytes(t *testing.T) {
	c := newPlanCache(3, 1<<30)
	for i := uint64(1); i <= 3; i++ {
		c.put(&cachedPlan{key: i, normalized: "{a}"})
	}
	c.get(1) // 2 is now the least recently used
	c.put(&cachedPlan{key: 4, normalized: "{a}"})
	if _, ok := c.get(2); ok {
		t.Fatal("2 was not evicted")
	}
	for _, k := range []uint64{1, 3, 4} {
		if _, ok := c.get(k); !ok {
			t.Fatalf("%d evicted", k)
		}
	}

	big := strings.Repeat("x", 10_000)
	c = newPlanCache(100, 3*planCost(big))
	for i := uint64(1); i <= 5; i++ {
		c.put(&cachedPlan{key: i, normalized: big})
	}
	if n, b := c.len(); n != 3 || b != 3*planCost(big) {
		t.Fatalf("%d plans, %d bytes", n, b)
	}
	c.put(&cachedPlan{key: 99, normalized: strings.Repeat(big, 4)})
	if _, ok := c.get(99); ok {
		t.Fatal("a plan over the byte bound on its own was kept")
	}
}

// Distinct operations beyond the cache's bound leave it at its bound.
func TestEngine_PlanCacheStaysBounded(t *testing.T) {
	e, _ := newEngineWith(t, Options{PlanCacheEntries: 5})
	for i := 0; i < 20; i++ {
		q := fmt.Sprintf(`query Q%d { employee(id: 1) { id } }`, i)
		if _, err := e.Prepare(context.Background(), &Request{Query: q}); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := e.pipeline.cache.len(); n != 5 {
		t.Fatalf("%d cached plans", n)
	}
}

// A request whose client left is not prepared further, and nothing of it is cached.
func TestEngine_PrepareStopsWhenTheContextEnds(t *testing.T) {
	e, _ := newEngineWith(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := e.Prepare(ctx, &Request{Query: `{ employee(id: 1) { id } }`})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if n, _ := e.pipeline.cache.len(); n != 0 {
		t.Fatalf("%d cached plans", n)
	}
}

// A request waiting for the planner stops waiting when its client leaves.
func TestEngine_PlanningWaitEndsWithTheContext(t *testing.T) {
	e, _ := newEngineWith(t, Options{})
	e.pipeline.planSem <- struct{}{} // another request is planning
	inner, cancel := context.WithCancel(context.Background())
	ctx := &doneWatcher{Context: inner, asked: make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := e.Prepare(ctx, &Request{Query: `{ employee(id: 1) { id } }`})
		done <- err
	}()
	<-ctx.asked // Prepare waits on Done
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	<-e.pipeline.planSem
}

func TestEngine_PreparationBudget(t *testing.T) {
	e, _ := newEngineWith(t, Options{PreparationBudget: 1})
	_, err := e.Prepare(context.Background(), &Request{Query: `{ employee(id: 1) { id } }`})
	var re *RequestError
	if !errors.As(err, &re) || re.Status != 503 || re.Errors[0].Extensions["code"] != CodePreparationTimeExceeded {
		t.Fatalf("err = %#v", err)
	}
	e, _ = newEngineWith(t, Options{})
	if _, err := e.Prepare(context.Background(), &Request{Query: `{ employee(id: 1) { id } }`}); err != nil {
		t.Fatal(err)
	}
}

// doneWatcher closes asked when Done is first called, which preparation does only while it
// waits for the planner.
type doneWatcher struct {
	context.Context
	asked chan struct{}
	once  sync.Once
}

func (w *doneWatcher) Done() <-chan struct{} {
	w.once.Do(func() { close(w.asked) })
	return w.Context.Done()
}
