package eventsource_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/edgate/edgate/eventsource"
)

// verifyNoLeaks fails the test if it leaves goroutines behind. It runs after every other
// cleanup of the test (cleanups run last-registered first), so call it first.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	opt := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, opt) })
}

// recvSink collects events from a consumer callback without blocking it.
type recvSink chan eventsource.Event

func newRecvSink() recvSink { return make(recvSink, 4096) }

func (s recvSink) fn(ev eventsource.Event) {
	select {
	case s <- ev:
	default:
		panic("recvSink full: the test published more than it reads")
	}
}

// batch is fn for a provider's Consume, which delivers batches.
func (s recvSink) batch(batch []eventsource.Event) {
	for _, ev := range batch {
		s.fn(ev)
	}
}

func (s recvSink) next(t *testing.T) eventsource.Event {
	t.Helper()
	select {
	case ev := <-s:
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("timed out waiting for an event")
		return eventsource.Event{}
	}
}

// nothing asserts that no event arrives within d.
func (s recvSink) nothing(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s:
		t.Fatalf("unexpected event %q on %q", ev.Data, ev.Subject)
	case <-time.After(d):
	}
}

func startKfake(t *testing.T, port int, topics ...string) *kfake.Cluster {
	t.Helper()
	c, err := kfake.NewCluster(kfake.Ports(port), kfake.SeedTopics(1, topics...))
	if err != nil {
		t.Fatalf("kfake: %v", err)
	}
	return c
}

func newKafkaProvider(t *testing.T, brokers []string, mod ...func(*eventsource.KafkaOptions)) *eventsource.Kafka {
	t.Helper()
	opts := eventsource.KafkaOptions{ID: "k", Brokers: brokers}
	for _, m := range mod {
		m(&opts)
	}
	k, err := eventsource.NewKafka(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewKafka: %v", err)
	}
	return k
}

func mustPublish(t *testing.T, p eventsource.Provider, subject, data string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.Publish(ctx, subject, []byte(data)); err != nil {
		t.Fatalf("publish %q: %v", data, err)
	}
}

func mustConsume(t *testing.T, p eventsource.Provider, subjects ...string) (eventsource.Consumer, recvSink) {
	t.Helper()
	sink := newRecvSink()
	c, err := p.Consume(context.Background(), subjects, eventsource.ConsumeOptions{}, sink.batch)
	if err != nil {
		t.Fatalf("consume %v: %v", subjects, err)
	}
	return c, sink
}

func unusedPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func TestKafka_ConsumeReceivesEventPublishedRightAfterSubscribing(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "orders", "other")
	defer cluster.Close()

	k := newKafkaProvider(t, cluster.ListenAddrs())
	defer k.Close()

	// A record produced before Consume is history, not a live event.
	mustPublish(t, k, "orders", `{"id":0}`)

	c, sink := mustConsume(t, k, "orders", "other")
	defer c.Close()

	mustPublish(t, k, "orders", `{"id":1}`)
	ev := sink.next(t)
	// The position is the consumer's offsets vector: "other" has no record yet.
	if ev.Subject != "orders" || string(ev.Data) != `{"id":1}` || ev.Position != "orders:0:1,other:0:-1" {
		t.Fatalf("got %+v, want orders {\"id\":1} at orders:0:1,other:0:-1", ev)
	}

	// Malformed payloads pass through untouched: judging them is the resolver's job.
	mustPublish(t, k, "other", `not json {`)
	ev = sink.next(t)
	if ev.Subject != "other" || string(ev.Data) != `not json {` || ev.Position != "orders:0:1,other:0:0" {
		t.Fatalf("got %+v, want other 'not json {' at orders:0:1,other:0:0", ev)
	}

	st := k.Stats()
	if st.Published != 3 || st.EventsReceived != 2 || st.PublishErrors != 0 {
		t.Fatalf("stats = %+v, want 3 published, 2 received, 0 publish errors", st)
	}
}

func TestKafka_TwoGatewayInstancesEachReceiveEveryEvent(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "prices")
	defer cluster.Close()

	a := newKafkaProvider(t, cluster.ListenAddrs(), func(o *eventsource.KafkaOptions) { o.ID = "a" })
	defer a.Close()
	b := newKafkaProvider(t, cluster.ListenAddrs(), func(o *eventsource.KafkaOptions) { o.ID = "b" })
	defer b.Close()

	ca, sa := mustConsume(t, a, "prices")
	defer ca.Close()
	cb, sb := mustConsume(t, b, "prices")
	defer cb.Close()

	for i := range 5 {
		mustPublish(t, a, "prices", fmt.Sprint(i))
	}
	for _, s := range []recvSink{sa, sb} {
		for i := range 5 {
			if got := string(s.next(t).Data); got != fmt.Sprint(i) {
				t.Fatalf("event %d = %q", i, got)
			}
		}
	}
}

