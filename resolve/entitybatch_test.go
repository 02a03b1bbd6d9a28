package resolve

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

type batchEnv struct {
	e   *Engine
	mem *eventsource.Memory
	sub *minigraph.Subgraph
}

func newBatchEnv(t *testing.T, window time.Duration, wrap func(http.Handler) http.Handler) *batchEnv {
	t.Helper()
	sub := demo.Employees()
	e, mem := engineOnSubgraph(t, sub, window, wrap)
	return &batchEnv{e: e, mem: mem, sub: sub}
}

// engineOnSubgraph is an engine whose employees subgraph is sub (its handler wrapped by
// wrap, if any) and whose events come from an in-memory NATS provider.
func engineOnSubgraph(t testing.TB, sub *minigraph.Subgraph, window time.Duration, wrap func(http.Handler) http.Handler) (*Engine, *eventsource.Memory) {
	t.Helper()
	h := sub.Handler()
	if wrap != nil {
		h = wrap(h)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	super, err := schema.Compose([]schema.SubgraphSource{
		{Name: "employees", RoutingURL: srv.URL, SDL: sub.SDL},
		{Name: "events", SDL: eventsSDL},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := eventsource.NewRegistry(zerolog.Nop())
	mem := eventsource.NewMemory("nats/default")
	if err := reg.Add(mem); err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Options{Supergraph: super, Events: reg, EntityBatchWindow: window, Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Shutdown(End{Code: EndShutdown})
		_ = reg.Close()
	})
	return e, mem
}

// run subscribes n groups, subjects employeeUpdated.1..n, publishes one event to each
// (entity id ids(i)) at once and returns what each subscriber received.
func (env *batchEnv) run(t *testing.T, n int, ids func(i int) int) []string {
	t.Helper()
	streams := make([]*Stream, n)
	wakes := make([]chan struct{}, n)
	for i := range streams {
		op, err := env.e.Prepare(context.Background(), &Request{Query: fmt.Sprintf("subscription { employeeUpdated(id: %d) { id name } }", i+1)})
		if err != nil {
			t.Fatal(err)
		}
		wake := make(chan struct{}, 1)
		wakes[i] = wake
		streams[i], err = env.e.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {
			select {
			case wake <- struct{}{}:
			default:
			}
		}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(streams[i].Close)
	}
	env.sub.ResetRequests()
	for i := range streams {
		if err := env.mem.Publish(context.Background(), fmt.Sprintf("employeeUpdated.%d", i+1), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, ids(i))); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]string, n)
	for i, s := range streams {
		out[i] = string(next(t, s, wakes[i]).Payload)
	}
	return out
}

// Events of different groups that need entities from the same subgraph within the window
// share one _entities request, and each gets its own entity back.
func TestEntityBatch_EventsOfManyGroupsShareOneEntitiesRequest(t *testing.T) {
	env := newBatchEnv(t, 200*time.Millisecond, nil)
	const n = 20
	got := env.run(t, n, func(i int) int { return i%5 + 1 })
	roster := demo.Roster()
	for i, p := range got {
		e := roster[i%5]
		want := fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d,"name":%q}}}`, e.ID, e.Name)
		if p != want {
			t.Errorf("subscriber %d got %s, want %s", i+1, p, want)
		}
	}
	// the first fetch goes at once, the others wait in one batch while it is in flight;
	// on a loaded machine a straggler that finds nothing in flight goes alone, so the
	// bound leaves room for a few
	if r := env.sub.CountEntitiesRequests(); r < 1 || r > n/4 {
		t.Errorf("%d _entities requests for %d events", r, n)
	}
	// the engine already shares identical fetches (5 distinct entities here)
	st := env.e.Stats()
	if f := st.EntityFetches.Load(); f < 5 || f > n || st.EntityRequests.Load() != uint64(env.sub.CountEntitiesRequests()) {
		t.Errorf("stats: %d fetches, %d requests", st.EntityFetches.Load(), st.EntityRequests.Load())
	}
}

// A batch whose answer cannot be split with certainty (here: the subgraph answers every
// request for more than one representation with an error) is retried fetch by fetch, so
// every subscriber sees what it would have seen without batching; an unknown entity (null)
// is split like any other.
func TestEntityBatch_AnswerWithErrorsIsRetriedPerFetch(t *testing.T) {
	ids := func(i int) int {
		if i == 2 {
			return 99
		}
		return i + 1
	}
	want := newBatchEnv(t, -1, nil).run(t, 5, ids)
	for _, tc := range []struct {
		name          string
		wrap          func(http.Handler) http.Handler
		min, requests uint64
	}{
		// the first at once, the other four in one batch (or three batches at worst)
		{"split", nil, 2, 3},
		// the batch fails and each of its fetches is retried alone
		{"errors", refuseBatches, 1 + 5, 1 + 4 + 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := newBatchEnv(t, 200*time.Millisecond, tc.wrap)
			got := env.run(t, 5, ids)
			for i := range got {
				if got[i] != want[i] {
					t.Errorf("subscriber %d: batched %s, unbatched %s", i+1, got[i], want[i])
				}
			}
			if r := env.e.Stats().EntityRequests.Load(); r < tc.min || r > tc.requests {
				t.Errorf("%d subgraph requests, want %d to %d", r, tc.min, tc.requests)
			}
		})
	}
}

// refuseBatches answers a request with more than one representation with a GraphQL error.
func refuseBatches(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Count(body, []byte(`"__typename"`)) > 1 {
			_, _ = w.Write([]byte(`{"errors":[{"message":"no batches here"}],"data":null}`))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}
