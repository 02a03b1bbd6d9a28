package eventsource_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"

	"github.com/edgate/edgate/eventsource"
)

// redisServerURL returns REDIS_URL when set (the machine's real Redis in CI), else the URL
// of a miniredis that the test owns.
func redisServerURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	m := miniredis.RunT(t)
	return "redis://" + m.Addr()
}

var redisChannelSeq atomic.Int64

// uniqueChannel keeps tests apart on a shared real Redis.
func uniqueChannel(name string) string {
	return fmt.Sprintf("edgate-test.%d.%d.%s", os.Getpid(), redisChannelSeq.Add(1), name)
}

func newRedisProvider(t *testing.T, url string, mod ...func(*eventsource.RedisOptions)) *eventsource.Redis {
	t.Helper()
	opts := eventsource.RedisOptions{ID: "r", URLs: []string{url}}
	for _, m := range mod {
		m(&opts)
	}
	r, err := eventsource.NewRedis(context.Background(), opts)
	if err != nil {
		t.Fatalf("NewRedis: %v", err)
	}
	return r
}

// redisObserver is a separate client that inspects the server's pub/sub state.
func redisObserver(t *testing.T, url string) *redis.Client {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { c.Close() })
	return c
}

func numSub(t *testing.T, obs *redis.Client, channel string) int64 {
	t.Helper()
	n, err := obs.PubSubNumSub(context.Background(), channel).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return n[channel]
}

func numPat(t *testing.T, obs *redis.Client) int64 {
	t.Helper()
	n, err := obs.PubSubNumPat(context.Background()).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMPAT: %v", err)
	}
	return n
}

// eventually polls cond, because (un)subscribing is confirmed asynchronously on the server.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// assertOnePubSubConnection checks with CLIENT LIST that provider id holds exactly one
// connection in pub/sub mode, subscribed to channels channels.
func assertOnePubSubConnection(t *testing.T, obs *redis.Client, id string, channels int) {
	t.Helper()
	list, err := obs.ClientList(context.Background()).Result()
	if err != nil {
		t.Fatalf("CLIENT LIST: %v", err)
	}
	var subscribed []string
	for _, line := range strings.Split(strings.TrimSpace(list), "\n") {
		if strings.Contains(line, " name=edgate:"+id+" ") && !strings.Contains(line, " sub=0 ") {
			subscribed = append(subscribed, line)
		}
	}
	want := fmt.Sprintf(" sub=%d ", channels)
	if len(subscribed) != 1 || !strings.Contains(subscribed[0], want) {
		t.Fatalf("want one pub/sub connection of %s with%s, got %q", id, want, subscribed)
	}
}

func TestRedis_ConsumeReceivesEventPublishedRightAfterSubscribing(t *testing.T) {
	verifyNoLeaks(t)
	url := redisServerURL(t)
	r := newRedisProvider(t, url)
	defer r.Close()

	orders := uniqueChannel("orders")
	c, sink := mustConsume(t, r, orders)
	defer c.Close()

	mustPublish(t, r, orders, `{"id":1}`)
	ev := sink.next(t)
	if ev.Subject != orders || string(ev.Data) != `{"id":1}` || ev.Position != "" {
		t.Fatalf("got %+v", ev)
	}

	// Malformed payloads pass through untouched: judging them is the resolver's job.
	mustPublish(t, r, orders, "not json {")
	if got := string(sink.next(t).Data); got != "not json {" {
		t.Fatalf("got %q", got)
	}

	if st := r.Stats(); st.Published != 2 || st.EventsReceived != 2 || st.PublishErrors != 0 {
		t.Fatalf("stats = %+v, want 2 published, 2 received", st)
	}
}

