package gateway

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
)

// The Redis tests run the gateway on REDIS_URL when it is set (the machine's real Redis in
// CI) and on a miniredis of the test's own otherwise, with the event subgraph
// testdata/redis_events.graphql (provider "gw-test-redis", channel
// "edgate-gw-test.{{ args.room }}"). Every test uses rooms of its own, so runs sharing a
// real Redis do not see each other's messages. Tests that stop or restart the server, or
// count pattern subscriptions server-wide, always use a miniredis.

const redisSubscription = `subscription($room: String!) { employeeUpdatedRedis(room: $room) { id name } }`

var redisRoomSeq atomic.Int64

// redisRoom returns a room name unique to this process and call.
func redisRoom(name string) string {
	return fmt.Sprintf("%d-%d-%s", os.Getpid(), redisRoomSeq.Add(1), name)
}

func redisChannel(room string) string { return "edgate-gw-test." + room }

// redisTestURL is REDIS_URL, or the URL of a new miniredis stopped when the test ends.
func redisTestURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://" + miniredis.RunT(t).Addr()
}

func startRedisGateway(t *testing.T, url string) *eventGateway {
	t.Helper()
	return startEventGateway(t, eventGatewayConfig{
		events:    "redis_events.graphql",
		providers: fmt.Sprintf("    redis:\n      - id: gw-test-redis\n        urls: [%q]\n", url),
	})
}

// redisService is a client of the test's own: it publishes like a user's service and
// inspects the server's pub/sub state.
type redisService struct{ *redis.Client }

func newRedisService(t *testing.T, url string) redisService {
	t.Helper()
	o, err := redis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(o)
	t.Cleanup(func() { _ = c.Close() })
	return redisService{c}
}

func (s redisService) publish(t *testing.T, room, payload string) {
	t.Helper()
	if err := s.Publish(context.Background(), redisChannel(room), payload).Err(); err != nil {
		t.Fatalf("PUBLISH: %v", err)
	}
}

// numSub is PUBSUB NUMSUB of a room's channel: the server's count of its subscribers.
func (s redisService) numSub(t *testing.T, room string) int64 {
	t.Helper()
	ch := redisChannel(room)
	n, err := s.PubSubNumSub(context.Background(), ch).Result()
	if err != nil {
		t.Fatalf("PUBSUB NUMSUB: %v", err)
	}
	return n[ch]
}

