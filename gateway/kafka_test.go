package gateway

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// The Kafka tests run the gateway against kfake, an in-process Kafka cluster, with the
// event subgraph testdata/kafka_events.graphql (provider "my-kafka").

const kafkaSubscription = `subscription($id: Int!) { employeeUpdatedKafka(id: $id) { id name } }`

// startKafkaCluster starts a one-broker kfake cluster on port (0: a random one) with the
// topics created, and closes it when the test ends.
func startKafkaCluster(t *testing.T, port int, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	t.Cleanup(c.Close)
	return c
}

func startKafkaGateway(t *testing.T, brokers []string) *eventGateway {
	t.Helper()
	return startEventGateway(t, eventGatewayConfig{
		events:    "kafka_events.graphql",
		providers: fmt.Sprintf("    kafka:\n      - id: my-kafka\n        brokers: [%s]\n", strings.Join(brokers, ", ")),
	})
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// kafkaProduce publishes like a service of the user's would: with its own client.
func kafkaProduce(t *testing.T, brokers []string, topic string, values ...string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s to %s: %v", v, topic, err)
		}
	}
}

// kafkaRecords reads the first n records of topic from its start.
func kafkaRecords(t *testing.T, brokers []string, topic string, n int) []string {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []string
	for len(out) < n {
		fetches := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %s: got %d records %q, want %d", topic, len(out), out, n)
		}
		fetches.EachRecord(func(r *kgo.Record) { out = append(out, string(r.Value)) })
	}
	return out
}

// fetchSessions observes the Fetch requests a cluster receives and tells the fetch sessions
// apart: every group-less consumer client holds one session per broker.
type fetchSessions struct {
	mu  sync.Mutex
	ids map[int32]bool
}

func observeFetchSessions(c *kfake.Cluster) *fetchSessions {
	f := &fetchSessions{ids: map[int32]bool{}}
	c.ControlKey(int16(kmsg.Fetch), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if id := req.(*kmsg.FetchRequest).SessionID; id != 0 {
			f.mu.Lock()
			f.ids[id] = true
			f.mu.Unlock()
		}
		return nil, nil, false // observe only; the cluster answers
	})
	return f
}

// during returns the number of distinct fetch sessions seen in the next d.
func (f *fetchSessions) during(d time.Duration) int {
	f.mu.Lock()
	f.ids = map[int32]bool{}
	f.mu.Unlock()
	time.Sleep(d)
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ids)
}

