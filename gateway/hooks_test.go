package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgate/edgate/config"
)

// startHook refuses clients without "X-Team: blue" and records what it saw.
type startHook struct {
	mu   sync.Mutex
	seen []SubscriptionStart
}

func (h *startHook) OnSubscriptionStart(ctx context.Context, s *SubscriptionStart) error {
	h.mu.Lock()
	h.seen = append(h.seen, *s)
	h.mu.Unlock()
	switch s.Header.Get("X-Team") {
	case "blue":
		return nil
	case "panic":
		panic("a bug in the hook")
	case "slow":
		<-ctx.Done() // overruns the hook timeout
		return ctx.Err()
	}
	return &HookError{Code: "TEAM_ONLY", Message: "only team blue may subscribe"}
}

func (h *startHook) last(t *testing.T) SubscriptionStart {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.seen) == 0 {
		t.Fatal("the start hook was not called")
	}
	return h.seen[len(h.seen)-1]
}

// publishHook refuses names "forbidden" and stamps every other payload.
type publishHook struct{}

func (publishHook) OnPublish(_ context.Context, p *Publish) error {
	var m map[string]any
	if err := json.Unmarshal(p.Payload, &m); err != nil {
		return err
	}
	if m["name"] == "forbidden" {
		return &HookError{Code: "NAME_REFUSED", Message: "this name is not allowed"}
	}
	m["stampedBy"] = p.Header.Get("X-Team") + "/" + p.Field
	b, err := json.Marshal(m)
	p.Payload = b
	return err
}

func TestGateway_SubscriptionStartHook(t *testing.T) {
	hook := &startHook{}
	g := startGateway(t, withOptions(WithHooks(hook), WithHookTimeout(200*time.Millisecond)))
	query := `subscription S($id: Int!) { employeeUpdated(id: $id) { id name } }`

	t.Run("refused over SSE", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "red")
		defer c.close()
		// As for other refusals over SSE: the stream carries the error, then complete.
		wantRefused(t, c, "TEAM_ONLY")
		if n := g.stats.Subscribers.Load(); n != 0 {
			t.Fatalf("%d subscriptions after a refusal", n)
		}
		if n := g.Registry().Consumers(); n != 0 {
			t.Fatalf("%d broker consumers after a refusal", n)
		}
	})

	t.Run("allowed over SSE sees the operation and subjects", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "blue")
		defer c.close()
		eventually(t, "the subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
		s := hook.last(t)
		if s.Field != "employeeUpdated" || s.Provider != (ProviderID{Kind: "nats", ID: "default"}) || s.OperationName != "" ||
			len(s.Subjects) != 1 || s.Subjects[0] != g.subject("employeeUpdated.4") || string(s.Variables) != `{"id":4}` {
			t.Fatalf("hook saw %+v", s)
		}
		g.publish(t, "employeeUpdated.4", `{"__typename":"Employee","id":4}`)
		if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":4,"name":"Dana Schmidt"}}}` {
			t.Fatalf("event %s", got)
		}
	})
	eventually(t, "no subscriptions", func() bool { return g.stats.Subscribers.Load() == 0 })

	t.Run("refused over WebSocket, the connection stays", func(t *testing.T) {
		c := dialWS(t, g, "graphql-transport-ws")
		wsSend(t, c, `{"type":"connection_init"}`)
		if m := wsRead(t, c); m["type"] != "connection_ack" {
			t.Fatalf("got %v", m)
		}
		wsSend(t, c, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 4) { id } }"}}`)
		m := wsRead(t, c)
		b, _ := json.Marshal(m)
		if m["type"] != "error" || m["id"] != "1" || !strings.Contains(string(b), "TEAM_ONLY") {
			t.Fatalf("got %s", b)
		}
		// The same connection can still subscribe to what the hook allows: here nothing is
		// allowed without the header, so a query still works.
		wsSend(t, c, `{"id":"2","type":"subscribe","payload":{"query":"{ employee(id: 1) { name } }"}}`)
		if m := wsRead(t, c); m["type"] != "next" || m["id"] != "2" {
			t.Fatalf("got %v", m)
		}
	})

	t.Run("a panicking hook refuses only its subscription", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "panic")
		defer c.close()
		wantRefused(t, c, "HOOK_ERROR")
	})

	t.Run("a slow hook times out", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), query, `{"id":4}`, "X-Team", "slow")
		defer c.close()
		wantRefused(t, c, "HOOK_TIMEOUT")
	})
	if n := g.stats.Subscribers.Load(); n != 0 {
		t.Fatalf("%d subscriptions left", n)
	}
}