func TestRedis_ConsumersOfOneChannelShareOneServerSubscription(t *testing.T) {
	verifyNoLeaks(t)
	url := redisServerURL(t)
	obs := redisObserver(t, url)
	id := uniqueChannel("share")
	r := newRedisProvider(t, url, func(o *eventsource.RedisOptions) { o.ID = id })
	defer r.Close()

	shared, other := uniqueChannel("shared"), uniqueChannel("other")
	var consumers []eventsource.Consumer
	var sinks []recvSink
	for range 3 {
		c, s := mustConsume(t, r, shared)
		consumers = append(consumers, c)
		sinks = append(sinks, s)
	}
	co, so := mustConsume(t, r, other)
	defer co.Close()

	if n := numSub(t, obs, shared); n != 1 {
		t.Fatalf("NUMSUB %s = %d, want 1 (one connection, one subscription)", shared, n)
	}
	if os.Getenv("REDIS_URL") != "" { // miniredis has no CLIENT LIST
		assertOnePubSubConnection(t, obs, id, 2)
	}

	// Each consumer gets the messages of its own channel only, in order.
	for i := range 100 {
		mustPublish(t, r, shared, fmt.Sprint(i))
	}
	mustPublish(t, r, other, "o")
	for _, s := range sinks {
		for i := range 100 {
			if got := string(s.next(t).Data); got != fmt.Sprint(i) {
				t.Fatalf("event %d = %q", i, got)
			}
		}
	}
	if got := string(so.next(t).Data); got != "o" {
		t.Fatalf("other channel got %q", got)
	}
	sinks[0].nothing(t, 100*time.Millisecond)

	// The server subscription lives as long as one consumer does.
	consumers[0].Close()
	consumers[1].Close()
	mustPublish(t, r, shared, "last")
	if got := string(sinks[2].next(t).Data); got != "last" {
		t.Fatalf("got %q", got)
	}
	if n := numSub(t, obs, shared); n != 1 {
		t.Fatalf("NUMSUB %s = %d with one consumer left, want 1", shared, n)
	}
	consumers[2].Close()
	eventually(t, "the last consumer to unsubscribe", func() bool { return numSub(t, obs, shared) == 0 })
	if n := numSub(t, obs, other); n != 1 {
		t.Fatalf("NUMSUB %s = %d, want 1", other, n)
	}
	sinks[0].nothing(t, 0)
}

func TestRedis_GlobChannelIsOnePatternSubscription(t *testing.T) {
	verifyNoLeaks(t)
	url := redisServerURL(t)
	obs := redisObserver(t, url)
	r := newRedisProvider(t, url)
	defer r.Close()

	base := uniqueChannel("prices")
	pattern := base + ".*"
	before := numPat(t, obs)

	c1, s1 := mustConsume(t, r, pattern)
	c2, s2 := mustConsume(t, r, pattern)
	if n := numPat(t, obs); n != before+1 {
		t.Fatalf("NUMPAT = %d, want %d (one PSUBSCRIBE for two consumers)", n, before+1)
	}
	if n := numSub(t, obs, pattern); n != 0 {
		t.Fatalf("the pattern was also SUBSCRIBEd literally (NUMSUB %d)", n)
	}

	mustPublish(t, r, base+".eur", "1.08")
	mustPublish(t, r, base, "not matched")
	for _, s := range []recvSink{s1, s2} {
		ev := s.next(t)
		if ev.Subject != base+".eur" || string(ev.Data) != "1.08" {
			t.Fatalf("got %+v, want the concrete channel %s.eur", ev, base)
		}
		s.nothing(t, 100*time.Millisecond)
	}

	c1.Close()
	c2.Close()
	eventually(t, "PUNSUBSCRIBE", func() bool { return numPat(t, obs) == before })
}