func TestKafka_BurstArrivesCompleteAndInOrder(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "burst")
	defer cluster.Close()

	k := newKafkaProvider(t, cluster.ListenAddrs())
	defer k.Close()
	c, sink := mustConsume(t, k, "burst")
	defer c.Close()

	const n = 1000
	errs := make(chan error, n)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for i := range n {
		errs <- k.Publish(ctx, "burst", []byte(fmt.Sprint(i)))
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		ev := sink.next(t)
		if string(ev.Data) != fmt.Sprint(i) || ev.Position != fmt.Sprintf("burst:0:%d", i) {
			t.Fatalf("event %d: got %q at %s", i, ev.Data, ev.Position)
		}
	}
	sink.nothing(t, 200*time.Millisecond)
}

func TestKafka_ConsumerResumesAfterClusterRecreatedOnSamePort(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "restart")
	addrs := cluster.ListenAddrs()
	port := portOf(t, addrs[0])

	k := newKafkaProvider(t, addrs)
	defer k.Close()
	c, sink := mustConsume(t, k, "restart")
	defer c.Close()

	mustPublish(t, k, "restart", "before")
	if got := string(sink.next(t).Data); got != "before" {
		t.Fatalf("got %q", got)
	}

	cluster.Close()
	cluster = startKfake(t, port, "restart")
	defer cluster.Close()

	// The recreated cluster starts its log empty. The consumer must pick up again on its
	// own; the same consumer, never re-subscribed, receives what is produced now.
	mustPublish(t, k, "restart", "after-1")
	mustPublish(t, k, "restart", "after-2")
	for _, want := range []string{"after-1", "after-2"} {
		if got := string(sink.next(t).Data); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
}

func TestKafka_StartsWithUnreachableBrokersAndRecovers(t *testing.T) {
	verifyNoLeaks(t)
	port := unusedPort(t)
	brokers := []string{fmt.Sprintf("127.0.0.1:%d", port)}

	_, err := eventsource.NewKafka(context.Background(), eventsource.KafkaOptions{
		ID: "strict", Brokers: brokers, StrictStartup: true, StartTimeout: 300 * time.Millisecond,
	})
	if err == nil || !strings.Contains(err.Error(), "unreachable") {
		t.Fatalf("strict start-up with no brokers: err = %v, want unreachable", err)
	}

	k := newKafkaProvider(t, brokers, func(o *eventsource.KafkaOptions) { o.StartTimeout = 300 * time.Millisecond })
	defer k.Close()
	c, sink := mustConsume(t, k, "late")
	defer c.Close()

	cluster := startKfake(t, port, "late")
	defer cluster.Close()

	// The consumer has no position yet and starts at the end once it reaches the broker, so
	// keep producing until one arrives.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		mustPublish(t, k, "late", fmt.Sprint(i))
		select {
		case ev := <-sink:
			if ev.Subject != "late" {
				t.Fatalf("got %+v", ev)
			}
			return
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("consumer never recovered after the broker came up")
		}
	}
}

func TestKafka_PublishFailsWhenBrokersAreDown(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "down")
	k := newKafkaProvider(t, cluster.ListenAddrs())
	defer k.Close()
	mustPublish(t, k, "down", "up")
	cluster.Close()

	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := k.Publish(ctx, "down", []byte("x")); err == nil {
		t.Fatal("publish to a stopped cluster succeeded")
	}
	if st := k.Stats(); st.Published != 1 || st.PublishErrors != 1 {
		t.Fatalf("stats = %+v, want 1 published, 1 publish error", st)
	}
}

func TestKafka_RejectsInvalidTopics(t *testing.T) {
	k := newKafkaProvider(t, []string{"127.0.0.1:1"})
	defer k.Close()
	for _, topic := range []string{"", "a b", "orders.*", "x/y"} {
		if _, err := k.Consume(context.Background(), []string{topic}, eventsource.ConsumeOptions{}, func([]eventsource.Event) {}); err == nil {
			t.Errorf("Consume(%q) succeeded", topic)
		}
		if err := k.Publish(context.Background(), topic, nil); err == nil {
			t.Errorf("Publish(%q) succeeded", topic)
		}
	}
	if _, err := k.Consume(context.Background(), []string{"t"}, eventsource.ConsumeOptions{Stream: &eventsource.StreamOptions{StreamName: "s"}}, func([]eventsource.Event) {}); err == nil {
		t.Error("Consume with stream options succeeded")
	}
}

