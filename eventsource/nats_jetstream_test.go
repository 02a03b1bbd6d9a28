package eventsource

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// startJetStream starts an embedded server with JetStream and creates stream ORDERS on
// orders.>.
func startJetStream(t *testing.T) (*Embedded, jetstream.JetStream, *NATS) {
	t.Helper()
	emb := startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:0", JetStream: true})
	admin := newNATS(t, NATSOptions{ID: "admin", URL: emb.ClientURL()})
	js, err := jetstream.New(admin.Conn())
	if err != nil {
		t.Fatal(err)
	}
	_, err = js.CreateStream(context.Background(), jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}})
	if err != nil {
		t.Fatal(err)
	}
	return emb, js, admin
}

func TestJetStream_DeliversEventsMissedWhileUnsubscribed(t *testing.T) {
	emb, js, admin := startJetStream(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	gw := newNATS(t, NATSOptions{URL: emb.ClientURL(), InstanceID: "gw1"})
	if err := r.Add(gw); err != nil {
		t.Fatal(err)
	}
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "edgate"}}
	subjects := []string{"orders.created", "orders.paid"}

	first := newCollector()
	unsub, err := r.Subscribe(ctx, "default", subjects, opts, first.add)
	if err != nil {
		t.Fatal(err)
	}
	if names := consumerNames(t, js, "ORDERS"); len(names) != 1 || !strings.HasPrefix(names[0], "edgate-gw1-") {
		t.Fatalf("durable consumers %q, want one named with the instance id", names)
	}
	// The client's request inbox stays; the consumer's delivery subscription goes. The
	// client writes its SUB asynchronously: flush so the server has counted it before we
	// take the baseline (without it, the baseline could miss the delivery subscription and
	// the count after unsubscribing would never reach baseline-1).
	if err := gw.Conn().Flush(); err != nil {
		t.Fatal(err)
	}
	during := emb.NumSubscriptions()
	unsub()
	eventually(t, "consumer closed", func() bool { return r.Consumers() == 0 && emb.NumSubscriptions() == during-1 })

	for _, s := range []string{"orders.created", "orders.shipped", "orders.paid", "orders.created"} {
		if _, err := js.Publish(ctx, s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	second := newCollector()
	unsub, err = r.Subscribe(ctx, "default", subjects, opts, second.add)
	if err != nil {
		t.Fatal(err)
	}
	defer unsub()
	got := second.waitFor(t, 3)
	second.quiet(t, 3)
	want := []struct{ subject, pos string }{{"orders.created", "1"}, {"orders.paid", "3"}, {"orders.created", "4"}}
	for i, w := range want {
		if got[i].Subject != w.subject || got[i].Position != w.pos || string(got[i].Data) != w.subject {
			t.Errorf("event %d = %s@%s %q, want %s@%s", i, got[i].Subject, got[i].Position, got[i].Data, w.subject, w.pos)
		}
	}
	if n := len(first.snapshot()); n != 0 {
		t.Errorf("the first subscriber got %d events after it left", n)
	}

	// Acked: a later subscriber does not get them again.
	unsub()
	eventually(t, "consumer closed", func() bool { return r.Consumers() == 0 })
	third := newCollector()
	unsub, err = r.Subscribe(ctx, "default", subjects, opts, third.add)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "orders.paid", []byte("live")); err != nil {
		t.Fatal(err)
	}
	if got := third.waitFor(t, 1); string(got[0].Data) != "live" || got[0].Position != "5" {
		t.Fatalf("after acked events got %q@%s, want the live event at 5", got[0].Data, got[0].Position)
	}
	third.quiet(t, 1)
	unsub()
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	_ = admin.Close()
	emb.Shutdown() // the server's goroutines for the durable consumer end with it
}

func TestJetStream_MissingStreamIsAClearError(t *testing.T) {
	emb, _, _ := startJetStream(t)
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(newNATS(t, NATSOptions{URL: emb.ClientURL()})); err != nil {
		t.Fatal(err)
	}
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "NOPE", ConsumerName: "edgate"}}
	_, err := r.Subscribe(context.Background(), "default", []string{"nope.a"}, opts, func(Event) {})
	if !errors.Is(err, jetstream.ErrStreamNotFound) || !strings.Contains(err.Error(), `jetstream stream "NOPE" not found`) {
		t.Fatalf("err = %v", err)
	}
	if r.Consumers() != 0 {
		t.Fatal("a failed subscribe left a consumer")
	}
}

