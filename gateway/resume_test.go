package gateway

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// SPEC section 6: with JetStream and Kafka the SSE id is the stream position, and a client
// reconnecting with Last-Event-ID gets the events it missed, then live ones.

func TestSSE_ReconnectWithLastEventIDReplaysMissedJetStreamEvents(t *testing.T) {
	g := startEventGateway(t, eventGatewayConfig{
		events:    "jetstream_events.graphql",
		providers: "    nats:\n      - id: default\n",
		extra:     `embedded_nats: { listen: "127.0.0.1:0", jetstream: true }`,
	})
	js, _ := jetStreamOf(t, g.Embedded().ClientURL())
	want := `{"data":{"employeeUpdatedStream":{"id":4,"name":"Dana Schmidt"}}}`

	// Another subscriber keeps the shared durable consumer busy, so the resuming client
	// must not depend on it.
	other := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`)
	c := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`)
	eventually(t, "the consumer", func() bool { return g.stats.Subscribers.Load() == 2 })
	first := jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)
	ev := c.nextFrame(t)
	if ev.ID != fmt.Sprint(first) || ev.Data != want {
		t.Fatalf("live: %+v", ev)
	}
	other.nextFrame(t)
	c.close()
	eventually(t, "one subscriber", func() bool { return g.stats.Subscribers.Load() == 1 })

	missed := []uint64{
		jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`),
		jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`),
	}
	for range missed {
		other.nextFrame(t) // the other client stays live throughout
	}
	r := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`, "Last-Event-ID", ev.ID)
	for _, seq := range missed {
		got := r.nextFrame(t)
		if got.ID != fmt.Sprint(seq) || got.Data != want {
			t.Fatalf("replayed: got %+v, want id %d", got, seq)
		}
	}
	live := jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)
	if got := r.nextFrame(t); got.ID != fmt.Sprint(live) {
		t.Fatalf("live after replay: %+v, want id %d", got, live)
	}
	if got := other.nextFrame(t); got.ID != fmt.Sprint(live) {
		t.Fatalf("other client: %+v, want id %d", got, live)
	}
	r.nothing(t, 200e6)
}

func TestSSE_ReconnectWithLastEventIDReplaysMissedKafkaRecords(t *testing.T) {
	cluster := startKafkaCluster(t, 0, "employeeUpdated.1")
	brokers := cluster.ListenAddrs()
	g := startKafkaGateway(t, brokers)
	c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":1}`)
	eventually(t, "the consumer", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	ev := c.nextFrame(t)
	c.close()
	eventually(t, "no consumer", func() bool { return g.Registry().Consumers() == 0 })

	kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":2}`, `{"__typename":"Employee","id":3}`)
	r := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":1}`, "Last-Event-ID", ev.ID)
	for _, want := range []string{
		`{"data":{"employeeUpdatedKafka":{"id":2,"name":"Bilal Khan"}}}`,
		`{"data":{"employeeUpdatedKafka":{"id":3,"name":"Chen Wei"}}}`,
	} {
		if got := r.nextFrame(t); got.Data != want {
			t.Fatalf("replayed: got %+v, want %s", got, want)
		}
	}
	kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":5}`)
	if got := r.nextFrame(t); got.Data != `{"data":{"employeeUpdatedKafka":{"id":5,"name":"Emeka Okafor"}}}` {
		t.Fatalf("live after replay: %+v", got)
	}
}

func TestSSE_LastEventIDThatCannotResumeFallsBackToLive(t *testing.T) {
	g := startGateway(t)
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, "", "Last-Event-ID", "12")
	eventually(t, "subscription", func() bool { return g.Registry().Consumers() == 1 && g.stats.Subscribers.Load() >= 1 })
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	if got := c.next(t); got != `{"data":{"employeeUpdated":{"id":1}}}` {
		t.Fatalf("got %s", got)
	}
}

