package gateway

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/edgate/edgate/eventsource"
)

func TestGateway_EventResolvesEntityFieldsOverSSE(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	if ct := c.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("content type %q", ct)
	}
	eventually(t, "the NATS subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got, want := c.next(t), `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestGateway_KeyOnlySelectionMakesNoSubgraphRequest(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, "")
	eventually(t, "the NATS subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got, want := c.next(t), `{"data":{"employeeUpdated":{"id":1}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if n := len(g.employees.Requests()); n != 0 {
		t.Fatalf("employees subgraph got %d requests, want 0", n)
	}
}

func TestGateway_SubscribersOfOneSubjectShareOneNATSSubscription(t *testing.T) {
	g := startGateway(t)
	queries := []string{
		`subscription { employeeUpdated(id: 1) { id } }`,
		`subscription { employeeUpdated(id: 1) { id name } }`,
		`subscription { employeeUpdated(id: 1) { name role } }`,
	}
	var clients []*sseClient
	for _, q := range queries {
		clients = append(clients, subscribeSSE(t, g.URL(), q, ""))
	}
	eventually(t, "three subscribers", func() bool { return g.stats.Subscribers.Load() == 3 })
	if n := g.Engine().Groups(); n != 3 {
		t.Fatalf("%d groups, want 3", n)
	}
	if n := g.natsSubscriptions(t); n != 1 {
		t.Fatalf("%d NATS subscriptions, want 1", n)
	}
	if n := g.Registry().Consumers(); n != 1 {
		t.Fatalf("%d consumers, want 1", n)
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	for i, c := range clients {
		if got := c.next(t); !strings.Contains(got, `"employeeUpdated"`) {
			t.Fatalf("client %d got %s", i, got)
		}
	}
	for _, c := range clients {
		c.close()
	}
	eventually(t, "no NATS subscription", func() bool { return g.natsSubscriptions(t) == 0 && g.Registry().Consumers() == 0 })
}

func TestGateway_HundredSubscribersOfOneOperationCauseOneEntitiesFetchPerEvent(t *testing.T) {
	g := startGateway(t)
	const n = 100
	clients := make([]*sseClient, n)
	for i := range clients {
		clients[i] = subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 2) { id name } }`, "")
	}
	eventually(t, "100 subscribers", func() bool { return g.stats.Subscribers.Load() == n })
	if groups := g.Engine().Groups(); groups != 1 {
		t.Fatalf("%d groups, want 1", groups)
	}
	for e := 0; e < 3; e++ {
		g.publish(t, "employeeUpdated.2", `{"__typename":"Employee","id":2}`)
		for _, c := range clients {
			if got, want := c.next(t), `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan"}}}`; got != want {
				t.Fatalf("got %s, want %s", got, want)
			}
		}
	}
	if got := g.employees.CountEntitiesRequests(); got != 3 {
		t.Fatalf("%d _entities requests for 3 events, want 3", got)
	}
}

func TestGateway_TwoSubjectsOnOneField(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdatedTwo { id } }`, "")
	// A subscriber is counted once the server acknowledged its broker subscriptions.
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	if n := g.natsSubscriptions(t); n != 2 {
		t.Fatalf("%d NATS subscriptions for two subjects, want 2", n)
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	g.publish(t, "employeeUpdated.3", `{"__typename":"Employee","id":3}`)
	g.publish(t, "employeeUpdated.2", `{"__typename":"Employee","id":2}`)
	if got := c.next(t); got != `{"data":{"employeeUpdatedTwo":{"id":1}}}` {
		t.Fatalf("first: %s", got)
	}
	if got := c.next(t); got != `{"data":{"employeeUpdatedTwo":{"id":2}}}` {
		t.Fatalf("second: %s", got)
	}
}

func TestGateway_WildcardSubject(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdates { id name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.4", `{"__typename":"Employee","id":4}`)
	g.publish(t, "employeeUpdated.5", `{"__typename":"Employee","id":5}`)
	if got := c.next(t); got != `{"data":{"employeeUpdates":{"id":4,"name":"Dana Schmidt"}}}` {
		t.Fatalf("first: %s", got)
	}
	if got := c.next(t); got != `{"data":{"employeeUpdates":{"id":5,"name":"Emeka Okafor"}}}` {
		t.Fatalf("second: %s", got)
	}
}

func TestGateway_SubscriptionFilterInWithArgumentList(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription($ids: [Int!]!) { employeesFiltered(ids: $ids) { id } }`, `{"ids":[2,4]}`)
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	for id := 1; id <= 5; id++ {
		g.publish(t, fmt.Sprintf("employeeUpdated.%d", id), fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id))
	}
	if got := c.next(t); got != `{"data":{"employeesFiltered":{"id":2}}}` {
		t.Fatalf("first: %s", got)
	}
	if got := c.next(t); got != `{"data":{"employeesFiltered":{"id":4}}}` {
		t.Fatalf("second: %s", got)
	}
	c.nothing(t, 300*time.Millisecond)
}