func TestJetStream_AppliesInactiveThreshold(t *testing.T) {
	emb, js, _ := startJetStream(t)
	n := newNATS(t, NATSOptions{URL: emb.ClientURL()})
	ctx := context.Background()
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "short", InactiveThreshold: 300 * time.Millisecond}}
	c, err := n.Consume(ctx, []string{"orders.>"}, opts, func([]Event) {})
	if err != nil {
		t.Fatal(err)
	}
	info, err := js.Consumer(ctx, "ORDERS", n.durableName("short", []string{"orders.>"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.InactiveThreshold; got != 300*time.Millisecond {
		t.Fatalf("inactive threshold = %s", got)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "durable consumer removed after the threshold", func() bool {
		_, err := js.Consumer(ctx, "ORDERS", n.durableName("short", []string{"orders.>"}))
		return errors.Is(err, jetstream.ErrConsumerNotFound)
	})

	// Unset, the provider default applies.
	opts.Stream = &StreamOptions{StreamName: "ORDERS", ConsumerName: "dflt"}
	c, err = n.Consume(ctx, []string{"orders.>"}, opts, func([]Event) {})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	info, err = js.Consumer(ctx, "ORDERS", n.durableName("dflt", []string{"orders.>"}))
	if err != nil {
		t.Fatal(err)
	}
	if got := info.CachedInfo().Config.InactiveThreshold; got != DefaultConsumerInactiveThreshold {
		t.Fatalf("default inactive threshold = %s", got)
	}
}

func TestJetStream_RecreatesALostConsumerWithoutReplaying(t *testing.T) {
	emb, js, _ := startJetStream(t)
	ctx := context.Background()
	n := newNATS(t, NATSOptions{URL: emb.ClientURL()})
	c := newCollector()
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "lost"}}
	cons, err := n.Consume(ctx, []string{"orders.>"}, opts, c.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if _, err := js.Publish(ctx, "orders.1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, 1)

	if err := js.DeleteConsumer(ctx, "ORDERS", n.durableName("lost", []string{"orders.>"})); err != nil {
		t.Fatal(err)
	}
	eventually(t, "durable consumer re-created", func() bool {
		_, err := js.Consumer(ctx, "ORDERS", n.durableName("lost", []string{"orders.>"}))
		return err == nil
	})
	if _, err := js.Publish(ctx, "orders.2", []byte("two")); err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, 2)
	c.quiet(t, 2)
	if string(got[1].Data) != "two" || got[1].Position != "2" {
		t.Fatalf("after re-creation got %q@%s, want two@2 and no replay", got[1].Data, got[1].Position)
	}
}

func TestJetStream_SurvivesServerRestart(t *testing.T) {
	ctx := context.Background()
	store := t.TempDir()
	emb := startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:0", JetStream: true, StoreDir: store})
	listen := strings.TrimPrefix(emb.ClientURL(), "nats://")
	n := newNATS(t, NATSOptions{URL: emb.ClientURL()})
	js, err := jetstream.New(n.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	c := newCollector()
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "restart"}}
	cons, err := n.Consume(ctx, []string{"orders.>"}, opts, c.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if _, err := js.Publish(ctx, "orders.1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, 1)

	emb.Shutdown()
	eventually(t, "client sees the outage", func() bool { return !n.Conn().IsConnected() })
	startEmbedded(t, EmbeddedOptions{Listen: listen, JetStream: true, StoreDir: store})
	eventually(t, "reconnect", func() bool { return n.Conn().IsConnected() })
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := js.Publish(pctx, "orders.2", []byte("two"), jetstream.WithRetryAttempts(20)); err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, 2)
	c.quiet(t, 2)
	if string(got[1].Data) != "two" || got[1].Position != "2" {
		t.Fatalf("after restart got %q@%s, want two@2", got[1].Data, got[1].Position)
	}
}

func TestJetStream_ConsumerStartsOnceTheServerIsUp(t *testing.T) {
	ctx := context.Background()
	probe := startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:0"})
	listen := strings.TrimPrefix(probe.ClientURL(), "nats://")
	probe.Shutdown() // now a free port nobody serves

	n := newNATS(t, NATSOptions{URL: "nats://" + listen})
	c := newCollector()
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "early"}}
	cons, err := n.Consume(ctx, []string{"orders.>"}, opts, c.addBatch)
	if err != nil {
		t.Fatalf("consume while the server is down: %v", err)
	}
	defer cons.Close()

	emb := startEmbedded(t, EmbeddedOptions{Listen: listen, JetStream: true})
	admin := newNATS(t, NATSOptions{URL: emb.ClientURL()})
	js, err := jetstream.New(admin.Conn())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "ORDERS", Subjects: []string{"orders.>"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := js.Publish(ctx, "orders.1", []byte("one")); err != nil {
		t.Fatal(err)
	}
	if got := c.waitFor(t, 1); string(got[0].Data) != "one" || got[0].Position != "1" {
		t.Fatalf("got %q@%s", got[0].Data, got[0].Position)
	}
}