func TestRedis_SubscriptionsResumeAfterServerRestart(t *testing.T) {
	verifyNoLeaks(t)
	// Always miniredis: the test must own the server it restarts.
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	addr := m.Addr()
	url := "redis://" + addr

	r := newRedisProvider(t, url, func(o *eventsource.RedisOptions) { o.HealthCheckInterval = 200 * time.Millisecond })
	defer r.Close()
	c1, s1 := mustConsume(t, r, "news")
	defer c1.Close()
	c2, s2 := mustConsume(t, r, "alerts.*")
	defer c2.Close()
	mustPublish(t, r, "news", "before")
	if got := string(s1.next(t).Data); got != "before" {
		t.Fatalf("got %q", got)
	}

	m.Close()
	m = miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}
	defer m.Close()

	// The provider re-sends both subscriptions on its own; the consumers are untouched.
	obs := redisObserver(t, url)
	eventually(t, "resubscribe after restart", func() bool {
		return numSub(t, obs, "news") == 1 && numPat(t, obs) == 1
	})
	mustPublish(t, r, "news", "after")
	mustPublish(t, r, "alerts.fire", "pattern after")
	if got := string(s1.next(t).Data); got != "after" {
		t.Fatalf("got %q", got)
	}
	if ev := s2.next(t); ev.Subject != "alerts.fire" || string(ev.Data) != "pattern after" {
		t.Fatalf("got %+v", ev)
	}
	if st := r.Stats(); st.ConsumeErrors == 0 {
		t.Fatalf("stats = %+v, want the lost connection counted", st)
	}
}

func TestRedis_ConsumeWhileServerDownSubscribesOnceItIsUp(t *testing.T) {
	verifyNoLeaks(t)
	addr := fmt.Sprintf("127.0.0.1:%d", unusedPort(t))
	r := newRedisProvider(t, "redis://"+addr)
	defer r.Close()
	c, sink := mustConsume(t, r, "late")
	defer c.Close()

	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	obs := redisObserver(t, "redis://"+addr)
	eventually(t, "subscribe once the server is up", func() bool { return numSub(t, obs, "late") == 1 })
	mustPublish(t, r, "late", "hello")
	if got := string(sink.next(t).Data); got != "hello" {
		t.Fatalf("got %q", got)
	}
}

func TestRedis_PublishFailsWhenServerDown(t *testing.T) {
	verifyNoLeaks(t)
	m := miniredis.NewMiniRedis()
	if err := m.Start(); err != nil {
		t.Fatal(err)
	}
	r := newRedisProvider(t, "redis://"+m.Addr())
	defer r.Close()
	mustPublish(t, r, "x", "up")
	m.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := r.Publish(ctx, "x", []byte("down")); err == nil {
		t.Fatal("publish to a stopped server succeeded")
	}
	if st := r.Stats(); st.Published != 1 || st.PublishErrors != 1 {
		t.Fatalf("stats = %+v, want 1 published, 1 publish error", st)
	}
}

func TestRedis_ClusterClient(t *testing.T) {
	verifyNoLeaks(t)
	// miniredis answers CLUSTER SLOTS as a single-node cluster that owns every slot.
	m := miniredis.RunT(t)
	r := newRedisProvider(t, "redis://"+m.Addr(), func(o *eventsource.RedisOptions) { o.Cluster = true })
	defer r.Close()

	c, sink := mustConsume(t, r, "cluster.a", "cluster.*")
	defer c.Close()
	mustPublish(t, r, "cluster.a", "x")
	// The literal channel and the pattern both match: Redis delivers it once per match.
	for range 2 {
		if ev := sink.next(t); ev.Subject != "cluster.a" || string(ev.Data) != "x" {
			t.Fatalf("got %+v", ev)
		}
	}
}

func TestRedis_ClosedProviderStopsConsumers(t *testing.T) {
	verifyNoLeaks(t)
	url := redisServerURL(t)
	r := newRedisProvider(t, url)
	ch := uniqueChannel("closing")
	c, _ := mustConsume(t, r, ch)
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Consume(context.Background(), []string{ch}, eventsource.ConsumeOptions{}, func([]eventsource.Event) {}); err == nil {
		t.Fatal("Consume on a closed provider succeeded")
	}
	obs := redisObserver(t, url)
	eventually(t, "the connection to close", func() bool { return numSub(t, obs, ch) == 0 })
}