// TestGatewayKafka runs the behaviours that need no broker fault on one cluster and one
// gateway (a start costs a composition); every subtest has topics of its own and starts
// when the previous one's consumers are closed.
func TestGatewayKafka(t *testing.T) {
	cluster := startKafkaCluster(t, 0, "employeeUpdated.1", "employeeUpdated.2", "employeeUpdated.3",
		"employeeUpdated.4", "employeeUpdated.5", "employeeUpdated.9")
	sessions := observeFetchSessions(cluster)
	brokers := cluster.ListenAddrs()
	g := startKafkaGateway(t, brokers)
	stats := func() providerStats { return g.Registry().Stats()["kafka/my-kafka"] }
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			eventually(t, "no consumer left from before", func() bool { return g.Registry().Consumers() == 0 })
			f(t)
		})
	}

	run("EventResolvesEntityFieldsAndCarriesItsOffset", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":1}`)
		eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })
		kafkaProduce(t, brokers, "employeeUpdated.9", `{"__typename":"Employee","id":2}`) // another topic
		kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":1}`, `{"__typename":"Employee","id":1}`)
		for _, wantID := range []string{"0:0", "0:1"} {
			ev := c.nextFrame(t)
			if want := `{"data":{"employeeUpdatedKafka":{"id":1,"name":"Alice Johnson"}}}`; ev.Data != want {
				t.Fatalf("got %s, want %s", ev.Data, want)
			}
			// The id is the stream position: it ends with the record's partition:offset.
			if !strings.HasSuffix(ev.ID, wantID) {
				t.Fatalf("SSE id %q, want the position of partition:offset %q", ev.ID, wantID)
			}
		}
		c.nothing(t, 300*time.Millisecond)
	})

	run("PublishMutationProducesTheArguments", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":3}`)
		eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })
		before := stats()
		got := g.post(t, `mutation { updateEmployeeKafka(id: 3, name: "C. Wei") { success } }`, "")
		if want := `{"data":{"updateEmployeeKafka":{"success":true}}}`; got != want {
			t.Fatalf("mutation: got %s, want %s", got, want)
		}
		if recs := kafkaRecords(t, brokers, "employeeUpdated.3", 1); recs[0] != `{"id":3,"name":"C. Wei"}` {
			t.Fatalf("the topic holds %q, want the JSON of the arguments", recs[0])
		}
		// The arguments carry no __typename; the concrete return type supplies it, so the
		// subscriber gets the resolved entity, as it does for an event from a service.
		if got, want := c.next(t), `{"data":{"employeeUpdatedKafka":{"id":3,"name":"Chen Wei"}}}`; got != want {
			t.Fatalf("mutation event: got %s, want %s", got, want)
		}
		kafkaProduce(t, brokers, "employeeUpdated.3", `{"__typename":"Employee","id":3}`)
		if got, want := c.next(t), `{"data":{"employeeUpdatedKafka":{"id":3,"name":"Chen Wei"}}}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if after := stats(); after.Published != before.Published+1 || after.PublishErrors != before.PublishErrors {
			t.Fatalf("provider stats %+v, then %+v: want one more published", before, after)
		}
	})

	run("SubscribersOfOneTopicShareOneConsumer", func(t *testing.T) {
		queries := []string{
			`subscription { employeeUpdatedKafka(id: 4) { id } }`,
			`subscription { employeeUpdatedKafka(id: 4) { id name } }`,
			`subscription { employeeUpdatedKafka(id: 4) { name role } }`,
			`subscription { employeeUpdatedKafka(id: 4) { name role } }`,
			`subscription { employeeUpdatedKafka(id: 4) { name role } }`,
		}
		var clients []*sseClient
		for _, q := range queries {
			clients = append(clients, subscribeSSE(t, g.URL(), q, ""))
		}
		// Groups count from their first member; the consumer from when the broker answered.
		eventually(t, "three groups on one consumer", func() bool {
			return g.Engine().Groups() == 3 && g.Registry().Consumers() == 1
		})
		// Seen from the broker: one client fetches the topic.
		if n := sessions.during(time.Second); n != 1 {
			t.Fatalf("the cluster saw %d fetch sessions, want 1", n)
		}

		before := stats()
		kafkaProduce(t, brokers, "employeeUpdated.4", `{"__typename":"Employee","id":4}`)
		for i, c := range clients {
			if got := c.next(t); !strings.Contains(got, `"employeeUpdatedKafka":{`) {
				t.Fatalf("client %d got %s", i, got)
			}
		}
		after := stats()
		if after.EventsReceived != before.EventsReceived+1 {
			t.Fatalf("provider stats %+v, then %+v: want the record received once for five subscribers", before, after)
		}
		// The counters are what /metrics serves.
		want := fmt.Sprintf(`edgate_broker_events_received_total{provider="kafka/my-kafka"} %d`, after.EventsReceived)
		if m := g.metrics(t); !strings.Contains(m, want+"\n") {
			t.Fatalf("/metrics lacks %s:\n%s", want, m)
		}

		for _, c := range clients {
			c.close()
		}
		// The consumer closes in the background after the last subscriber left; then the
		// cluster sees no more fetches.
		eventually(t, "no more fetches", func() bool {
			return g.Registry().Consumers() == 0 && sessions.during(300*time.Millisecond) == 0
		})
	})

	run("TwoGatewaysBothDeliverEveryEvent", func(t *testing.T) {
		g2 := startKafkaGateway(t, brokers)
		c1 := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":5}`)
		c2 := subscribeSSE(t, g2.URL(), kafkaSubscription, `{"id":5}`)
		eventually(t, "both consumers", func() bool { return g.Registry().Consumers() == 1 && g2.Registry().Consumers() == 1 })

		const n = 5
		for i := 0; i < n; i++ {
			kafkaProduce(t, brokers, "employeeUpdated.5", `{"__typename":"Employee","id":5}`)
		}
		for _, c := range []*sseClient{c1, c2} {
			for i := 0; i < n; i++ {
				ev := c.nextFrame(t)
				if want := `{"data":{"employeeUpdatedKafka":{"id":5,"name":"Emeka Okafor"}}}`; ev.Data != want {
					t.Fatalf("event %d: got %s, want %s", i, ev.Data, want)
				}
				if want := "0:" + strconv.Itoa(i); !strings.HasSuffix(ev.ID, want) {
					t.Fatalf("event %d: id %q, want the position of partition:offset %q", i, ev.ID, want)
				}
			}
		}
	})

	run("MalformedEventsGiveErrorsAndKeepTheSubscription", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":2}`)
		eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })
		for _, bad := range []struct{ payload, want string }{
			{`not json`, "not a JSON object"},
			{`{"__typename":"Product","upc":"p-100"}`, `is not the field's type Employee`},
			{`{"__typename":"Employee"}`, `missing its key field \"id\"`},
		} {
			kafkaProduce(t, brokers, "employeeUpdated.2", bad.payload)
			errorFrame(t, c.next(t), bad.want)
		}
		kafkaProduce(t, brokers, "employeeUpdated.2", `{"__typename":"Employee","id":2}`)
		if got, want := c.next(t), `{"data":{"employeeUpdatedKafka":{"id":2,"name":"Bilal Khan"}}}`; got != want {
			t.Fatalf("after malformed events: got %s, want %s", got, want)
		}
	})
}

