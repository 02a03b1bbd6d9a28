package gateway

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

// Clients such as Apollo Client and urql add __typename to every selection set, so it must
// resolve in every position (root types, entities from subgraphs, event fields, publish
// results, request replies) and over every transport, aliased or not.

// transport runs one query or mutation over one client protocol and returns its result.
type transport struct {
	name string
	// noMutation is set for GET, where mutations are not allowed.
	noMutation bool
	run        func(t *testing.T, g *testGateway, query string) string
}

var transports = []transport{
	{name: "POST", run: func(t *testing.T, g *testGateway, query string) string { return g.post(t, query, "") }},
	{name: "GET", noMutation: true, run: func(t *testing.T, g *testGateway, query string) string {
		resp, err := http.Get(g.URL() + "?query=" + url.QueryEscape(query))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}},
	{name: "SSE", run: func(t *testing.T, g *testGateway, query string) string {
		c := subscribeSSE(t, g.URL(), query, "")
		defer c.close()
		return c.next(t)
	}},
	{name: "multipart", run: func(t *testing.T, g *testGateway, query string) string {
		body, _ := json.Marshal(map[string]string{"query": query})
		req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", `multipart/mixed;subscriptionSpec="1.0", application/json`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}},
	{name: "graphql-transport-ws", run: func(t *testing.T, g *testGateway, query string) string {
		c := dialWS(t, g, "graphql-transport-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		wsRead(t, c)
		wsSend(t, c, fmt.Sprintf(`{"id":"1","type":"subscribe","payload":{"query":%q}}`, query))
		m := wsRead(t, c)
		if m["type"] != "next" {
			t.Fatalf("got %v", m)
		}
		return mustJSON(m["payload"])
	}},
	{name: "graphql-ws", run: func(t *testing.T, g *testGateway, query string) string {
		c := dialWS(t, g, "graphql-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		wsRead(t, c)
		wsSend(t, c, fmt.Sprintf(`{"id":"1","type":"start","payload":{"query":%q}}`, query))
		m := wsRead(t, c)
		if m["type"] != "data" {
			t.Fatalf("got %v", m)
		}
		return mustJSON(m["payload"])
	}},
}

func TestGateway_TypenameResolvesEverywhereOverEveryTransport(t *testing.T) {
	g := startGateway(t)
	sub, err := g.nc.Subscribe(g.subject("getEmployee.*"), func(m *natsMsg) {
		_ = m.Respond([]byte(`{"id":3}`)) // no __typename: the field's type is Employee
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	cases := []struct {
		name, query, want string
		mutation          bool
	}{
		{name: "query root", query: `{ __typename }`, want: `{"data":{"__typename":"Query"}}`},
		{name: "query root aliased", query: `query { t: __typename }`, want: `{"data":{"t":"Query"}}`},
		{name: "mutation root", mutation: true, query: `mutation { __typename }`, want: `{"data":{"__typename":"Mutation"}}`},
		{name: "entity from a subgraph", query: `{ employee(id: 1) { __typename id t: __typename } }`,
			want: `{"data":{"employee":{"__typename":"Employee","id":1,"t":"Employee"}}}`},
		{name: "request reply", query: `{ employeeFromEvent(id: 3) { __typename id name } }`,
			want: `{"data":{"employeeFromEvent":{"__typename":"Employee","id":3,"name":"Chen Wei"}}}`},
		{name: "request reply aliased", query: `{ e: employeeFromEvent(id: 3) { t: __typename key: id n: name } }`,
			want: `{"data":{"e":{"t":"Employee","key":3,"n":"Chen Wei"}}}`},
		{name: "publish result", mutation: true, query: `mutation { updateEmployee(id: 90, name: "x") { success __typename } }`,
			want: `{"data":{"updateEmployee":{"success":true,"__typename":"edfs__PublishResult"}}}`},
		{name: "publish result aliased", mutation: true,
			query: `mutation { a: updateEmployee(id: 90) { ok: success t: __typename } b: updateEmployee(id: 91) { __typename } }`,
			want:  `{"data":{"a":{"ok":true,"t":"edfs__PublishResult"},"b":{"__typename":"edfs__PublishResult"}}}`},
	}
	for _, tr := range transports {
		t.Run(tr.name, func(t *testing.T) {
			for _, c := range cases {
				if c.mutation && tr.noMutation {
					continue
				}
				if got := tr.run(t, g, c.query); !sameJSON(got, c.want) {
					t.Errorf("%s: %s\n got %s\nwant %s", c.name, c.query, got, c.want)
				}
			}
		})
	}
}

// subscription transports: each returns the first event of a subscription once the
// gateway counts it as subscribed.
func TestGateway_TypenameInSubscriptionsOverEveryStreamingTransport(t *testing.T) {
	g := startGateway(t)
	const query = `subscription { e: employeeUpdated(id: 3) { __typename id t: __typename name } }`
	const want = `{"data":{"e":{"__typename":"Employee","id":3,"t":"Employee","name":"Chen Wei"}}}`
	publish := func(t *testing.T) {
		eventually(t, "the subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		g.publish(t, "employeeUpdated.3", `{"id":3}`)
	}
	done := func(t *testing.T) {
		eventually(t, "the subscription to end", func() bool { return g.stats.Subscribers.Load() == 0 })
	}
	t.Run("SSE", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, "")
		publish(t)
		if got := c.next(t); got != want {
			t.Fatalf("got %s\nwant %s", got, want)
		}
		c.close()
		done(t)
	})
	t.Run("multipart", func(t *testing.T) {
		body, _ := json.Marshal(map[string]string{"query": query})
		req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", `multipart/mixed;subscriptionSpec="1.0"`)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		publish(t)
		r := bufio.NewReader(resp.Body)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			line, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			if strings.HasPrefix(line, `{"payload":`) {
				if got := strings.TrimSpace(line); got != `{"payload":`+want+`}` {
					t.Fatalf("got %s", got)
				}
				break
			}
		}
		resp.Body.Close()
		done(t)
	})
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		t.Run(proto, func(t *testing.T) {
			c := dialWS(t, g, proto)
			wsSend(t, c, `{"type":"connection_init"}`)
			wsRead(t, c)
			typ, next := "subscribe", "next"
			if proto == "graphql-ws" {
				typ, next = "start", "data"
			}
			wsSend(t, c, fmt.Sprintf(`{"id":"1","type":%q,"payload":{"query":%q}}`, typ, query))
			publish(t)
			m := wsRead(t, c)
			if m["type"] != next || !sameJSON(mustJSON(m["payload"]), want) {
				t.Fatalf("got %v", m)
			}
			_ = c.CloseNow()
			done(t)
		})
	}
	t.Run("introspection field at the subscription root is a validation error", func(t *testing.T) {
		got := g.post(t, `subscription { __typename }`, "")
		if !strings.Contains(got, "must not select an introspection top level field") {
			t.Fatalf("got %s", got)
		}
	})
}

// An operation is checked in full before its first side effect: whatever makes it fail
// (syntax, validation, variables, a subject argument, authorization) publishes nothing,
// so a client that retries after an error never publishes twice.
func TestGateway_FailingOperationPublishesNothing(t *testing.T) {
	g := startGateway(t)
	msgs := make(chan *nats.Msg, 64)
	sub, err := g.nc.ChanSubscribe(g.subject("employeeUpdated.>"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	published := func() uint64 { return g.Registry().Stats()["nats/default"].Published }

	failing := []struct{ name, query, variables, want string }{
		{"syntax error", `mutation { updateEmployee(id: 1) { success }`, "", "unexpected"},
		{"unknown field after a valid publish", `mutation { a: updateEmployee(id: 1) { success } b: updateEmployee(id: 2) { nope } }`, "", `Cannot query field \"nope\"`},
		{"variable of the wrong type", `mutation($id: Int!) { updateEmployee(id: $id) { success } }`, `{"id":"one"}`, "Int"},
		{"missing variable", `mutation($id: Int!) { a: updateEmployee(id: 1) { success } b: updateEmployee(id: $id) { success } }`, "", "id"},
		{"second publish renders a bad subject", `mutation { a: updateEmployee(id: 1) { success } b: updateEmployeeByKey(key: "x.>") { success } }`, "", `"path":["b"]`},
		{"bad subject from a variable", `mutation($k: String!) { a: updateEmployee(id: 1) { success __typename } b: updateEmployeeByKey(key: $k) { success } }`, `{"k":"a b"}`, `"data":null`},
	}
	for _, c := range failing {
		got := g.post(t, c.query, c.variables)
		if !strings.Contains(got, `"errors"`) || !strings.Contains(got, c.want) || strings.Contains(got, `"success":true`) {
			t.Errorf("%s: got %s, want an error containing %s", c.name, got, c.want)
		}
	}
	if n := published(); n != 0 {
		t.Fatalf("edgate_broker_published_total = %d after failing operations, want 0", n)
	}
	// A valid mutation publishes, and its message is the first the broker delivers: none
	// of the failing ones published anything before it.
	got := g.post(t, `mutation { updateEmployeeByKey(key: "marker") { success __typename } }`, "")
	if want := `{"data":{"updateEmployeeByKey":{"success":true,"__typename":"edfs__PublishResult"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	select {
	case m := <-msgs:
		if m.Subject != g.subject("employeeUpdated.marker") {
			t.Fatalf("the broker got %s %s before the valid publish", m.Subject, m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the valid publish did not arrive")
	}
	if n := published(); n != 1 {
		t.Fatalf("edgate_broker_published_total = %d, want 1", n)
	}
}

func TestGateway_RequestWaitsForItsTimeoutOnceAndFailsWithOneError(t *testing.T) {
	g := startGateway(t, withProviderYAML("        request_timeout: 300ms"))
	requests := make(chan *nats.Msg, 16)
	sub, err := g.nc.ChanSubscribe(g.subject("getEmployee.*"), requests) // never replies
	if err != nil {
		t.Fatal(err)
	}
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	got := g.post(t, `{ employeeFromEvent(id: 7) { id name } }`, "")
	took := time.Since(start)
	want := `{"errors":[{"message":"request on \"` + g.subject("getEmployee.7") + `\" failed: no reply within 300ms"}],"data":null}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if took < 300*time.Millisecond || took > 5*time.Second {
		t.Fatalf("the request took %s, request_timeout is 300ms", took)
	}
	_ = sub.Unsubscribe() // drains: every request the gateway sent is in the channel now
	if n := len(requests); n != 1 {
		t.Fatalf("the gateway sent %d requests, want 1", n)
	}
	// The server must have processed the UNSUB before the next request, or it still
	// routes that request here and the gateway waits out its timeout instead of hearing
	// "no responders" (seen on a loaded machine).
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}

	// Nothing listening: at once, one error.
	got = g.post(t, `{ employeeFromEvent(id: 8) { id } }`, "")
	if want := `{"errors":[{"message":"request on \"` + g.subject("getEmployee.8") + `\" failed: no responders (nothing listens on the subject)"}],"data":null}`; got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

// sameJSON reports whether two JSON documents are equal, whatever their key order (the
// WebSocket helpers decode messages into maps).
func sameJSON(a, b string) bool {
	var va, vb any
	if json.Unmarshal([]byte(a), &va) != nil || json.Unmarshal([]byte(b), &vb) != nil {
		return a == b
	}
	return mustJSON(va) == mustJSON(vb)
}

// A publish mutation sends all of its arguments, also optional ones left out (as null):
// updateEmployee(id: 4) publishes {"id":4,"name":null}. Fields the event subgraph does not
// declare (name belongs to the employees subgraph) are resolved from their subgraph, never
// merged from the event, where a null would collide with the resolved value. The same holds
// for request replies.
func TestGateway_UndeclaredEventFieldsAreResolvedNotTakenFromTheEvent(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 4) { __typename id name } }`, "")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() == 1 })
	want := `{"data":{"employeeUpdated":{"__typename":"Employee","id":4,"name":"Dana Schmidt"}}}`
	for _, mutation := range []string{
		`mutation { updateEmployee(id: 4) { success } }`,
		`mutation { updateEmployee(id: 4, name: "D. S.") { success } }`,
	} {
		if got := g.post(t, mutation, ""); got != `{"data":{"updateEmployee":{"success":true}}}` {
			t.Fatalf("%s: %s", mutation, got)
		}
		if got := c.next(t); got != want {
			t.Fatalf("after %s\n got %s\nwant %s", mutation, got, want)
		}
	}
	// An event with a list and an object it does not declare, and the aliases still work.
	g.publish(t, "employeeUpdated.4", `{"id":4,"name":null,"extra":{"a":[1,2]}}`)
	if got := c.next(t); got != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}

	sub, err := g.nc.Subscribe(g.subject("getEmployee.*"), func(m *natsMsg) {
		_ = m.Respond([]byte(`{"id":2,"name":null,"role":null}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := g.post(t, `{ e: employeeFromEvent(id: 2) { key: id name role } }`, "")
	if want := `{"data":{"e":{"key":2,"name":"Bilal Khan","role":"Backend Engineer"}}}`; got != want {
		t.Fatalf("request: got %s\nwant %s", got, want)
	}
}
