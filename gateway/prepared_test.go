package gateway

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// metricValue reads one unlabelled counter or gauge from /metrics.
func metricValue(t *testing.T, addr, name string) float64 {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "edgate_"+name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatal(err)
			}
			return f
		}
	}
	t.Fatalf("no metric edgate_%s", name)
	return 0
}

type prepareCounts struct{ hits, misses, evictions float64 }

func prepared(t *testing.T, g *testGateway) prepareCounts {
	return prepareCounts{
		hits:      metricValue(t, g.Addr(), "prepared_operation_hits_total"),
		misses:    metricValue(t, g.Addr(), "prepared_operation_misses_total"),
		evictions: metricValue(t, g.Addr(), "prepared_operation_evictions_total"),
	}
}

func TestPrepared_RepeatedOperationSkipsPreparationAndReloadStartsOver(t *testing.T) {
	g := startGateway(t)
	const withVars = `query Q($id: Int!) { employee(id: $id) { id name } }`
	const literal = `{ employee(id: 1) { id updatedAt } }`

	c0 := prepared(t, g)
	if got := g.post(t, withVars, `{"id":1}`); got != `{"data":{"employee":{"id":1,"name":"Alice Johnson"}}}` {
		t.Fatalf("first request: %s", got)
	}
	literalResult := g.post(t, literal, "")
	if !strings.Contains(literalResult, `"updatedAt"`) {
		t.Fatalf("literal query: %s", literalResult)
	}
	c1 := prepared(t, g)
	if c1.misses != c0.misses+2 || c1.hits != c0.hits {
		t.Fatalf("two new operations: %+v then %+v", c0, c1)
	}
	// The same texts again: no preparation, and each request's own variables, validated.
	if got := g.post(t, withVars, `{"id":2}`); !strings.Contains(got, `"id":2,`) || strings.Contains(got, "Alice") {
		t.Fatalf("cached operation with other variables: %s", got)
	}
	if got := g.post(t, withVars, `{"id":"two"}`); !strings.Contains(got, `"errors"`) || !strings.Contains(got, "id") {
		t.Fatalf("cached operation with a variable of the wrong type: %s", got)
	}
	if got := g.post(t, withVars, `{}`); !strings.Contains(got, `"errors"`) {
		t.Fatalf("cached operation without its required variable: %s", got)
	}
	if got := g.post(t, literal, ""); got != literalResult {
		t.Fatalf("cached literal query: %s, first %s", got, literalResult)
	}
	c2 := prepared(t, g)
	if c2.misses != c1.misses || c2.hits != c1.hits+4 {
		t.Fatalf("repeated operations: %+v then %+v", c1, c2)
	}

	// A reload serves nothing prepared against the old schema: updatedAt is gone.
	dir := filepath.Dir(g.cfg.Path)
	sdl := strings.Replace(g.employees.SDL, "  updatedAt: String\n", "", 1)
	if err := os.WriteFile(filepath.Join(dir, "employees.graphql"), []byte(sdl), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reload(context.Background()); err != nil {
		t.Fatalf("reload: %v", err)
	}
	if got := g.post(t, literal, ""); !strings.Contains(got, `"errors"`) || !strings.Contains(got, "updatedAt") {
		t.Fatalf("operation prepared before the reload: %s", got)
	}
	if got := g.post(t, withVars, `{"id":1}`); !strings.Contains(got, "Alice") {
		t.Fatalf("after the reload: %s", got)
	}
	c3 := prepared(t, g)
	if c3.misses != c2.misses+2 || c3.hits != c2.hits {
		t.Fatalf("after the reload: %+v then %+v", c2, c3)
	}
}

func TestPrepared_BoundsEvictTheLeastRecentlyUsed(t *testing.T) {
	g := startGateway(t, withYAML("limits: { max_prepared_operations: 2 }"))
	ops := []string{`{ employee(id: 1) { id } }`, `{ employee(id: 2) { id } }`, `{ employee(id: 3) { id } }`}
	c0 := prepared(t, g)
	for _, op := range ops {
		if got := g.post(t, op, ""); !strings.Contains(got, `"data":{"employee"`) {
			t.Fatalf("%s: %s", op, got)
		}
	}
	c1 := prepared(t, g)
	if c1.evictions != c0.evictions+1 {
		t.Fatalf("3 operations in a cache of 2: %+v then %+v", c0, c1)
	}
	g.post(t, ops[2], "") // still there
	g.post(t, ops[0], "") // evicted: prepared again
	c2 := prepared(t, g)
	if c2.hits != c1.hits+1 || c2.misses != c1.misses+1 {
		t.Fatalf("after eviction: %+v then %+v", c1, c2)
	}
}

// TestPrepared_AutomaticPersistedQueries follows Apollo Client's persisted-queries link:
// the hash alone, PERSISTED_QUERY_NOT_FOUND, the hash with the text, then the hash alone
// (also over GET).
func TestPrepared_AutomaticPersistedQueries(t *testing.T) {
	g := startGateway(t)
	const query = `query Employee($id: Int!) { employee(id: $id) { id name } }`
	sum := sha256.Sum256([]byte(query))
	hash := hex.EncodeToString(sum[:])
	ext := `{"persistedQuery":{"version":1,"sha256Hash":"` + hash + `"}}`
	post := func(body string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json, application/json")
		status, _, b := doGraphQL(t, req)
		return status, string(b)
	}

	status, body := post(`{"operationName":"Employee","variables":{"id":1},"extensions":` + ext + `}`)
	if status != http.StatusOK || !strings.Contains(body, `"message":"PersistedQueryNotFound"`) || !strings.Contains(body, `"code":"PERSISTED_QUERY_NOT_FOUND"`) {
		t.Fatalf("unknown hash: %d %s", status, body)
	}
	want := `{"data":{"employee":{"id":1,"name":"Alice Johnson"}}}`
	if status, body = post(`{"operationName":"Employee","query":` + strconv.Quote(query) + `,"variables":{"id":1},"extensions":` + ext + `}`); status != http.StatusOK || body != want {
		t.Fatalf("hash with the text: %d %s", status, body)
	}
	c0 := prepared(t, g)
	if status, body = post(`{"operationName":"Employee","variables":{"id":1},"extensions":` + ext + `}`); status != http.StatusOK || body != want {
		t.Fatalf("registered hash: %d %s", status, body)
	}
	u := g.URL() + "?operationName=Employee&variables=" + url.QueryEscape(`{"id":2}`) + "&extensions=" + url.QueryEscape(ext)
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	if status, _, b := doGraphQL(t, req); status != http.StatusOK || !strings.Contains(string(b), `"id":2,`) {
		t.Fatalf("registered hash over GET: %d %s", status, b)
	}
	if c1 := prepared(t, g); c1.hits != c0.hits+2 || c1.misses != c0.misses {
		t.Fatalf("persisted query requests were prepared again: %+v then %+v", c0, c1)
	}

	// A text that does not match its hash is refused, and registers nothing.
	other := strings.Replace(ext, hash, strings.Repeat("0", 64), 1)
	if status, body = post(`{"query":"{ employee(id: 1) { id } }","extensions":` + other + `}`); status != http.StatusBadRequest || !strings.Contains(body, "PERSISTED_QUERY_HASH_MISMATCH") {
		t.Fatalf("mismatched hash: %d %s", status, body)
	}
	if status, body = post(`{"extensions":` + other + `}`); !strings.Contains(body, "PERSISTED_QUERY_NOT_FOUND") {
		t.Fatalf("mismatched hash registered: %d %s", status, body)
	}
}

func TestPrepared_NewSubscriptionToAKnownOperationIsNotPreparedAgain(t *testing.T) {
	g := startGateway(t)
	const op = `subscription { employeeUpdated(id: 1) { id name } }`
	a := subscribeSSE(t, g.URL(), op, "")
	defer a.close()
	eventually(t, "the first subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	c0 := prepared(t, g)
	b := subscribeSSE(t, g.URL(), op, "")
	defer b.close()
	eventually(t, "the second subscription", func() bool { return g.stats.Subscribers.Load() == 2 })
	if c1 := prepared(t, g); c1.hits != c0.hits+1 || c1.misses != c0.misses {
		t.Fatalf("second subscription: %+v then %+v", c0, c1)
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	want := `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`
	if got := b.next(t); got != want {
		t.Fatalf("second subscription got %s", got)
	}
}
