package eventsource

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nuid"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// natsTarget is a server the core NATS tests run against. emb is nil for an external server
// (NATS_URL), whose subscriptions the tests cannot count.
type natsTarget struct {
	name string
	url  string
	emb  *Embedded
}

// natsURL returns the external server in NATS_URL, or starts an embedded one.
func natsURL(t *testing.T) string {
	t.Helper()
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	return startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:0"}).ClientURL()
}

// natsTargets returns an embedded server, plus the one in NATS_URL when it is set.
func natsTargets(t *testing.T) []natsTarget {
	t.Helper()
	emb := startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:0"})
	targets := []natsTarget{{name: "embedded", url: emb.ClientURL(), emb: emb}}
	if u := os.Getenv("NATS_URL"); u != "" {
		targets = append(targets, natsTarget{name: "NATS_URL", url: u})
	}
	return targets
}

func startEmbedded(t *testing.T, opts EmbeddedOptions) *Embedded {
	t.Helper()
	e, err := StartEmbedded(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Shutdown)
	return e
}

func newNATS(t *testing.T, opts NATSOptions) *NATS {
	t.Helper()
	if opts.ReconnectWait == 0 {
		opts.ReconnectWait = 20 * time.Millisecond
	}
	n, err := NewNATS(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	return n
}

// uniquePrefix keeps tests apart on a shared server.
func uniquePrefix() string { return "edgate_test." + nuid.Next() }

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func TestNATS_RegistrySharesOneServerSubscription(t *testing.T) {
	for _, target := range natsTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
			ctx := context.Background()
			r := NewRegistry(zerolog.Nop())
			defer r.Close()
			if err := r.Add(newNATS(t, NATSOptions{ID: "default", URL: target.url})); err != nil {
				t.Fatal(err)
			}
			p := uniquePrefix()
			serverSubs := func(want uint32) {
				t.Helper()
				if target.emb != nil {
					eventually(t, fmt.Sprintf("%d server subscriptions", want), func() bool {
						return target.emb.NumSubscriptions() == want
					})
				}
			}

			one := []string{p + ".orders.*"}
			two := [][]string{{p + ".b", p + ".a"}, {p + ".a", p + ".b"}, {p + ".b", p + ".a", p + ".b"}}
			var unsubs []func()
			var oneCols, twoCols []*collector
			for range 3 {
				c := newCollector()
				u, err := r.Subscribe(ctx, "default", one, ConsumeOptions{}, c.add)
				if err != nil {
					t.Fatal(err)
				}
				unsubs, oneCols = append(unsubs, u), append(oneCols, c)
			}
			if got := r.Consumers(); got != 1 {
				t.Fatalf("consumers = %d, want 1", got)
			}
			serverSubs(1)
			for _, s := range two {
				c := newCollector()
				u, err := r.Subscribe(ctx, "default", s, ConsumeOptions{}, c.add)
				if err != nil {
					t.Fatal(err)
				}
				unsubs, twoCols = append(unsubs, u), append(twoCols, c)
			}
			if got := r.Consumers(); got != 2 {
				t.Fatalf("consumers = %d, want 2", got)
			}
			serverSubs(3) // one per subject: orders.*, a, b

			for _, s := range []string{".orders.1", ".a", ".b", ".c"} {
				if err := r.Publish(ctx, "default", p+s, []byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			for _, c := range oneCols {
				if got := subjectsOf(c.waitFor(t, 1)); got[0] != p+".orders.1" {
					t.Errorf("got %v", got)
				}
			}
			for _, c := range twoCols {
				got := subjectsOf(c.waitFor(t, 2))
				if got[0] != p+".a" || got[1] != p+".b" {
					t.Errorf("got %v, want a then b", got)
				}
			}
			for _, c := range append(oneCols, twoCols...) {
				c.quiet(t, len(c.snapshot()))
			}
			if st := r.Stats()["default"]; st.EventsReceived != 3 || st.Published != 4 {
				t.Errorf("stats = %+v, want 3 received, 4 published", st)
			}

			for _, u := range unsubs {
				u()
			}
			if got := r.Consumers(); got != 0 {
				t.Fatalf("consumers after unsubscribe = %d, want 0", got)
			}
			serverSubs(0)
			if err := r.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestNATS_BurstArrivesCompleteAndInOrder(t *testing.T) {
	for _, target := range natsTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			n := newNATS(t, NATSOptions{URL: target.url})
			p := uniquePrefix()
			const total = 1000
			for _, subjects := range [][]string{{p + ".one"}, {p + ".x", p + ".y"}} {
				c := newCollector()
				cons, err := n.Consume(ctx, subjects, ConsumeOptions{}, c.addBatch)
				if err != nil {
					t.Fatal(err)
				}
				for i := range total {
					if err := n.Publish(ctx, subjects[i%len(subjects)], []byte(strconv.Itoa(i))); err != nil {
						t.Fatal(err)
					}
				}
				evs := c.waitFor(t, total)
				for i, ev := range evs {
					if string(ev.Data) != strconv.Itoa(i) || ev.Subject != subjects[i%len(subjects)] {
						t.Fatalf("%v: event %d = %s %q, want %s %q", subjects, i, ev.Subject, ev.Data, subjects[i%len(subjects)], strconv.Itoa(i))
					}
				}
				_ = cons.Close()
			}
		})
	}
}

func TestNATS_SubscriptionSurvivesServerRestart(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	ctx := context.Background()
	emb, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer emb.Shutdown()
	listen := strings.TrimPrefix(emb.ClientURL(), "nats://")

	var logs syncBuffer
	n, err := NewNATS(ctx, NATSOptions{URL: emb.ClientURL(), ReconnectWait: 20 * time.Millisecond, Log: zerolog.New(&logs)})
	if err != nil {
		t.Fatal(err)
	}
	defer n.Close()
	c := newCollector()
	cons, err := n.Consume(ctx, []string{"restart.>"}, ConsumeOptions{}, c.addBatch)
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if err := n.Publish(ctx, "restart.1", []byte("before")); err != nil {
		t.Fatal(err)
	}
	c.waitFor(t, 1)

	emb.Shutdown()
	eventually(t, "client sees the outage", func() bool { return !n.Conn().IsConnected() })
	if err := n.Publish(ctx, "restart.2", []byte("during")); err != nil {
		t.Fatalf("publish during outage: %v (want buffered)", err)
	}
	if !strings.Contains(logs.String(), "publish buffered during outage") {
		t.Fatalf("log does not say the publish was buffered:\n%s", logs.String())
	}

	emb2, err := StartEmbedded(EmbeddedOptions{Listen: listen})
	if err != nil {
		t.Fatal(err)
	}
	defer emb2.Shutdown()
	eventually(t, "reconnect", func() bool { return n.Conn().IsConnected() })
	if err := n.Publish(ctx, "restart.3", []byte("after")); err != nil {
		t.Fatal(err)
	}
	got := c.waitFor(t, 3)
	if string(got[1].Data) != "during" || string(got[2].Data) != "after" {
		t.Fatalf("after restart got %q, %q; want the buffered event then the new one", got[1].Data, got[2].Data)
	}
	if !strings.Contains(logs.String(), "nats reconnected") || !strings.Contains(logs.String(), "nats disconnected") {
		t.Errorf("log lacks disconnect/reconnect lines:\n%s", logs.String())
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	emb2.Shutdown()
}

func TestNATS_PublishWithoutBufferFailsDuringOutage(t *testing.T) {
	ctx := context.Background()
	emb, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	n := newNATS(t, NATSOptions{URL: emb.ClientURL(), ReconnectBufSize: -1, Log: zerolog.New(&logs)})
	emb.Shutdown()
	eventually(t, "client sees the outage", func() bool { return !n.Conn().IsConnected() })
	if err := n.Publish(ctx, "x", nil); err == nil {
		t.Fatal("publish during outage without a buffer: want error")
	}
	if !strings.Contains(logs.String(), "publish failed during outage") {
		t.Errorf("log does not say the publish failed:\n%s", logs.String())
	}
	if st := n.Stats(); st.PublishErrors != 1 {
		t.Errorf("publish errors = %d, want 1", st.PublishErrors)
	}
}

func TestNATS_StartsWhileServerDownAndSubscribesOnceUp(t *testing.T) {
	ctx := context.Background()
	// A port that was free a moment ago.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()

	n := newNATS(t, NATSOptions{URL: "nats://" + addr})
	c := newCollector()
	cons, err := n.Consume(ctx, []string{"late"}, ConsumeOptions{}, c.addBatch)
	if err != nil {
		t.Fatalf("consume while the server is down: %v", err)
	}
	defer cons.Close()

	emb := startEmbedded(t, EmbeddedOptions{Listen: addr})
	eventually(t, "connect", func() bool { return n.Conn().IsConnected() })
	pub, err := nats.Connect(emb.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	eventually(t, "subscription on the server", func() bool { return emb.NumSubscriptions() == 1 })
	if err := pub.Publish("late", []byte("hi")); err != nil {
		t.Fatal(err)
	}
	if got := c.waitFor(t, 1); string(got[0].Data) != "hi" {
		t.Fatalf("got %q", got[0].Data)
	}
}

func TestNATS_RequestReply(t *testing.T) {
	for _, target := range natsTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			n := newNATS(t, NATSOptions{URL: target.url, RequestTimeout: 200 * time.Millisecond})
			p := uniquePrefix()
			sub, err := n.Conn().Subscribe(p+".echo", func(m *nats.Msg) { _ = m.Respond(append([]byte("re: "), m.Data...)) })
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Unsubscribe()
			silent, err := n.Conn().Subscribe(p+".silent", func(*nats.Msg) {})
			if err != nil {
				t.Fatal(err)
			}
			defer silent.Unsubscribe()
			if err := n.Conn().Flush(); err != nil {
				t.Fatal(err)
			}

			var req Requester = n
			got, err := req.Request(ctx, p+".echo", []byte("ping"))
			if err != nil || string(got) != "re: ping" {
				t.Fatalf("request = %q, %v", got, err)
			}
			start := time.Now()
			_, err = req.Request(ctx, p+".silent", nil)
			var noReply *NoReplyError
			if !errors.As(err, &noReply) || noReply.Timeout != 200*time.Millisecond {
				t.Fatalf("request without reply: err = %v, want a *NoReplyError after 200ms", err)
			}
			if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
				t.Fatalf("timeout took %s, RequestTimeout is 200ms", d)
			}
			if _, err := req.Request(ctx, p+".nobody", nil); !errors.Is(err, ErrNoResponders) {
				t.Fatalf("request without responders: err = %v, want ErrNoResponders", err)
			}
			// The caller's own end is not reported as the provider's timeout.
			cctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
			defer cancel()
			if _, err := req.Request(cctx, p+".silent", nil); !errors.Is(err, context.DeadlineExceeded) || errors.As(err, &noReply) {
				t.Fatalf("request whose caller gave up: err = %v, want the caller's deadline", err)
			}
		})
	}
}