// Clients of a failed instance reconnect with the same Last-Event-ID at slightly different
// times. Each resumes on its own: the second must not join the first's resumed stream,
// which has moved past the events the second still needs.
func TestSSE_TwoClientsResumingFromTheSamePositionEachGetEverythingAfterIt(t *testing.T) {
	g := startEventGateway(t, eventGatewayConfig{
		events:    "jetstream_events.graphql",
		providers: "    nats:\n      - id: default\n",
		extra:     `embedded_nats: { listen: "127.0.0.1:0", jetstream: true }`,
	})
	js, _ := jetStreamOf(t, g.Embedded().ClientURL())
	c := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`)
	eventually(t, "the consumer", func() bool { return g.stats.Subscribers.Load() == 1 })
	jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)
	last := c.nextFrame(t).ID
	c.close()
	eventually(t, "no subscriber", func() bool { return g.stats.Subscribers.Load() == 0 })

	var missed []string
	for range 2 {
		missed = append(missed, fmt.Sprint(jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)))
	}
	first := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`, "Last-Event-ID", last)
	for _, id := range missed {
		if got := first.nextFrame(t).ID; got != id {
			t.Fatalf("first resumer: id %s, want %s", got, id)
		}
	}
	missed = append(missed, fmt.Sprint(jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)))
	if got := first.nextFrame(t).ID; got != missed[2] {
		t.Fatalf("first resumer, live: id %s, want %s", got, missed[2])
	}
	second := subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`, "Last-Event-ID", last)
	for _, id := range missed {
		if got := second.nextFrame(t).ID; got != id {
			t.Fatalf("second resumer: id %s, want %s", got, id)
		}
	}
}

// The WebSocket resume extension: a subscribe whose extensions hold lastEventId gets each
// result's stream position in payload.extensions.eventId, and one that names a position
// resumes after it, like Last-Event-ID over SSE.
func TestWebSocket_ResumeExtensionReplaysMissedJetStreamEvents(t *testing.T) {
	g := startEventGateway(t, eventGatewayConfig{
		events:    "jetstream_events.graphql",
		providers: "    nats:\n      - id: default\n",
		extra:     `embedded_nats: { listen: "127.0.0.1:0", jetstream: true }`,
	})
	js, _ := jetStreamOf(t, g.Embedded().ClientURL())
	wsURL := "ws://" + g.Addr() + "/graphql"
	subscribe := func(c *wsClient, lastEventID string) {
		payload, _ := json.Marshal(map[string]any{
			"query":      streamSubscription,
			"variables":  map[string]any{"id": 4},
			"extensions": map[string]any{"lastEventId": lastEventID},
		})
		c.send(t, wsFrame{ID: "s", Type: "subscribe", Payload: payload})
	}
	type result struct {
		Data       json.RawMessage `json:"data"`
		Extensions struct {
			EventID string `json:"eventId"`
		} `json:"extensions"`
	}
	next := func(c *wsClient) result {
		t.Helper()
		var r result
		if err := json.Unmarshal([]byte(c.next(t, "s")), &r); err != nil {
			t.Fatal(err)
		}
		return r
	}

	first := dialGatewayWS(t, wsURL, nil, "")
	subscribe(first, "") // positions, no resume
	eventually(t, "the consumer", func() bool { return g.stats.Subscribers.Load() == 1 })
	seq := jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)
	got := next(first)
	if got.Extensions.EventID != fmt.Sprint(seq) || !strings.Contains(string(got.Data), `"id":4`) {
		t.Fatalf("live result %+v, want eventId %d", got, seq)
	}
	_ = first.conn.CloseNow()
	eventually(t, "no subscriber", func() bool { return g.stats.Subscribers.Load() == 0 })

	missed := []uint64{
		jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`),
		jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`),
	}
	second := dialGatewayWS(t, wsURL, nil, "")
	subscribe(second, got.Extensions.EventID)
	for _, want := range missed {
		if r := next(second); r.Extensions.EventID != fmt.Sprint(want) {
			t.Fatalf("replayed eventId %q, want %d", r.Extensions.EventID, want)
		}
	}

	// Without the extension, results are unchanged.
	plain := dialGatewayWS(t, wsURL, nil, "")
	plain.subscribe(t, "s", `subscription { employeeUpdatedStream(id: 4) { id } }`)
	eventually(t, "two subscribers", func() bool { return g.stats.Subscribers.Load() == 2 })
	live := jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`)
	if r := plain.next(t, "s"); strings.Contains(r, "extensions") {
		t.Fatalf("result without the extension: %s", r)
	}
	if r := next(second); r.Extensions.EventID != fmt.Sprint(live) {
		t.Fatalf("live after replay: eventId %q, want %d", r.Extensions.EventID, live)
	}
}