func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var port int
	if _, err := fmt.Sscan(p, &port); err != nil {
		t.Fatal(err)
	}
	return port
}

func TestKafka_SASLAuthenticates(t *testing.T) {
	verifyNoLeaks(t)
	for _, mech := range []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"} {
		t.Run(mech, func(t *testing.T) {
			cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "auth"),
				kfake.EnableSASL(), kfake.Superuser(mech, "gw", "secret"))
			if err != nil {
				t.Fatal(err)
			}
			defer cluster.Close()

			_, err = eventsource.NewKafka(context.Background(), eventsource.KafkaOptions{
				ID: "bad", Brokers: cluster.ListenAddrs(), StrictStartup: true, StartTimeout: 2 * time.Second,
				SASL: &eventsource.KafkaSASL{Mechanism: mech, Username: "gw", Password: "wrong"},
			})
			if err == nil {
				t.Fatal("strict start-up with a wrong password succeeded")
			}

			k := newKafkaProvider(t, cluster.ListenAddrs(), func(o *eventsource.KafkaOptions) {
				o.StrictStartup = true
				o.SASL = &eventsource.KafkaSASL{Mechanism: strings.ToLower(mech), Username: "gw", Password: "secret"}
			})
			defer k.Close()
			c, sink := mustConsume(t, k, "auth")
			defer c.Close()
			mustPublish(t, k, "auth", "ok")
			if got := string(sink.next(t).Data); got != "ok" {
				t.Fatalf("got %q", got)
			}
		})
	}
	_, err := eventsource.NewKafka(context.Background(), eventsource.KafkaOptions{
		ID: "k", Brokers: []string{"127.0.0.1:1"}, SASL: &eventsource.KafkaSASL{Mechanism: "GSSAPI"},
	})
	if err == nil {
		t.Fatal("an unsupported SASL mechanism was accepted")
	}
}

func TestKafka_ResumeAfterAPositionDeliversWhatWasMissed(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "resume")
	defer cluster.Close()
	k := newKafkaProvider(t, cluster.ListenAddrs())
	defer k.Close()
	c, sink := mustConsume(t, k, "resume")
	mustPublish(t, k, "resume", "a")
	first := sink.next(t)
	c.Close()
	mustPublish(t, k, "resume", "b")
	mustPublish(t, k, "resume", "c")

	resumed, err := k.Consume(context.Background(), []string{"resume"}, eventsource.ConsumeOptions{StartAfter: first.Position}, sink.batch)
	if err != nil {
		t.Fatal(err)
	}
	defer resumed.Close()
	for _, want := range []string{"b", "c"} {
		if ev := sink.next(t); string(ev.Data) != want {
			t.Fatalf("got %q, want %q", ev.Data, want)
		}
	}
	mustPublish(t, k, "resume", "d")
	if ev := sink.next(t); string(ev.Data) != "d" || ev.Position != "resume:0:3" {
		t.Fatalf("live after resume: %+v", ev)
	}
	if _, err := k.Consume(context.Background(), []string{"resume"}, eventsource.ConsumeOptions{StartAfter: "nonsense"}, sink.batch); err == nil {
		t.Fatal("a bad position was accepted")
	}
}

// A topic that gains partitions while a consumer runs: records written to the new
// partitions reach it, from their start.
func TestKafka_RunningConsumerSeesPartitionsAddedToItsTopic(t *testing.T) {
	verifyNoLeaks(t)
	cluster := startKfake(t, 0, "grow")
	defer cluster.Close()
	k := newKafkaProvider(t, cluster.ListenAddrs(), func(o *eventsource.KafkaOptions) { o.PartitionCheckInterval = 50 * time.Millisecond })
	defer k.Close()
	c, sink := mustConsume(t, k, "grow")
	defer c.Close()
	mustPublish(t, k, "grow", "before")
	if ev := sink.next(t); string(ev.Data) != "before" {
		t.Fatalf("got %q", ev.Data)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(cluster.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreatePartitions(ctx, 2, "grow"); err != nil {
		t.Fatalf("add partitions: %v", err)
	}
	// Written at once, before the consumer can have noticed the partitions: read from
	// their start, they still arrive.
	for p := int32(1); p <= 2; p++ {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: "grow", Partition: p, Value: []byte(fmt.Sprint("new-", p))}).FirstErr(); err != nil {
			t.Fatalf("produce to partition %d: %v", p, err)
		}
	}
	got := map[string]bool{}
	for range 2 {
		got[string(sink.next(t).Data)] = true
	}
	if !got["new-1"] || !got["new-2"] {
		t.Fatalf("got %v, want the records of both new partitions", got)
	}
}