func TestGateway_AliasesOnEventFields(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { who: employeeUpdated(id: 3) { key: id fullName: name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.3", `{"__typename":"Employee","id":3}`)
	if got, want := c.next(t), `{"data":{"who":{"key":3,"fullName":"Chen Wei"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestGateway_UnionReturnType(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { catalogChanged { __typename ... on Employee { id name } ... on Product { upc name price } } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "catalogChanged", `{"__typename":"Product","upc":"p-300"}`)
	g.publish(t, "catalogChanged", `{"__typename":"Employee","id":5}`)
	if got, want := c.next(t), `{"data":{"catalogChanged":{"__typename":"Product","upc":"p-300","name":"Design System","price":1900}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got, want := c.next(t), `{"data":{"catalogChanged":{"__typename":"Employee","id":5,"name":"Emeka Okafor"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestGateway_BurstOfThousandEventsArrivesInOrder(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdates { id } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	const n = 1000
	for i := 1; i <= n; i++ {
		if err := g.nc.Publish(g.subject("employeeUpdated.x"), []byte(fmt.Sprintf(`{"__typename":"Employee","id":%d}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		want := fmt.Sprintf(`{"data":{"employeeUpdates":{"id":%d}}}`, i)
		if got := c.next(t); got != want {
			t.Fatalf("event %d: got %s, want %s", i, got, want)
		}
	}
}

func TestGateway_MalformedEventsGiveErrorsAndKeepTheSubscription(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	for _, bad := range []struct{ payload, want string }{
		{`not json`, "not a JSON object"},
		{`[1,2]`, "not a JSON object"},
		{`{"__typename":"Product","upc":"p-100"}`, `is not the field's type Employee`},
		{`{"__typename":"Employee"}`, `missing its key field \"id\"`},
	} {
		g.publish(t, "employeeUpdated.1", bad.payload)
		got := c.next(t)
		if !strings.Contains(got, `"errors"`) || !strings.Contains(got, bad.want) {
			t.Fatalf("payload %q: got %s, want an error containing %s", bad.payload, got, bad.want)
		}
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got, want := c.next(t), `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("after malformed events: got %s, want %s", got, want)
	}
}

func TestGateway_ArgumentThatWouldChangeTheSubjectIsRejected(t *testing.T) {
	g := startGateway(t)
	for _, key := range []string{"*", "a.>", ">", "a b"} {
		c := subscribeSSE(t, g.URL(), `subscription($k: String!) { employeeUpdatedByKey(key: $k) { id } }`, fmt.Sprintf(`{"k":%q}`, key))
		got := c.next(t)
		if !strings.Contains(got, `"errors"`) || !strings.Contains(got, "would change the subject") {
			t.Fatalf("key %q: got %s", key, got)
		}
	}
	if n := g.Registry().Consumers(); n != 0 {
		t.Fatalf("%d consumers after rejected arguments, want 0", n)
	}
	if n := g.natsSubscriptions(t); n != 0 {
		t.Fatalf("%d NATS subscriptions after rejected arguments, want 0", n)
	}
}

func TestGateway_PublishMutationReachesSubscribers(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 4) { id name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	// A publish carries the JSON of the arguments; the field's return type is the concrete
	// Employee, so the event needs no __typename and resolves like any other.
	got := g.post(t, `mutation { updateEmployee(id: 4, name: "D. Schmidt") { success } }`, "")
	if want := `{"data":{"updateEmployee":{"success":true}}}`; got != want {
		t.Fatalf("mutation: got %s, want %s", got, want)
	}
	if ev, want := c.next(t), `{"data":{"employeeUpdated":{"id":4,"name":"Dana Schmidt"}}}`; ev != want {
		t.Fatalf("subscriber got %s, want %s", ev, want)
	}
}

func TestGateway_EventsForAUnionMustNameTheirType(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { catalogChanged { __typename } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "catalogChanged", `{"upc":"p-300"}`)
	if got := c.next(t); !strings.Contains(got, `no \"__typename\"`) {
		t.Fatalf("got %s", got)
	}
}

func TestGateway_RequestQueryResolvesTheReply(t *testing.T) {
	g := startGateway(t)
	sub, err := g.nc.Subscribe(g.subject("getEmployee.*"), func(m *natsMsg) {
		_ = m.Respond([]byte(`{"__typename":"Employee","id":5}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = g.nc.Flush()
	got := g.post(t, `query { employeeFromEvent(id: 5) { id name role } }`, "")
	if want := `{"data":{"employeeFromEvent":{"id":5,"name":"Emeka Okafor","role":"Site Reliability Engineer"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestGateway_FederatedQueryWithRequiresAndProvides(t *testing.T) {
	g := startGateway(t)
	got := g.post(t, `{ employee(id: 2) { name title products { upc name } } }`, "")
	if want := `{"data":{"employee":{"name":"Bilal Khan","title":"BACKEND ENGINEER","products":[{"upc":"p-100","name":"Edge Gateway"},{"upc":"p-200","name":"Event Router"}]}}}`; got != want {
		t.Fatalf("@requires: got %s\nwant %s", got, want)
	}
	g.products.ResetRequests()
	g.employees.ResetRequests()
	got = g.post(t, `{ product(upc: "p-300") { name owner { id name } } }`, "")
	if want := `{"data":{"product":{"name":"Design System","owner":{"id":4,"name":"Dana Schmidt"}}}}`; got != want {
		t.Fatalf("@provides: got %s\nwant %s", got, want)
	}
	if n := len(g.employees.Requests()); n != 0 {
		t.Fatalf("@provides: employees subgraph got %d requests, want 0 (name is provided)", n)
	}
}

func TestGateway_ManyClientsConcurrently(t *testing.T) {
	g := startGateway(t)
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			_ = g.post(t, fmt.Sprintf(`{ employee(id: %d) { id name } }`, i%5+1), "")
		}(i)
	}
	wg.Wait()
}

func TestGateway_SubscriptionsSurviveANATSServerRestart(t *testing.T) {
	addr := replicaAddr(t)
	g := startGateway(t, withEmbeddedNATS(addr))
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got := c.next(t); !strings.Contains(got, "Alice Johnson") {
		t.Fatalf("before restart: %s", got)
	}

	g.Embedded().Shutdown()
	restarted, err := eventsource.StartEmbedded(eventsource.EmbeddedOptions{Listen: addr})
	if err != nil {
		t.Fatalf("restart NATS: %v", err)
	}
	t.Cleanup(restarted.Shutdown)

	// The gateway reconnects on its own; publish from a fresh connection until the
	// gateway's resubscription is in place.
	pub, err := nats.Connect(g.natsURL, nats.RetryOnFailedConnect(true), nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if pub.IsConnected() {
			_ = pub.Publish(g.subject("employeeUpdated.1"), []byte(`{"__typename":"Employee","id":1}`))
			_ = pub.Flush()
			select {
			case ev := <-c.events:
				if ev.Event != "next" || !strings.Contains(ev.Data, "Alice Johnson") {
					t.Fatalf("after restart: %+v", ev)
				}
				return
			case <-time.After(200 * time.Millisecond):
			}
		} else {
			time.Sleep(50 * time.Millisecond)
		}
		if time.Now().After(deadline) {
			t.Fatal("no event after the NATS server restarted")
		}
	}
}

func TestGateway_ShutdownCompletesEverySSEStream(t *testing.T) {
	g := startGateway(t, withYAML("shutdown: { clients: complete }"))
	clients := []*sseClient{
		subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, ""),
		subscribeSSE(t, g.URL(), `subscription { employeeUpdates { id } }`, ""),
	}
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := g.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for i, c := range clients {
		var last sseEvent
		for ev := range c.events {
			last = ev
		}
		if last.Event != "complete" {
			t.Fatalf("client %d: last frame %+v, want complete", i, last)
		}
	}
	resp, err := http.Get("http://" + g.Addr() + "/health/ready")
	if err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("ready after shutdown")
		}
	}
}

func TestGateway_HealthEndpoints(t *testing.T) {
	g := startGateway(t)
	for _, path := range []string{"/health/live", "/health/ready"} {
		resp, err := http.Get("http://" + g.Addr() + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: status %d", path, resp.StatusCode)
		}
	}
	resp, err := http.Get("http://" + g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, metric := range []string{"edgate_subscriptions", "edgate_triggers", "edgate_events_received_total", "edgate_subscriber_drops_total", `edgate_broker_published_total{provider="nats/default"}`} {
		if !strings.Contains(string(body), metric) {
			t.Fatalf("metrics lack %s:\n%s", metric, body)
		}
	}
}

func TestGateway_ForwardsHeadersToSubgraphsForQueriesAndEventEntities(t *testing.T) {
	g := startGateway(t, withYAML(`headers:
  all:
    request:
      - { op: propagate, named: Authorization }
      - { op: propagate, matching: "(?i)^x-tenant.*" }
      - { op: set, name: X-Gateway, value: edgate }`))
	req, _ := http.NewRequest(http.MethodPost, g.URL(), strings.NewReader(`{"query":"{ employee(id: 1) { name } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer q")
	req.Header.Set("X-Tenant-Id", "acme")
	req.Header.Set("X-Other", "no")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	reqs := g.employees.Requests()
	if len(reqs) != 1 {
		t.Fatalf("%d subgraph requests", len(reqs))
	}
	h := reqs[0].Headers
	if h.Get("Authorization") != "Bearer q" || h.Get("X-Tenant-Id") != "acme" || h.Get("X-Gateway") != "edgate" || h.Get("X-Other") != "" {
		t.Fatalf("forwarded headers: %v", h)
	}

	g.employees.ResetRequests()
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { name } }`, "", "Authorization", "Bearer s")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	c.next(t)
	reqs = g.employees.Requests()
	if len(reqs) != 1 || reqs[0].Headers.Get("Authorization") != "Bearer s" {
		t.Fatalf("entity fetch headers: %+v", reqs)
	}
}

func TestGateway_DifferentForwardedHeadersFormDifferentGroups(t *testing.T) {
	g := startGateway(t, withYAML(`headers: { all: { request: [ { op: propagate, named: Authorization } ] } }`))
	q := `subscription { employeeUpdated(id: 1) { name } }`
	a := subscribeSSE(t, g.URL(), q, "", "Authorization", "Bearer a")
	b := subscribeSSE(t, g.URL(), q, "", "Authorization", "Bearer b")
	a2 := subscribeSSE(t, g.URL(), q, "", "Authorization", "Bearer a")
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 3 })
	if n := g.Engine().Groups(); n != 2 {
		t.Fatalf("%d groups, want 2", n)
	}
	if n := g.Registry().Consumers(); n != 1 {
		t.Fatalf("%d consumers, want 1", n)
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	for _, c := range []*sseClient{a, b, a2} {
		c.next(t)
	}
	if n := g.employees.CountEntitiesRequests(); n != 2 {
		t.Fatalf("%d entity requests, want 2 (one per header scope)", n)
	}
}

func TestGateway_IntrospectionGETAndVariableErrors(t *testing.T) {
	g := startGateway(t)
	got := g.post(t, `{ __type(name: "Employee") { name fields { name } } }`, "")
	if !strings.Contains(got, `"name":"Employee"`) || !strings.Contains(got, `{"name":"title"}`) {
		t.Fatalf("introspection: %s", got)
	}
	got = g.post(t, `{ __schema { subscriptionType { fields { name } } } }`, "")
	if !strings.Contains(got, `"employeeUpdated"`) {
		t.Fatalf("schema introspection: %s", got)
	}

	resp, err := http.Get(g.URL() + "?query=" + url.QueryEscape(`query($id: Int!) { employee(id: $id) { name } }`) + "&variables=" + url.QueryEscape(`{"id":5}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"data":{"employee":{"name":"Emeka Okafor"}}}`; string(body) != want {
		t.Fatalf("GET: got %s, want %s", body, want)
	}

	got = g.post(t, `query($id: Int!) { employee(id: $id) { name } }`, `{"id":"five"}`)
	if !strings.Contains(got, `"errors"`) || !strings.Contains(got, "id") {
		t.Fatalf("bad variable: %s", got)
	}
	got = g.post(t, `{ employee(id: 1) { nope } }`, "")
	if !strings.Contains(got, `"errors"`) || !strings.Contains(got, "nope") {
		t.Fatalf("unknown field: %s", got)
	}
	got = g.post(t, `subscription { employeeUpdated(id: 1) { id } }`, "")
	if !strings.Contains(got, `"errors"`) {
		t.Fatalf("subscription over plain POST: %s", got)
	}
}