// TestGatewayRedis runs the behaviours that need no server fault on one gateway (a start
// costs a composition); every subtest has rooms of its own and starts when the previous
// one's consumers are closed.
func TestGatewayRedis(t *testing.T) {
	url := redisTestURL(t)
	svc := newRedisService(t, url)
	g := startRedisGateway(t, url)
	stats := func() providerStats { return g.Registry().Stats()["redis/gw-test-redis"] }
	run := func(name string, f func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			eventually(t, "no consumer left from before", func() bool { return g.Registry().Consumers() == 0 })
			f(t)
		})
	}

	run("EventResolvesEntityFields", func(t *testing.T) {
		room, other := redisRoom("resolve"), redisRoom("other")

		c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
		eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) == 1 })
		svc.publish(t, other, `{"__typename":"Employee","id":2}`)
		svc.publish(t, room, `{"__typename":"Employee","id":1}`)
		if got, want := c.next(t), `{"data":{"employeeUpdatedRedis":{"id":1,"name":"Alice Johnson"}}}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		c.nothing(t, 300*time.Millisecond)
	})

	run("PublishMutationPublishesTheArguments", func(t *testing.T) {
		room := redisRoom("mutation")
		c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
		raw := svc.Subscribe(context.Background(), redisChannel(room))
		t.Cleanup(func() { _ = raw.Close() })
		eventually(t, "both subscriptions", func() bool { return svc.numSub(t, room) == 2 })

		before := stats()
		got := g.post(t, `mutation($room: String!) { updateEmployeeRedis(room: $room, id: 3, name: "C. Wei") { success } }`, fmt.Sprintf(`{"room":%q}`, room))
		if want := `{"data":{"updateEmployeeRedis":{"success":true}}}`; got != want {
			t.Fatalf("mutation: got %s, want %s", got, want)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		msg, err := raw.ReceiveMessage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if want := fmt.Sprintf(`{"room":%q,"id":3,"name":"C. Wei"}`, room); msg.Payload != want {
			t.Fatalf("the channel got %s, want the JSON of the arguments %s", msg.Payload, want)
		}
		// The arguments carry no __typename; the concrete return type supplies it.
		if got, want := c.next(t), `{"data":{"employeeUpdatedRedis":{"id":3,"name":"Chen Wei"}}}`; got != want {
			t.Fatalf("mutation event: got %s, want %s", got, want)
		}
		svc.publish(t, room, `{"__typename":"Employee","id":3}`)
		if got, want := c.next(t), `{"data":{"employeeUpdatedRedis":{"id":3,"name":"Chen Wei"}}}`; got != want {
			t.Fatalf("got %s, want %s", got, want)
		}
		if after := stats(); after.Published != before.Published+1 || after.PublishErrors != before.PublishErrors {
			t.Fatalf("provider stats %+v, then %+v: want one more published", before, after)
		}
	})

	run("SubscribersOfOneChannelShareOneServerSubscription", func(t *testing.T) {
		room := redisRoom("share")
		vars := fmt.Sprintf(`{"room":%q}`, room)
		queries := []string{
			`subscription($room: String!) { employeeUpdatedRedis(room: $room) { id } }`,
			`subscription($room: String!) { employeeUpdatedRedis(room: $room) { id name } }`,
			`subscription($room: String!) { employeeUpdatedRedis(room: $room) { name role } }`,
			`subscription($room: String!) { employeeUpdatedRedis(room: $room) { name role } }`,
			`subscription($room: String!) { employeeUpdatedRedis(room: $room) { name role } }`,
		}
		var clients []*sseClient
		for _, q := range queries {
			clients = append(clients, subscribeSSE(t, g.URL(), q, vars))
		}
		// An SSE client has its response headers before its subscription joins a group, so
		// wait until the hub has all five: a subscriber that joins after the event misses it.
		// (Groups count from their first member; the consumer from when the broker confirmed.)
		eventually(t, "five subscribers in three groups on one consumer", func() bool {
			return g.stats.Subscribers.Load() == 5 && g.Engine().Groups() == 3 && g.Registry().Consumers() == 1
		})
		eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) >= 1 })
		// Seen from the server: one connection is subscribed to the channel.
		if n := svc.numSub(t, room); n != 1 {
			t.Fatalf("PUBSUB NUMSUB = %d, want 1", n)
		}

		before := stats()
		svc.publish(t, room, `{"__typename":"Employee","id":4}`)
		for i, c := range clients {
			if got := c.next(t); !strings.Contains(got, `"employeeUpdatedRedis":{`) {
				t.Fatalf("client %d got %s", i, got)
			}
		}
		if after := stats(); after.EventsReceived != before.EventsReceived+1 {
			t.Fatalf("provider stats %+v, then %+v: want the message received once for five subscribers", before, after)
		}

		for _, c := range clients {
			c.close()
		}
		eventually(t, "UNSUBSCRIBE", func() bool { return g.Registry().Consumers() == 0 && svc.numSub(t, room) == 0 })
	})

	run("TwoGatewaysBothDeliverEveryEvent", func(t *testing.T) {
		g1, g2 := g, startRedisGateway(t, url)
		room := redisRoom("replicas")
		vars := fmt.Sprintf(`{"room":%q}`, room)
		c1 := subscribeSSE(t, g1.URL(), redisSubscription, vars)
		c2 := subscribeSSE(t, g2.URL(), redisSubscription, vars)
		eventually(t, "both SUBSCRIBEs", func() bool { return svc.numSub(t, room) == 2 })

		ids := []int{1, 2, 3, 4, 5}
		for _, id := range ids {
			svc.publish(t, room, fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id))
		}
		for _, c := range []*sseClient{c1, c2} {
			for _, id := range ids {
				if got, want := c.next(t), fmt.Sprintf(`{"data":{"employeeUpdatedRedis":{"id":%d,`, id); !strings.HasPrefix(got, want) {
					t.Fatalf("got %s, want %s...", got, want)
				}
			}
		}
	})

	run("MalformedEventsGiveErrorsAndKeepTheSubscription", func(t *testing.T) {
		room := redisRoom("malformed")
		c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
		eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) == 1 })
		for _, bad := range []struct{ payload, want string }{
			{`not json`, "not a JSON object"},
			{`{"__typename":"Product","upc":"p-100"}`, `is not the field's type Employee`},
			{`{"__typename":"Employee"}`, `missing its key field \"id\"`},
			{`{"__typename":"Nope","id":2}`, `is not the field's type Employee`},
		} {
			svc.publish(t, room, bad.payload)
			errorFrame(t, c.next(t), bad.want)
		}
		svc.publish(t, room, `{"__typename":"Employee","id":2}`)
		if got, want := c.next(t), `{"data":{"employeeUpdatedRedis":{"id":2,"name":"Bilal Khan"}}}`; got != want {
			t.Fatalf("after malformed events: got %s, want %s", got, want)
		}
	})
}

