package gateway

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/edgate/edgate/testkit/demo"
)

// entitiesLog records the _entities requests the employees subgraph gets: the
// Authorization header and the number of representations of each.
type entitiesLog struct {
	mu       sync.Mutex
	requests []entitiesRequest
}

type entitiesRequest struct {
	auth string
	reps int
}

// wrap records each _entities request and answers those with "Bearer broken" with a 500.
func (l *entitiesLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if bytes.Contains(body, []byte("_entities")) {
			l.mu.Lock()
			l.requests = append(l.requests, entitiesRequest{auth: r.Header.Get("Authorization"), reps: bytes.Count(body, []byte(`"__typename"`))})
			l.mu.Unlock()
			if r.Header.Get("Authorization") == "Bearer broken" {
				http.Error(w, "broken", http.StatusInternalServerError)
				return
			}
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		next.ServeHTTP(w, r)
	})
}

func (l *entitiesLog) snapshot() []entitiesRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]entitiesRequest(nil), l.requests...)
}

// ownSubjectRun is the outcome of ownSubjectEntities: what each subscriber received, and
// the subgraph's _entities requests.
type ownSubjectRun struct {
	got      [][]string
	requests []entitiesRequest
	fetches  uint64
}

// ownSubjectEntities opens one SSE subscription per subject employeeUpdated.1..n selecting
// a field of the employees subgraph (so every event needs an _entities fetch), with the
// Authorization header auth(i), and publishes one event per subject (entity id(i)), then
// two more on subject 1; it returns what each subscriber received.
func ownSubjectEntities(t *testing.T, window string, n int, auth func(i int) string, id func(i int) int) ownSubjectRun {
	t.Helper()
	var log entitiesLog
	g := startGateway(t, withEmployeesHandler(log.wrap), withYAML(`headers: { all: { request: [ { op: propagate, named: Authorization } ] } }
subscriptions: { entity_batch_window: `+window+` }`))
	clients := make([]*sseClient, n)
	for i := range clients {
		clients[i] = subscribeSSE(t, g.URL(), fmt.Sprintf(`subscription { employeeUpdated(id: %d) { id name } }`, i+1), "", "Authorization", auth(i))
		t.Cleanup(clients[i].close)
	}
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == int64(n) && g.Registry().Consumers() == n })
	for i := range clients {
		if err := g.nc.Publish(g.subject(fmt.Sprintf("employeeUpdated.%d", i+1)), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, id(i))); err != nil {
			t.Fatal(err)
		}
	}
	// the first subscriber's later events wait behind its first, which waits for its entity
	for _, e := range []int{2, 3} {
		if err := g.nc.Publish(g.subject("employeeUpdated.1"), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, e)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	run := ownSubjectRun{got: make([][]string, n)}
	for i, c := range clients {
		run.got[i] = append(run.got[i], c.next(t))
	}
	run.got[0] = append(run.got[0], clients[0].next(t), clients[0].next(t))
	run.requests = log.snapshot()
	run.fetches = g.stats.EntityFetches.Load()
	return run
}

// Events on subjects of their own (a subject per subscriber) that need an _entities fetch
// share requests across their groups, per forwarded Authorization header, and every
// subscriber gets exactly what it gets without batching: its own entity, the error of an
// unknown entity, the failure of its scope's subgraph requests, its events in order.
func TestGateway_OwnSubjectEventsShareEntitiesRequestsPerHeaderScope(t *testing.T) {
	const n = 30
	auth := func(i int) string {
		switch {
		case i >= n-3:
			return "Bearer broken" // every request of this scope fails with a 500
		case i%2 == 0:
			return "Bearer a"
		default:
			return "Bearer b"
		}
	}
	id := func(i int) int {
		if i == 7 || i == 8 {
			return 99 // unknown: the subgraph answers null, the gateway reports an error
		}
		return i%5 + 1
	}
	want := ownSubjectEntities(t, "0s", n, auth, id)
	got := ownSubjectEntities(t, "300ms", n, auth, id)

	roster := demo.Roster()
	for i := range n {
		if len(got.got[i]) != len(want.got[i]) {
			t.Fatalf("subscriber %d got %d events, want %d", i+1, len(got.got[i]), len(want.got[i]))
		}
		for k := range got.got[i] {
			if got.got[i][k] != want.got[i][k] {
				t.Errorf("subscriber %d event %d: batched %s, unbatched %s", i+1, k, got.got[i][k], want.got[i][k])
			}
		}
		switch e := id(i); {
		case auth(i) == "Bearer broken", e == 99:
			if !strings.Contains(got.got[i][0], `"errors"`) {
				t.Errorf("subscriber %d: %s, want an error", i+1, got.got[i][0])
			}
		default:
			if w := fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d,"name":%q}}}`, e, roster[e-1].Name); got.got[i][0] != w {
				t.Errorf("subscriber %d: %s, want %s", i+1, got.got[i][0], w)
			}
		}
	}
	for k, e := range []int{2, 3} {
		if w := fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d,"name":%q}}}`, e, roster[e-1].Name); got.got[0][k+1] != w {
			t.Errorf("subscriber 1 event %d: %s, want %s", k+2, got.got[0][k+1], w)
		}
	}

	// Unbatched: one request per event. Batched: within each header scope the first
	// event goes at once and the others wait for the window; the unknown entities and
	// the broken scope are then fetched alone by the general resolver.
	t.Logf("requests: unbatched %v, batched %v", want.requests, got.requests)
	perScope := map[string]int{}
	reps := 0
	for _, r := range got.requests {
		perScope[r.auth]++
		if r.auth != "Bearer broken" {
			reps += r.reps
		}
	}
	// a: 14 events + 2 later ones on subject 1, b: 13; each: the first at once, the rest
	// in one batch (a loaded machine may split it once more), the unknown entity alone
	for _, scope := range []string{"Bearer a", "Bearer b"} {
		if perScope[scope] < 2 || perScope[scope] > 4 {
			t.Errorf("%s: %d _entities requests (%v)", scope, perScope[scope], got.requests)
		}
	}
	if perScope["Bearer broken"] < 3 {
		t.Errorf("the broken scope made %d requests, want its 3 fetches retried alone", perScope["Bearer broken"])
	}
	unbatched := 0
	for _, r := range want.requests {
		if r.auth != "Bearer broken" {
			unbatched++
		}
	}
	if b := perScope["Bearer a"] + perScope["Bearer b"]; b >= unbatched {
		t.Errorf("scopes a and b: %d _entities requests batched, %d unbatched", b, unbatched)
	}
	// every representation of scopes a and b was sent (the two unknown ones twice)
	if reps < n-3+2 {
		t.Errorf("%d representations sent for scopes a and b", reps)
	}
	if got.fetches < n+2 {
		t.Errorf("edgate_entity_fetches_total %d, want at least %d", got.fetches, n+2)
	}
}