func TestGateway_PublishHook(t *testing.T) {
	g := startGateway(t, withOptions(WithHooks(publishHook{})))
	msgs := make(chan *nats.Msg, 16)
	sub, err := g.nc.ChanSubscribe(g.subject("employeeUpdated.7"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	mutate := func(name string) string {
		return postWith(t, g, `mutation($name: String) { updateEmployee(id: 7, name: $name) { success } }`, `{"name":"`+name+`"}`, "X-Team", "green")
	}

	// Refused: an error with the hook's code, and nothing is sent. The next publish,
	// which is allowed, is the first message the broker carries.
	if got := mutate("forbidden"); !strings.Contains(got, `"code":"NAME_REFUSED"`) || !strings.Contains(got, `"path":["updateEmployee"]`) {
		t.Fatalf("refused publish answered %s", got)
	}
	if got := mutate("Grace"); got != `{"data":{"updateEmployee":{"success":true}}}` {
		t.Fatalf("publish answered %s", got)
	}
	select {
	case m := <-msgs:
		var payload map[string]any
		if err := json.Unmarshal(m.Data, &payload); err != nil {
			t.Fatal(err)
		}
		if payload["name"] != "Grace" || payload["stampedBy"] != "green/updateEmployee" {
			t.Fatalf("the broker carried %s, want the hook's rewrite of Grace's publish", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the broker")
	}
}

func TestNew_RefusesAValueThatIsNoHook(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.graphql"), []byte("type Query { a: Int }"), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := "listen_addr: 127.0.0.1:0\nsubgraphs:\n  - name: a\n    routing_url: http://127.0.0.1:1/graphql\n    schema: { file: a.graphql }\n"
	if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "edgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, err = New(context.Background(), cfg, zerolog.Nop(), WithHooks(struct{ Name string }{}))
	if err == nil || !strings.Contains(err.Error(), "implements no hook interface") {
		t.Fatalf("New with a value that is no hook: %v", err)
	}
}

// postWith POSTs an operation with request headers (name, value pairs) and returns the
// response body.
func postWith(t *testing.T, g *testGateway, query, variables string, header ...string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": json.RawMessage(orEmpty(variables))})
	req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// snapshotHook sends the current state of the employee first. Before answering it
// publishes a live event and waits until the gateway received it, so that the test shows
// the event that arrived while the hook ran is delivered after the snapshot, not lost.
type snapshotHook struct {
	g *testGateway
	t *testing.T
}

func (h snapshotHook) OnSnapshot(_ context.Context, s *SubscriptionStart) ([][]byte, error) {
	if s.Header.Get("X-Live-During-Snapshot") != "" {
		before := h.g.stats.EventsReceived.Load()
		// On employee 3's subject, but naming employee 2, so that it differs from the snapshot.
		h.g.publish(h.t, "employeeUpdated.3", `{"__typename":"Employee","id":2}`)
		for h.g.stats.EventsReceived.Load() == before {
			runtime.Gosched()
		}
	}
	var v struct{ ID int }
	if err := json.Unmarshal(s.Variables, &v); err != nil {
		return nil, err
	}
	return [][]byte{[]byte(`{"__typename":"Employee","id":` + strconv.Itoa(v.ID) + `}`)}, nil
}

func TestGateway_SnapshotHookSendsStateFirstAndLosesNothing(t *testing.T) {
	hook := snapshotHook{t: t}
	g := startGateway(t, withOptions(WithHooks(&lateBound{snapshot: func(ctx context.Context, s *SubscriptionStart) ([][]byte, error) { return hook.OnSnapshot(ctx, s) }})))
	hook.g = g
	c := subscribeSSE(t, g.URL(), `subscription($id: Int!) { employeeUpdated(id: $id) { id name } }`, `{"id":3}`, "X-Live-During-Snapshot", "1")
	defer c.close()
	// The snapshot, resolved like an event (name from the employees subgraph) ...
	if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":3,"name":"Chen Wei"}}}` {
		t.Fatalf("first event %s, want the snapshot", got)
	}
	// ... then the event published while the hook ran.
	if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan"}}}` {
		t.Fatalf("second event %s, want the live one", got)
	}
	g.publish(t, "employeeUpdated.3", `{"__typename":"Employee","id":3}`)
	if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":3,"name":"Chen Wei"}}}` {
		t.Fatalf("third event %s", got)
	}
	// The snapshot went to this subscriber only: another one on the same group gets
	// its own snapshot and then the live event, once.
	c2 := subscribeSSE(t, g.URL(), `subscription($id: Int!) { employeeUpdated(id: $id) { id name } }`, `{"id":3}`)
	defer c2.close()
	if got := c2.next(t); got != `{"data":{"employeeUpdated":{"id":3,"name":"Chen Wei"}}}` {
		t.Fatalf("second subscriber's snapshot %s", got)
	}
	g.publish(t, "employeeUpdated.3", `{"__typename":"Employee","id":3}`)
	c.next(t)
	c2.next(t)
	c.nothing(t, 50*time.Millisecond)
}

// lateBound lets a test build a hook that needs the gateway it is passed to.
type lateBound struct {
	snapshot func(context.Context, *SubscriptionStart) ([][]byte, error)
}

func (l *lateBound) OnSnapshot(ctx context.Context, s *SubscriptionStart) ([][]byte, error) {
	return l.snapshot(ctx, s)
}

// eventHooks drops events of employee 13, turns employee 14 into employee 1 (for the
// whole group), and redacts names for subscribers without "X-Role: admin".
type eventHooks struct{ groupCalls, subscriberCalls atomic.Int64 }

func (h *eventHooks) OnGroupEvent(_ context.Context, e *GroupEvent) error {
	h.groupCalls.Add(1)
	switch {
	case strings.HasSuffix(e.Subject, ".13"):
		e.Data = nil
	case strings.HasSuffix(e.Subject, ".14"):
		e.Data = []byte(`{"__typename":"Employee","id":1}`)
	}
	return nil
}

func (h *eventHooks) OnSubscriberEvent(_ context.Context, e *SubscriberEvent) error {
	h.subscriberCalls.Add(1)
	if e.Header.Get("X-Role") != "admin" {
		e.Payload = bytes.ReplaceAll(e.Payload, []byte(`"name":"Alice Johnson"`), []byte(`"name":"REDACTED"`))
	}
	return nil
}

func TestGateway_EventHooksPerGroupAndPerSubscriber(t *testing.T) {
	hooks := &eventHooks{}
	g := startGateway(t, withOptions(WithHooks(hooks)))
	query := `subscription { employeeUpdates { id name } }`
	admin := subscribeSSE(t, g.URL(), query, "", "X-Role", "admin")
	defer admin.close()
	user := subscribeSSE(t, g.URL(), query, "")
	defer user.close()
	ws := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, ws, `{"type":"connection_init"}`)
	if m := wsRead(t, ws); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, ws, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id name } }"}}`)
	eventually(t, "three subscribers", func() bool { return g.stats.Subscribers.Load() == 3 })
	if n := g.Engine().Groups(); n != 1 {
		t.Fatalf("%d groups, want 1 (the role header is not forwarded)", n)
	}

	g.publish(t, "employeeUpdated.13", `{"__typename":"Employee","id":13}`) // dropped
	g.publish(t, "employeeUpdated.14", `{"__typename":"Employee","id":14}`) // becomes 1
	if got := admin.next(t); got != `{"data":{"employeeUpdates":{"id":1,"name":"Alice Johnson"}}}` {
		t.Fatalf("admin got %s", got)
	}
	if got := user.next(t); got != `{"data":{"employeeUpdates":{"id":1,"name":"REDACTED"}}}` {
		t.Fatalf("user got %s", got)
	}
	m := wsRead(t, ws)
	b, _ := json.Marshal(m["payload"])
	if m["type"] != "next" || string(b) != `{"data":{"employeeUpdates":{"id":1,"name":"REDACTED"}}}` {
		t.Fatalf("WebSocket subscriber got %v", m)
	}
	if got := hooks.groupCalls.Load(); got != 2 {
		t.Fatalf("group hook called %d times for 2 events of one group, want 2", got)
	}
	if got := hooks.subscriberCalls.Load(); got != 3 {
		t.Fatalf("subscriber hook called %d times for 1 delivered event to 3 subscribers, want 3", got)
	}
}