func TestGatewayKafka_SubscriptionResumesAfterClusterRecreatedOnSamePort(t *testing.T) {
	t.Parallel() // waits for the client to find the new cluster
	port := portOf(t, replicaAddr(t))
	cluster := startKafkaCluster(t, port, "employeeUpdated.1")
	brokers := cluster.ListenAddrs()
	g := startKafkaGateway(t, brokers)
	c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":1}`)
	eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })
	kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	want := `{"data":{"employeeUpdatedKafka":{"id":1,"name":"Alice Johnson"}}}`
	if got := c.next(t); got != want {
		t.Fatalf("before the restart: got %s, want %s", got, want)
	}

	cluster.Close()
	// While the cluster is away the stream stays open: only heartbeats, no frame.
	c.nothing(t, 500*time.Millisecond)
	startKafkaCluster(t, port, "employeeUpdated.1")
	restarted := time.Now()

	// The same SSE stream, never re-subscribed, gets what is produced to the new cluster.
	kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":1}`, `{"__typename":"Employee","id":1}`)
	for i := 0; i < 2; i++ {
		if got := c.next(t); got != want {
			t.Fatalf("after the restart, event %d: got %s, want %s", i, got, want)
		}
	}
	t.Logf("resumed %s after the cluster came back", time.Since(restarted).Round(time.Millisecond))
	c.nothing(t, 300*time.Millisecond)
}

func TestGatewayKafka_PublishWithBrokersDownFailsWithALoggedReason(t *testing.T) {
	t.Parallel() // waits for the provider's publish timeout
	cluster := startKafkaCluster(t, 0, "employeeUpdated.1")
	g := startKafkaGateway(t, cluster.ListenAddrs())
	if got, want := g.post(t, `mutation { updateEmployeeKafka(id: 1) { success } }`, ""), `{"data":{"updateEmployeeKafka":{"success":true}}}`; got != want {
		t.Fatalf("with the cluster up: got %s, want %s", got, want)
	}

	cluster.Close()
	got := g.post(t, `mutation { updateEmployeeKafka(id: 1, name: "x") { success } }`, "")
	if want := `{"data":{"updateEmployeeKafka":{"success":false}}}`; got != want {
		t.Fatalf("with the cluster down: got %s, want %s", got, want)
	}
	line := g.logs.line("publish failed", "employeeUpdated.1")
	if line == "" || !strings.Contains(line, `"error":"kafka provider \"kafka/my-kafka\" publish \"employeeUpdated.1\"`) {
		t.Fatalf("no log line with the reason; log:\n%s", g.logs.String())
	}
	if st := g.Registry().Stats()["kafka/my-kafka"]; st.Published != 1 || st.PublishErrors != 1 {
		t.Fatalf("provider stats %+v, want 1 published and 1 publish error", st)
	}
}

func TestGatewayKafka_StartsWithBrokersDownAndSubscriptionsRecover(t *testing.T) {
	t.Parallel() // waits for the provider's start-up timeout
	brokers := []string{replicaAddr(t)}
	providers := fmt.Sprintf("    kafka:\n      - id: my-kafka\n        brokers: [%s]\n", brokers[0])

	// strict_startup: no gateway without brokers, and the message says why.
	cfg, _ := loadEventConfig(t, eventGatewayConfig{events: "kafka_events.graphql", providers: providers + "        strict_startup: true\n"})
	if gw, err := New(context.Background(), cfg, zerolog.Nop()); err == nil {
		_ = gw.Shutdown(context.Background())
		t.Fatal("strict start-up without brokers succeeded")
	} else if !strings.Contains(err.Error(), `kafka provider "my-kafka"`) || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("strict start-up error %q, want it to name the provider and say the brokers are unreachable", err)
	}

	// By default the gateway starts, and the subscription made meanwhile starts receiving
	// once the brokers are up.
	g := startKafkaGateway(t, brokers)
	c := subscribeSSE(t, g.URL(), kafkaSubscription, `{"id":1}`)
	eventually(t, "the Kafka consumer", func() bool { return g.Registry().Consumers() == 1 })
	startKafkaCluster(t, portOf(t, brokers[0]), "employeeUpdated.1")

	// The consumer had no position and starts at the end once it reaches the broker, so
	// produce until one arrives; it must come on the stream the client opened before.
	deadline := time.Now().Add(15 * time.Second)
	for {
		kafkaProduce(t, brokers, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
		select {
		case ev, ok := <-c.events:
			if !ok || ev.Event != "next" || ev.Data != `{"data":{"employeeUpdatedKafka":{"id":1,"name":"Alice Johnson"}}}` {
				t.Fatalf("got %+v (open %v)", ev, ok)
			}
			return
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the subscription never received after the brokers came up")
		}
	}
}
