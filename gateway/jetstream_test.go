package gateway

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The JetStream tests run the gateway on an embedded NATS server with JetStream, with the
// event subgraph testdata/jetstream_events.graphql: employeeUpdatedStream reads stream
// EMPLOYEES (subjects employees.>) through durable consumer "edgate-test".

const streamSubscription = `subscription($id: Int!) { employeeUpdatedStream(id: $id) { id name } }`

// jetStreamOf connects to url and creates stream EMPLOYEES on employees.>.
func jetStreamOf(t *testing.T, url string) (jetstream.JetStream, jetstream.Stream) {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatalf("nats connect: %v", err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "EMPLOYEES", Subjects: []string{"employees.>"}})
	if err != nil {
		t.Fatalf("create stream: %v", err)
	}
	return js, stream
}

func jsPublish(t *testing.T, js jetstream.JetStream, subject, data string) uint64 {
	t.Helper()
	ack, err := js.Publish(context.Background(), subject, []byte(data))
	if err != nil {
		t.Fatalf("jetstream publish: %v", err)
	}
	return ack.Sequence
}

// durablesFor returns the names of the stream's durable consumers that filter subject.
func durablesFor(t *testing.T, stream jetstream.Stream, subject string) []string {
	t.Helper()
	var names []string
	lister := stream.ListConsumers(context.Background())
	for info := range lister.Info() {
		if info.Config.FilterSubject == subject {
			names = append(names, info.Name)
		}
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

// TestGatewayJetStream runs on one gateway with its own embedded JetStream server from the
// config (a start costs a composition); every subtest has subjects of its own and starts
// when the previous one's consumers are closed.
func TestGatewayJetStream(t *testing.T) {
	g := startEventGateway(t, eventGatewayConfig{
		events:    "jetstream_events.graphql",
		providers: "    nats:\n      - id: default\n",
		extra:     `embedded_nats: { listen: "127.0.0.1:0", jetstream: true }`,
	})
	js, stream := jetStreamOf(t, g.Embedded().ClientURL())
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			eventually(t, "no consumer left from before", func() bool { return g.Registry().Consumers() == 0 })
			f(t)
		})
	}

	run("EventsPublishedWhileDisconnectedArriveOnResubscribe", func(t *testing.T) {
		want := `{"data":{"employeeUpdatedStream":{"id":1,"name":"Alice Johnson"}}}`
		c := subscribeSSE(t, g.URL(), streamSubscription, `{"id":1}`)
		eventually(t, "the JetStream consumer", func() bool { return g.Registry().Consumers() == 1 })
		seq := jsPublish(t, js, "employees.1", `{"__typename":"Employee","id":1}`)
		if ev := c.nextFrame(t); ev.Data != want || ev.ID != fmt.Sprint(seq) {
			t.Fatalf("live event: got id %q %s, want id %d %s", ev.ID, ev.Data, seq, want)
		}
		c.close()
		eventually(t, "the consumer closed", func() bool { return g.Registry().Consumers() == 0 })
		names := durablesFor(t, stream, "employees.1")
		if len(names) != 1 || !strings.HasPrefix(names[0], "edgate-test-") {
			t.Fatalf("durable consumers %q, want one edgate-test-<instance>-<subjects> kept while nobody listens", names)
		}
		// consumerInactiveThreshold: 300 in the directive.
		cons, err := stream.Consumer(context.Background(), names[0])
		if err != nil {
			t.Fatal(err)
		}
		if got := cons.CachedInfo().Config.InactiveThreshold; got != 300*time.Second {
			t.Fatalf("inactive threshold %s, want the directive's 300s", got)
		}

		// Published while nobody is subscribed; employees.2 is not the subscriber's subject.
		var missed []uint64
		missed = append(missed, jsPublish(t, js, "employees.1", `{"__typename":"Employee","id":1}`))
		jsPublish(t, js, "employees.2", `{"__typename":"Employee","id":2}`)
		missed = append(missed, jsPublish(t, js, "employees.1", `{"__typename":"Employee","id":1}`))
		missed = append(missed, jsPublish(t, js, "employees.1", `{"__typename":"Employee","id":1}`))

		c = subscribeSSE(t, g.URL(), streamSubscription, `{"id":1}`)
		for _, s := range missed {
			ev := c.nextFrame(t)
			if ev.Data != want || ev.ID != fmt.Sprint(s) {
				t.Fatalf("missed event: got id %q %s, want id %d %s", ev.ID, ev.Data, s, want)
			}
		}
		c.nothing(t, 300*time.Millisecond)

		// Live again; a publish mutation lands in the stream too.
		got := g.post(t, `mutation { updateEmployeeStream(id: 1, name: "A. J.") { success } }`, "")
		if want := `{"data":{"updateEmployeeStream":{"success":true}}}`; got != want {
			t.Fatalf("mutation: got %s, want %s", got, want)
		}
		// The mutation publishes its arguments; the concrete return type supplies __typename.
		ev := c.nextFrame(t)
		if ev.Data != want {
			t.Fatalf("mutation event: got %s, want %s", ev.Data, want)
		}
		if want := fmt.Sprint(missed[len(missed)-1] + 1); ev.ID != want {
			t.Fatalf("mutation event id %q, want %s", ev.ID, want)
		}
	})

	run("MissingStreamIsAGraphQLError", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), `subscription { employeeUpdatedNoStream { id } }`, "")
		got := c.next(t)
		errorFrame(t, got, `jetstream stream \"MISSING\" not found`)
		if !strings.Contains(got, `"path":["employeeUpdatedNoStream"]`) {
			t.Fatalf("error without the field's path: %s", got)
		}
		if n := g.Registry().Consumers(); n != 0 {
			t.Fatalf("%d consumers, want 0", n)
		}
	})

	run("TemplatedSubjectsGetTheirOwnDurableConsumers", func(t *testing.T) {
		// One field, one consumerName, two subject sets: each needs a cursor of its own,
		// or the second would re-filter the first's consumer and take its events.
		c1 := subscribeSSE(t, g.URL(), streamSubscription, `{"id":3}`)
		eventually(t, "the first consumer", func() bool { return g.Registry().Consumers() == 1 })
		c2 := subscribeSSE(t, g.URL(), streamSubscription, `{"id":5}`)
		eventually(t, "the second consumer", func() bool { return g.Registry().Consumers() == 2 })
		for _, subject := range []string{"employees.3", "employees.5"} {
			if names := durablesFor(t, stream, subject); len(names) != 1 {
				t.Fatalf("durable consumers of %s: %q, want one", subject, names)
			}
		}
		for i := 0; i < 3; i++ {
			jsPublish(t, js, "employees.3", `{"__typename":"Employee","id":3}`)
			jsPublish(t, js, "employees.5", `{"__typename":"Employee","id":5}`)
		}
		for i := 0; i < 3; i++ {
			if got, want := c1.next(t), `{"data":{"employeeUpdatedStream":{"id":3,"name":"Chen Wei"}}}`; got != want {
				t.Fatalf("subscriber of 3, event %d: got %s, want %s", i, got, want)
			}
			if got, want := c2.next(t), `{"data":{"employeeUpdatedStream":{"id":5,"name":"Emeka Okafor"}}}`; got != want {
				t.Fatalf("subscriber of 5, event %d: got %s, want %s", i, got, want)
			}
		}
		c1.nothing(t, 200*time.Millisecond)
		c2.nothing(t, 0)
	})

	run("RestartedGatewayGetsWhatItMissed", func(t *testing.T) {
		// A replica keeps its listen address across a restart, so it finds its durable
		// consumer again and gets what was published while it was down.
		listen := replicaAddr(t)
		replica := func() *eventGateway {
			return startEventGateway(t, eventGatewayConfig{
				events:    "jetstream_events.graphql",
				providers: fmt.Sprintf("    nats:\n      - id: default\n        url: %q\n", g.Embedded().ClientURL()),
				listen:    listen,
			})
		}
		const query = `subscription { employeeUpdatedStream(id: 7) { id } }`
		const event = `{"__typename":"Employee","id":7}`
		g1 := replica()
		c := subscribeSSE(t, g1.URL(), query, "")
		eventually(t, "the JetStream consumer", func() bool { return g1.Registry().Consumers() == 1 })
		seq := jsPublish(t, js, "employees.7", event)
		if ev := c.nextFrame(t); ev.ID != fmt.Sprint(seq) {
			t.Fatalf("live event id %q, want %d", ev.ID, seq)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := g1.Shutdown(ctx); err != nil {
			t.Fatal(err)
		}

		missed := []uint64{jsPublish(t, js, "employees.7", event), jsPublish(t, js, "employees.7", event)}
		g2 := replica()
		c = subscribeSSE(t, g2.URL(), query, "")
		for _, s := range missed {
			if ev := c.nextFrame(t); ev.ID != fmt.Sprint(s) || ev.Data != `{"data":{"employeeUpdatedStream":{"id":7}}}` {
				t.Fatalf("got id %q %s, want the missed event %d", ev.ID, ev.Data, s)
			}
		}
		c.nothing(t, 300*time.Millisecond)
		if names := durablesFor(t, stream, "employees.7"); len(names) != 1 {
			t.Fatalf("durable consumers %q, want the one of the replica, kept across its restart", names)
		}
	})

	run("TwoGatewaysEachGetEveryEvent", func(t *testing.T) {
		// A replica on the same server. Durable consumers are named after the listen
		// address: one cursor per replica.
		g2 := startEventGateway(t, eventGatewayConfig{
			events:    "jetstream_events.graphql",
			providers: fmt.Sprintf("    nats:\n      - id: default\n        url: %q\n", g.Embedded().ClientURL()),
			listen:    replicaAddr(t),
		})
		// Two subscribers on each gateway: one durable consumer per gateway.
		var clients []*sseClient
		for _, g := range []*eventGateway{g, g2} {
			clients = append(clients,
				subscribeSSE(t, g.URL(), streamSubscription, `{"id":4}`),
				subscribeSSE(t, g.URL(), `subscription { employeeUpdatedStream(id: 4) { id } }`, ""))
			// Both subscribers joined (an SSE client has its headers before it joins), on one
			// durable consumer.
			eventually(t, "two subscribers on the JetStream consumer", func() bool {
				return g.stats.Subscribers.Load() == 2 && g.Registry().Consumers() == 1
			})
		}
		if names := durablesFor(t, stream, "employees.4"); len(names) != 2 {
			t.Fatalf("durable consumers %q, want one per gateway", names)
		}

		var seqs []uint64
		for i := 0; i < 3; i++ {
			seqs = append(seqs, jsPublish(t, js, "employees.4", `{"__typename":"Employee","id":4}`))
		}
		for i, c := range clients {
			for _, s := range seqs {
				ev := c.nextFrame(t)
				if !strings.HasPrefix(ev.Data, `{"data":{"employeeUpdatedStream":{"id":4`) || ev.ID != fmt.Sprint(s) {
					t.Fatalf("client %d: got id %q %s, want id %d", i, ev.ID, ev.Data, s)
				}
			}
		}
		for _, c := range clients {
			c.nothing(t, 200*time.Millisecond)
		}
	})
}