// A burst of events to one group with a selection that needs _entities arrives in order,
// and the events that waited behind each other share requests instead of one per event.
func TestGateway_BurstToOneGroupWithEntitiesStaysInOrderAndShareRequests(t *testing.T) {
	var log entitiesLog
	g := startGateway(t, withEmployeesHandler(log.wrap))
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	t.Cleanup(c.close)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 && g.Registry().Consumers() == 1 })
	const n = 200
	for i := range n {
		if err := g.nc.Publish(g.subject("employeeUpdated.1"), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, i%5+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	roster := demo.Roster()
	for i := range n {
		e := roster[i%5]
		if got, want := c.next(t), fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d,"name":%q}}}`, e.ID, e.Name); got != want {
			t.Fatalf("event %d: %s, want %s", i, got, want)
		}
	}
	reqs := log.snapshot()
	reps := 0
	for _, r := range reqs {
		reps += r.reps
	}
	if reps < n/5 || len(reqs) >= n/2 {
		t.Fatalf("%d _entities requests with %d representations for %d events", len(reqs), reps, n)
	}
	t.Logf("%d requests for %d events", len(reqs), n)
}

// The entity loader's requests carry what the engine's fetch sends (the forwarded
// Authorization header, JSON Accept and Content-Type, gzip and deflate accepted) exactly
// once each, request after request of the same scope, over connections kept alive.
func TestGateway_EntitiesRequestsOfOneScopeCarryTheirHeadersOnce(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	g := startGateway(t, withEmployeesHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, _ := io.ReadAll(r.Body)
			if bytes.Contains(body, []byte("_entities")) {
				mu.Lock()
				seen = append(seen, r.Header.Clone())
				mu.Unlock()
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			next.ServeHTTP(w, r)
		})
	}), withYAML(`headers: { all: { request: [ { op: propagate, named: Authorization } ] } }`))
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "", "Authorization", "Bearer a")
	t.Cleanup(c.close)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 && g.Registry().Consumers() == 1 })
	roster := demo.Roster()
	const n = 4
	for i := range n {
		// one at a time: each event is a request of its own on the same scope
		if err := g.nc.Publish(g.subject("employeeUpdated.1"), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, i+1)); err != nil {
			t.Fatal(err)
		}
		if got, want := c.next(t), fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d,"name":%q}}}`, i+1, roster[i].Name); got != want {
			t.Fatalf("event %d: %s, want %s", i+1, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != n {
		t.Fatalf("%d _entities requests for %d events sent one at a time", len(seen), n)
	}
	assertHeadersOnce(t, seen)
}

// The same for events the general resolver settles (two fetches: the employee's name and
// role, then its title from the products subgraph, which @requires the role): every
// request of a long-lived group gets the forwarded headers as configured, not the
// headers the HTTP client added to the previous request on top of them.
func TestGateway_GeneralResolverRequestsOfOneGroupCarryTheirHeadersOnce(t *testing.T) {
	var mu sync.Mutex
	var seen []http.Header
	g := startGateway(t, withEmployeesHandler(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			seen = append(seen, r.Header.Clone())
			mu.Unlock()
			next.ServeHTTP(w, r)
		})
	}), withYAML(`headers: { all: { request: [ { op: propagate, named: Authorization } ] } }`))
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name title } }`, "", "Authorization", "Bearer a")
	t.Cleanup(c.close)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 && g.Registry().Consumers() == 1 })
	const n = 3
	for i := range n {
		if err := g.nc.Publish(g.subject("employeeUpdated.1"), fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, i+1)); err != nil {
			t.Fatal(err)
		}
		if got := c.next(t); !strings.Contains(got, `"title":`) || strings.Contains(got, `"errors"`) {
			t.Fatalf("event %d: %s", i+1, got)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) < n {
		t.Fatalf("%d employees requests for %d events", len(seen), n)
	}
	assertHeadersOnce(t, seen)
}

// assertHeadersOnce checks that each subgraph request carried the forwarded Authorization
// and the HTTP client's own headers exactly once.
func assertHeadersOnce(t *testing.T, seen []http.Header) {
	t.Helper()
	for i, h := range seen {
		for name, want := range map[string]string{
			"Authorization":   "Bearer a",
			"Accept":          "application/json",
			"Content-Type":    "application/json",
			"Accept-Encoding": "gzip,deflate",
		} {
			if got := strings.Join(h.Values(name), ","); got != want {
				t.Errorf("request %d: %s %q, want %q", i+1, name, got, want)
			}
		}
	}
}