// dispatchHook acts on each broker batch before any group sees it: it drops events of
// employee 13, turns employee 14 into employee 1, fails the batch of an event of employee
// 15 and panics on one of employee 16. It records the batches it saw.
type dispatchHook struct {
	mu      sync.Mutex
	batches []Batch
}

func (h *dispatchHook) OnBeforeDispatch(_ context.Context, b *Batch) error {
	seen := *b
	seen.Events = slices.Clone(b.Events)
	h.mu.Lock()
	h.batches = append(h.batches, seen)
	h.mu.Unlock()
	out := b.Events[:0]
	for _, ev := range b.Events {
		switch id := employeeID(ev.Data); id {
		case 13:
			continue
		case 14:
			ev.Data = []byte(`{"__typename":"Employee","id":1}`)
		case 15:
			return errors.New("employee 15 is not for anyone")
		case 16:
			panic("a bug in the hook")
		}
		out = append(out, ev)
	}
	b.Events = out
	return nil
}

func (h *dispatchHook) seen() []Batch {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.batches)
}

func employeeID(data []byte) int {
	var v struct{ ID int }
	_ = json.Unmarshal(data, &v)
	return v.ID
}

func TestGateway_BeforeDispatchHookOverNATS(t *testing.T) {
	hook := &dispatchHook{}
	g := startGateway(t, withOptions(WithHooks(hook)))
	// Two groups (different selections) and a WebSocket subscriber on one broker consumer.
	names := subscribeSSE(t, g.URL(), `subscription { employeeUpdates { id name } }`, "")
	defer names.close()
	roles := subscribeSSE(t, g.URL(), `subscription { employeeUpdates { id role } }`, "")
	defer roles.close()
	ws := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, ws, `{"type":"connection_init"}`)
	if m := wsRead(t, ws); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, ws, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdates { id name } }"}}`)
	eventually(t, "three subscribers", func() bool { return g.stats.Subscribers.Load() == 3 })
	if n := g.Registry().Consumers(); n != 1 {
		t.Fatalf("%d broker consumers, want 1", n)
	}

	// Dropped, failed, panicked: nobody sees them, and the gateway goes on.
	for _, id := range []string{"13", "15", "16", "14", "2"} {
		g.publish(t, "employeeUpdated."+id, `{"__typename":"Employee","id":`+id+`}`)
	}
	for _, want := range []string{`{"id":1,"name":"Alice Johnson"}`, `{"id":2,"name":"Bilal Khan"}`} {
		if got := names.next(t); got != `{"data":{"employeeUpdates":`+want+`}}` {
			t.Fatalf("SSE subscriber got %s, want %s", got, want)
		}
		m := wsRead(t, ws)
		b, _ := json.Marshal(m["payload"])
		if m["type"] != "next" || string(b) != `{"data":{"employeeUpdates":`+want+`}}` {
			t.Fatalf("WebSocket subscriber got %v, want %s", m, want)
		}
	}
	for _, wantID := range []string{`"id":1,`, `"id":2,`} {
		if got := roles.next(t); !strings.Contains(got, wantID) {
			t.Fatalf("second group got %s, want %s", got, wantID)
		}
	}
	// NATS core hands over one message at a time: one call per message, not per group.
	batches := hook.seen()
	if len(batches) != 5 {
		t.Fatalf("hook called %d times for 5 messages to 2 groups, want 5", len(batches))
	}
	for _, b := range batches {
		if b.Provider.String() != "nats/default" || len(b.Subjects) != 1 || b.Subjects[0] != g.subject("employeeUpdated.*") || len(b.Events) != 1 {
			t.Fatalf("hook saw %+v", b)
		}
	}
	names.nothing(t, 50*time.Millisecond)
}