func TestJetStream_RejectsInvalidConsumerNames(t *testing.T) {
	emb, _, _ := startJetStream(t)
	n := newNATS(t, NATSOptions{URL: emb.ClientURL(), InstanceID: "host.example"})
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "edgate"}}
	_, err := n.Consume(context.Background(), []string{"orders.>"}, opts, func([]Event) {})
	if err == nil || !strings.Contains(err.Error(), `"edgate-host.example-`) {
		t.Fatalf("err = %v", err)
	}
}

// consumerNames lists the durable consumers of stream.
func consumerNames(t *testing.T, js jetstream.JetStream, stream string) []string {
	t.Helper()
	s, err := js.Stream(context.Background(), stream)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	lister := s.ConsumerNames(context.Background())
	for name := range lister.Name() {
		names = append(names, name)
	}
	if err := lister.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestJetStream_EachSubjectSetHasItsOwnDurableConsumer(t *testing.T) {
	emb, js, _ := startJetStream(t)
	ctx := context.Background()
	n := newNATS(t, NATSOptions{URL: emb.ClientURL(), InstanceID: "gw1"})
	opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "edgate"}}
	// One consumerName, as for a field with a templated subject, and two subject sets.
	created, paid := newCollector(), newCollector()
	c1, err := n.Consume(ctx, []string{"orders.created"}, opts, created.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer c1.Close()
	c2, err := n.Consume(ctx, []string{"orders.paid"}, opts, paid.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer c2.Close()
	if names := consumerNames(t, js, "ORDERS"); len(names) != 2 {
		t.Fatalf("durable consumers %q, want one per subject set", names)
	}
	for _, s := range []string{"orders.created", "orders.paid", "orders.created", "orders.paid"} {
		if _, err := js.Publish(ctx, s, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		got  *collector
		want string
	}{{created, "orders.created"}, {paid, "orders.paid"}} {
		got := c.got.waitFor(t, 2)
		c.got.quiet(t, 2)
		for _, ev := range got {
			if ev.Subject != c.want {
				t.Fatalf("the consumer of %s got an event of %s", c.want, ev.Subject)
			}
		}
	}
	// The name is stable for a subject set, whatever its order, so a restart resumes.
	if n.durableName("edgate", []string{"a", "b"}) != n.durableName("edgate", []string{"b", "a", "a"}) {
		t.Fatal("the durable name depends on the order of the subjects")
	}
}

// A restarted instance (the same instance id, a new process) resumes a client's stream
// from the client's position, not from where a resume consumer of the instance before it
// stopped: those stay on the server until their inactive threshold, and the fleet test
// saw a client that moved back to a restarted instance get old events again.
func TestJetStream_ResumeOnARestartedInstanceStartsAtTheClientsPosition(t *testing.T) {
	emb, js, _ := startJetStream(t)
	ctx := context.Background()
	for i := 1; i <= 6; i++ {
		if _, err := js.Publish(ctx, "orders.created", []byte(strconv.Itoa(i))); err != nil {
			t.Fatal(err)
		}
	}
	resumeAfter := func(pos string) ConsumeOptions {
		return ConsumeOptions{Stream: &StreamOptions{StreamName: "ORDERS", ConsumerName: "edgate"}, StartAfter: pos}
	}

	before := newNATS(t, NATSOptions{URL: emb.ClientURL(), InstanceID: "gw1"})
	c1 := newCollector()
	cons, err := before.Consume(ctx, []string{"orders.created"}, resumeAfter("1"), c1.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	if got := c1.waitFor(t, 5); got[0].Position != "2" {
		t.Fatalf("the first resume started at %s, want 2", got[0].Position)
	}
	_ = cons.Close()
	_ = before.Close()
	if names := consumerNames(t, js, "ORDERS"); len(names) != 1 {
		t.Fatalf("consumers after the first instance closed: %q, want its resume consumer kept", names)
	}

	after := newNATS(t, NATSOptions{URL: emb.ClientURL(), InstanceID: "gw1"})
	c2 := newCollector()
	cons, err = after.Consume(ctx, []string{"orders.created"}, resumeAfter("4"), c2.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	got := c2.waitFor(t, 2)
	c2.quiet(t, 2)
	if got[0].Position != "5" || got[1].Position != "6" {
		t.Fatalf("the restarted instance resumed with %s, %s, want 5, 6", got[0].Position, got[1].Position)
	}
}