func TestGatewayRedis_SubscriptionResumesAfterServerRestart(t *testing.T) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(replicaAddr(t)); err != nil { // see replicaAddr
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	addr := m.Addr()
	url := "redis://" + addr
	svc := newRedisService(t, url)
	g := startRedisGateway(t, url)
	room := redisRoom("restart")
	c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
	eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) == 1 })
	svc.publish(t, room, `{"__typename":"Employee","id":5}`)
	want := `{"data":{"employeeUpdatedRedis":{"id":5,"name":"Emeka Okafor"}}}`
	if got := c.next(t); got != want {
		t.Fatalf("before the restart: got %s, want %s", got, want)
	}

	m.Close()
	c.nothing(t, 300*time.Millisecond)
	m = miniredis.NewMiniRedis()
	if err := m.StartAddr(addr); err != nil {
		t.Fatalf("restart on %s: %v", addr, err)
	}

	// The new server starts without subscriptions; the gateway subscribes again on its own
	// and the same SSE stream goes on.
	eventually(t, "SUBSCRIBE on the new server", func() bool { return svc.numSub(t, room) == 1 })
	svc.publish(t, room, `{"__typename":"Employee","id":5}`)
	if got := c.next(t); got != want {
		t.Fatalf("after the restart: got %s, want %s", got, want)
	}
	if st := g.Registry().Stats()["redis/gw-test-redis"]; st.ConsumeErrors == 0 {
		t.Fatalf("provider stats %+v, want the lost connection counted", st)
	}
}

func TestGatewayRedis_PublishWithServerDownFailsWithALoggedReason(t *testing.T) {
	m := miniredis.NewMiniRedis()
	if err := m.StartAddr(replicaAddr(t)); err != nil { // see replicaAddr
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	g := startRedisGateway(t, "redis://"+m.Addr())
	const mutation = `mutation { updateEmployeeRedis(room: "down", id: 1) { success } }`
	if got, want := g.post(t, mutation, ""), `{"data":{"updateEmployeeRedis":{"success":true}}}`; got != want {
		t.Fatalf("with the server up: got %s, want %s", got, want)
	}

	m.Close()
	if got, want := g.post(t, mutation, ""), `{"data":{"updateEmployeeRedis":{"success":false}}}`; got != want {
		t.Fatalf("with the server down: got %s, want %s", got, want)
	}
	line := g.logs.line("publish failed", "edgate-gw-test.down")
	if line == "" || !strings.Contains(line, `redis provider \"redis/gw-test-redis\" publish \"edgate-gw-test.down\"`) {
		t.Fatalf("no log line with the reason; log:\n%s", g.logs.String())
	}
	if st := g.Registry().Stats()["redis/gw-test-redis"]; st.Published != 1 || st.PublishErrors != 1 {
		t.Fatalf("provider stats %+v, want 1 published and 1 publish error", st)
	}
}

func TestGatewayRedis_GlobCharactersInArgumentsAreRejected(t *testing.T) {
	// A miniredis of its own: the test counts every subscription on the server.
	url := "redis://" + miniredis.RunT(t).Addr()
	svc := newRedisService(t, url)
	g := startRedisGateway(t, url)
	for _, room := range []string{"*", "a?", "[ab]", "x]", `a\b`, "a b"} {
		c := subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
		got := c.next(t)
		errorFrame(t, got, "would change the channel")
		if !strings.Contains(got, `"path":["employeeUpdatedRedis"]`) {
			t.Fatalf("room %q: error without the field's path: %s", room, got)
		}
	}
	if n := g.Registry().Consumers(); n != 0 {
		t.Fatalf("%d consumers after rejected arguments, want 0", n)
	}
	ctx := context.Background()
	pats, err := svc.PubSubNumPat(ctx).Result()
	if err != nil {
		t.Fatal(err)
	}
	chans, err := svc.PubSubChannels(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	if pats != 0 || len(chans) != 0 {
		t.Fatalf("the server has %d patterns and channels %q subscribed, want none", pats, chans)
	}
	// The same field with a plain value works.
	room := redisRoom("plain")
	subscribeSSE(t, g.URL(), redisSubscription, fmt.Sprintf(`{"room":%q}`, room))
	eventually(t, "SUBSCRIBE", func() bool { return svc.numSub(t, room) == 1 })
}