func TestGateway_BeforeDispatchHookSeesAKafkaBatch(t *testing.T) {
	cluster := startKafkaCluster(t, 0, "employeeUpdated.5")
	brokers := cluster.ListenAddrs()
	hook := &dispatchHook{}
	g := startEventGateway(t, eventGatewayConfig{
		events:    "kafka_events.graphql",
		providers: fmt.Sprintf("    kafka:\n      - id: my-kafka\n        brokers: [%s]\n", strings.Join(brokers, ", ")),
		options:   []Option{WithHooks(hook)},
	})
	c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":5}`)
	defer c.close()
	eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })

	// One produce request: one record batch, which the consumer fetches together.
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for _, id := range []string{"13", "14", "2"} {
		recs = append(recs, &kgo.Record{Topic: "employeeUpdated.5", Value: []byte(`{"__typename":"Employee","id":` + id + `}`)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`{"id":1,"name":"Alice Johnson"}`, `{"id":2,"name":"Bilal Khan"}`} {
		if got := c.next(t); got != `{"data":{"employeeUpdatedKafka":`+want+`}}` {
			t.Fatalf("got %s, want %s", got, want)
		}
	}
	batches := hook.seen()
	if len(batches) != 1 || batches[0].Provider != (ProviderID{Kind: "kafka", ID: "my-kafka"}) || len(batches[0].Events) != 3 {
		t.Fatalf("hook saw %d batches (%+v), want the fetch's 3 records in one", len(batches), batches)
	}
	// An event the hook fails drops its batch only; the next one is delivered.
	kafkaProduce(t, brokers, "employeeUpdated.5", `{"__typename":"Employee","id":15}`)
	// (in a fetch of its own)
	eventually(t, "the failing batch", func() bool { return len(hook.seen()) == 2 })
	kafkaProduce(t, brokers, "employeeUpdated.5", `{"__typename":"Employee","id":3}`)
	if got := c.next(t); got != `{"data":{"employeeUpdatedKafka":{"id":3,"name":"Chen Wei"}}}` {
		t.Fatalf("after a failed batch: got %s", got)
	}
}

// stampHeaders sets broker headers: the team and the field; on Redis, which has none, a
// header only when the client asks for one. rewriteHeaders then reads what it set and
// rewrites it.
type stampHeaders struct{}

func (stampHeaders) OnPublish(_ context.Context, p *Publish) error {
	if p.BrokerHeader == nil {
		if p.Header.Get("X-Redis-Header") != "" {
			p.BrokerHeader = BrokerHeader{"team": {"red"}}
		}
		return nil
	}
	p.BrokerHeader["team"] = []string{p.Header.Get("X-Team")}
	p.BrokerHeader["field"] = []string{p.Field}
	return nil
}

type rewriteHeaders struct{}

func (rewriteHeaders) OnPublish(_ context.Context, p *Publish) error {
	if team := p.BrokerHeader["team"]; len(team) == 1 {
		p.BrokerHeader["team"] = []string{strings.ToUpper(team[0]), "seen"}
	}
	return nil
}

func TestGateway_PublishHookSetsNATSHeaders(t *testing.T) {
	g := startGateway(t, withOptions(WithHooks(stampHeaders{}, rewriteHeaders{})))
	msgs := make(chan *nats.Msg, 16)
	sub, err := g.nc.ChanSubscribe(g.subject("employeeUpdated.8"), msgs)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	if err := g.nc.Flush(); err != nil {
		t.Fatal(err)
	}
	got := postWith(t, g, `mutation { updateEmployee(id: 8, name: "Hal") { success } }`, "", "X-Team", "green")
	if got != `{"data":{"updateEmployee":{"success":true}}}` {
		t.Fatalf("publish answered %s", got)
	}
	select {
	case m := <-msgs:
		if team := m.Header.Values("team"); len(team) != 2 || team[0] != "GREEN" || team[1] != "seen" {
			t.Fatalf("team header %q, want the second hook's rewrite of the first's", team)
		}
		if f := m.Header.Get("field"); f != "updateEmployee" {
			t.Fatalf("field header %q", f)
		}
		if string(m.Data) != `{"id":8,"name":"Hal"}` {
			t.Fatalf("payload %s", m.Data)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no message on the broker")
	}
}

func TestGateway_PublishHookSetsKafkaRecordHeaders(t *testing.T) {
	cluster := startKafkaCluster(t, 0, "employeeUpdated.6")
	brokers := cluster.ListenAddrs()
	g := startEventGateway(t, eventGatewayConfig{
		events:    "kafka_events.graphql",
		providers: fmt.Sprintf("    kafka:\n      - id: my-kafka\n        brokers: [%s]\n", strings.Join(brokers, ", ")),
		options:   []Option{WithHooks(stampHeaders{}, rewriteHeaders{})},
	})
	got := postWith(t, &testGateway{Gateway: g.Gateway}, `mutation { updateEmployeeKafka(id: 6, name: "Ivy") { success } }`, "", "X-Team", "blue")
	if got != `{"data":{"updateEmployeeKafka":{"success":true}}}` {
		t.Fatalf("publish answered %s", got)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics("employeeUpdated.6"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var rec *kgo.Record
	for rec == nil {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatal("no record on the topic")
		}
		fetches.EachRecord(func(r *kgo.Record) { rec = r })
	}
	var headers []string
	for _, h := range rec.Headers {
		headers = append(headers, h.Key+"="+string(h.Value))
	}
	// One record header per value, keys sorted.
	if want := []string{"field=updateEmployeeKafka", "team=BLUE", "team=seen"}; !slices.Equal(headers, want) {
		t.Fatalf("record headers %q, want %q", headers, want)
	}
}

func TestGateway_PublishHookHeadersOnRedisFail(t *testing.T) {
	url := redisTestURL(t)
	g := startEventGateway(t, eventGatewayConfig{
		events:    "redis_events.graphql",
		providers: fmt.Sprintf("    redis:\n      - id: gw-test-redis\n        urls: [%q]\n", url),
		options:   []Option{WithHooks(stampHeaders{})},
	})
	room := redisRoom("headers")
	svc := newRedisService(t, url)
	ps := svc.Subscribe(context.Background(), redisChannel(room))
	defer ps.Close()
	if _, err := ps.Receive(context.Background()); err != nil { // the subscription's confirmation
		t.Fatal(err)
	}
	tg := &testGateway{Gateway: g.Gateway}
	mutation := `mutation($room: String!) { updateEmployeeRedis(room: $room, id: 1, name: "Jo") { success } }`
	// Redis messages carry no headers: the hook sees none, and setting some refuses the
	// publish instead of silently dropping them.
	got := postWith(t, tg, mutation, `{"room":"`+room+`"}`, "X-Redis-Header", "1")
	if !strings.Contains(got, `"code":"HOOK_ERROR"`) || !strings.Contains(got, "carry none") {
		t.Fatalf("publish with headers on Redis answered %s", got)
	}
	if got := postWith(t, tg, mutation, `{"room":"`+room+`"}`); got != `{"data":{"updateEmployeeRedis":{"success":true}}}` {
		t.Fatalf("publish answered %s", got)
	}
	msg, err := ps.ReceiveMessage(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if msg.Payload != `{"room":"`+room+`","id":1,"name":"Jo"}` {
		t.Fatalf("first message %s, want the second publish (the refused one sent nothing)", msg.Payload)
	}
}