func TestNATS_RejectsInvalidSubjects(t *testing.T) {
	ctx := context.Background()
	n := newNATS(t, NATSOptions{URL: natsURL(t)})
	r := NewRegistry(zerolog.Nop())
	defer r.Close()
	if err := r.Add(n); err != nil {
		t.Fatal(err)
	}
	_, err := r.Subscribe(ctx, "default", []string{"ok", "a..b"}, ConsumeOptions{}, func(Event) {})
	if !errors.Is(err, nats.ErrBadSubject) || !strings.Contains(err.Error(), `nats provider "default" subscribe [a..b ok]`) {
		t.Fatalf("subscribe a..b: err = %v", err)
	}
	if n.Conn().NumSubscriptions() != 0 {
		t.Fatalf("a failed subscribe left %d client subscriptions", n.Conn().NumSubscriptions())
	}
	if err := r.Publish(ctx, "default", "a.*", nil); !errors.Is(err, nats.ErrBadSubject) {
		t.Fatalf("publish to a wildcard: err = %v", err)
	}
}

func TestNATS_PublishAfterCloseFails(t *testing.T) {
	url := natsURL(t)
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	n, err := NewNATS(context.Background(), NATSOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := n.Consume(context.Background(), []string{"a", "b"}, ConsumeOptions{}, func([]Event) {}); err != nil {
		t.Fatal(err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if err := n.Publish(context.Background(), "a", nil); !errors.Is(err, nats.ErrConnectionClosed) {
		t.Fatalf("publish after close: err = %v", err)
	}
}
