package resolve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

// feedSDL is a subgraph that serves subscriptions itself; Employee's other fields come from
// the employees subgraph through _entities.
const feedSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

type Query { feedVersion: String }

type Subscription {
  employeeUpdated(id: Int!): Employee!
  countdown(from: Int!): Int!
}

type Employee @key(fields: "id", resolvable: false) { id: Int! }
`

// feedSubgraph serves feedSDL; send delivers an employee update to the running
// employeeUpdated subscriptions for that id. While down is set it refuses every request
// with 503, as a restarting subgraph would.
type feedSubgraph struct {
	sg      *minigraph.Subgraph
	handler http.Handler
	down    atomic.Bool

	mu   sync.Mutex
	subs map[chan any]int
}

func newFeedSubgraph(t *testing.T) *feedSubgraph {
	t.Helper()
	f := &feedSubgraph{subs: map[chan any]int{}}
	f.sg = &minigraph.Subgraph{
		Name: "feed",
		SDL:  feedSDL,
		Subscription: map[string]func(context.Context, map[string]any, http.Header) (<-chan any, error){
			"employeeUpdated": func(ctx context.Context, args map[string]any, _ http.Header) (<-chan any, error) {
				ch := make(chan any, 16)
				f.mu.Lock()
				f.subs[ch] = args["id"].(int)
				f.mu.Unlock()
				context.AfterFunc(ctx, func() {
					f.mu.Lock()
					delete(f.subs, ch)
					f.mu.Unlock()
				})
				return ch, nil
			},
			"countdown": func(ctx context.Context, args map[string]any, _ http.Header) (<-chan any, error) {
				ch := make(chan any)
				go func() {
					defer close(ch)
					for i := args["from"].(int); i > 0; i-- {
						select {
						case ch <- i:
						case <-ctx.Done():
							return
						}
					}
				}()
				return ch, nil
			},
		},
	}
	handler := f.sg.Handler()
	f.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		handler.ServeHTTP(w, r)
	})
	return f
}

func (f *feedSubgraph) send(id int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, want := range f.subs {
		if want == id {
			select {
			case ch <- map[string]any{"__typename": "Employee", "id": id}:
			default:
			}
		}
	}
}

func (f *feedSubgraph) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

type upstreamEnv struct {
	engine    *Engine
	feed      *feedSubgraph
	employees *minigraph.Subgraph
}

// The upstream tests share two servers whose handlers each test replaces, so that the
// composition (a JS VM run, slow on a busy machine) is done once per protocol.
var upstreamFixture struct {
	once            sync.Once
	employees, feed atomic.Pointer[http.Handler]
	empURL, feedURL string
	mu              sync.Mutex
	supergraphs     map[string]*schema.Supergraph
}

func swappable(p *atomic.Pointer[http.Handler]) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*p.Load()).ServeHTTP(w, r)
	}))
	return srv.URL // lives as long as the test binary
}

// newUpstreamEnv composes employees + feed, with feed's subscriptions served over
// protocol/subprotocol.
func newUpstreamEnv(t *testing.T, protocol, subprotocol string, opts Options) *upstreamEnv {
	t.Helper()
	fx := &upstreamFixture
	fx.once.Do(func() {
		fx.empURL, fx.feedURL = swappable(&fx.employees), swappable(&fx.feed)
		fx.supergraphs = map[string]*schema.Supergraph{}
	})
	emp := demo.Employees()
	feed := newFeedSubgraph(t)
	empHandler, feedHandler := emp.Handler(), feed.handler
	fx.employees.Store(&empHandler)
	fx.feed.Store(&feedHandler)
	fx.mu.Lock()
	super, ok := fx.supergraphs[protocol+"/"+subprotocol]
	if !ok {
		var err error
		super, err = schema.Compose([]schema.SubgraphSource{
			{Name: "employees", RoutingURL: fx.empURL, SDL: emp.SDL},
			{Name: "feed", RoutingURL: fx.feedURL, SDL: feedSDL, Subscription: &schema.UpstreamSubscription{Protocol: protocol, WSSubprotocol: subprotocol}},
		})
		if err != nil {
			fx.mu.Unlock()
			t.Fatalf("compose: %v", err)
		}
		fx.supergraphs[protocol+"/"+subprotocol] = super
	}
	fx.mu.Unlock()
	reg := eventsource.NewRegistry(zerolog.Nop())
	ctx, cancel := context.WithCancel(context.Background())
	opts.Supergraph, opts.Events = super, reg
	e, err := New(ctx, opts)
	if err != nil {
		cancel()
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() {
		e.Shutdown(End{Code: EndShutdown})
		cancel()
		_ = reg.Close()
	})
	return &upstreamEnv{engine: e, feed: feed, employees: emp}
}

type upstreamSub struct {
	s       *Stream
	wake    chan struct{}
	pending []Message
}

func (env *upstreamEnv) subscribe(t *testing.T, req *Request) (*upstreamSub, error) {
	t.Helper()
	op, err := env.engine.Prepare(context.Background(), req)
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	wake := make(chan struct{}, 1)
	s, err := env.engine.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		return nil, err
	}
	t.Cleanup(s.Close)
	return &upstreamSub{s: s, wake: wake}, nil
}

func (env *upstreamEnv) mustSubscribe(t *testing.T, req *Request) *upstreamSub {
	t.Helper()
	sub, err := env.subscribe(t, req)
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	return sub
}

// pull waits for the next message or the end of the stream.
func (u *upstreamSub) pull(t *testing.T) (*Message, *End) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		if len(u.pending) > 0 {
			m := u.pending[0]
			u.pending = u.pending[1:]
			return &m, nil
		}
		msgs, end := u.s.Pull(nil)
		u.pending = append(u.pending, msgs...)
		if len(u.pending) > 0 {
			continue
		}
		if end != nil {
			return nil, end
		}
		select {
		case <-u.wake:
		case <-deadline:
			t.Fatal("nothing within 5s")
		}
	}
}

func (u *upstreamSub) expect(t *testing.T, want string) {
	t.Helper()
	m, end := u.pull(t)
	if end != nil {
		t.Fatalf("stream ended (%+v), want %s", end, want)
	}
	if string(m.Payload) != want {
		t.Fatalf("payload\n got %s\nwant %s", m.Payload, want)
	}
}

func (u *upstreamSub) expectMatch(t *testing.T, pattern string) {
	t.Helper()
	m, end := u.pull(t)
	if end != nil {
		t.Fatalf("stream ended (%+v), want a message matching %s", end, pattern)
	}
	if !regexp.MustCompile(pattern).Match(m.Payload) {
		t.Fatalf("payload %s does not match %s", m.Payload, pattern)
	}
}

func (u *upstreamSub) expectEnd(t *testing.T, code string) *End {
	t.Helper()
	m, end := u.pull(t)
	if end == nil {
		t.Fatalf("got %s, want the end (%q)", m.Payload, code)
	}
	if end.Code != code {
		t.Fatalf("ended with %+v, want code %q", end, code)
	}
	return end
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

var upstreamProtocols = []struct{ name, protocol, subprotocol, transport string }{
	{"ws graphql-transport-ws", "ws", "graphql-transport-ws", minigraph.TransportGraphQLTransportWS},
	{"ws graphql-ws", "ws", "graphql-ws", minigraph.TransportGraphQLWS},
	{"ws auto", "ws", "auto", minigraph.TransportGraphQLTransportWS},
	{"sse", "sse", "", minigraph.TransportSSE},
	{"sse_post", "sse_post", "", minigraph.TransportSSE},
}

func TestUpstream_EventsResolveEntityFieldsFromAnotherSubgraphOverEveryProtocol(t *testing.T) {
	for _, p := range upstreamProtocols {
		t.Run(p.name, func(t *testing.T) {
			env := newUpstreamEnv(t, p.protocol, p.subprotocol, Options{})
			a := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id name } }`})
			b := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id name } }`})
			waitUntil(t, "the upstream subscription", func() bool { return env.feed.running() == 1 })
			env.feed.send(1)
			want := `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`
			a.expect(t, want)
			b.expect(t, want)
			// One upstream subscription and one _entities fetch for both subscribers.
			if n := env.employees.CountEntitiesRequests(); n != 1 {
				t.Fatalf("%d _entities requests, want 1", n)
			}
			reqs := env.feed.sg.Requests()
			if len(reqs) != 1 || reqs[0].Transport != p.transport {
				t.Fatalf("feed subgraph saw %d requests (%+v), want one over %s", len(reqs), reqs, p.transport)
			}
		})
	}
}

func TestUpstream_CompletionEndsMembersAfterTheirEvents(t *testing.T) {
	for _, p := range upstreamProtocols {
		t.Run(p.name, func(t *testing.T) {
			env := newUpstreamEnv(t, p.protocol, p.subprotocol, Options{})
			s := env.mustSubscribe(t, &Request{Query: `subscription { countdown(from: 2) }`})
			s.expect(t, `{"data":{"countdown":2}}`)
			s.expect(t, `{"data":{"countdown":1}}`)
			s.expectEnd(t, EndComplete)
			waitUntil(t, "the group to go", func() bool { return env.engine.Groups() == 0 })
		})
	}
}

func TestUpstream_SharesOneSocketPerForwardedHeadersAndInitPayload(t *testing.T) {
	env := newUpstreamEnv(t, "ws", "graphql-transport-ws", Options{
		Headers: HeaderRules{All: []HeaderRule{{Op: "propagate", Named: "Authorization"}, {Op: "set", Name: "X-Gateway", Value: "edgate"}}},
	})
	req := func(auth string, id int) *Request {
		return &Request{
			Query:       `subscription ($id: Int!) { employeeUpdated(id: $id) { id role } }`,
			Variables:   json.RawMessage(fmt.Sprintf(`{"id":%d}`, id)),
			Header:      http.Header{"Authorization": {auth}, "X-Private": {"not forwarded"}},
			InitPayload: json.RawMessage(`{"token":"` + auth + `"}`),
		}
	}
	subs := make([]*upstreamSub, 5)
	for i := range subs {
		subs[i] = env.mustSubscribe(t, req("Bearer a", i+1))
	}
	// Five more with different selections: different operations, same socket.
	for i := 0; i < 5; i++ {
		env.mustSubscribe(t, &Request{
			Query:       fmt.Sprintf(`subscription { e%d: employeeUpdated(id: %d) { id name } }`, i, i+1),
			Header:      http.Header{"Authorization": {"Bearer a"}},
			InitPayload: json.RawMessage(`{"token":"Bearer a"}`),
		})
	}
	waitUntil(t, "10 upstream subscriptions", func() bool { return env.feed.running() == 10 })
	if n := env.feed.sg.WebSocketConnectionsOpened(); n != 1 {
		t.Fatalf("10 subscriptions with one Authorization opened %d sockets, want 1", n)
	}
	other := env.mustSubscribe(t, req("Bearer b", 1))
	waitUntil(t, "11 upstream subscriptions", func() bool { return env.feed.running() == 11 })
	if n := env.feed.sg.WebSocketConnectionsOpened(); n != 2 {
		t.Fatalf("another Authorization: %d sockets in total, want 2", n)
	}

	env.feed.send(3)
	subs[2].expect(t, `{"data":{"employeeUpdated":{"id":3,"role":"Frontend Engineer"}}}`)
	env.feed.send(1)
	other.expect(t, `{"data":{"employeeUpdated":{"id":1,"role":"Engineering Manager"}}}`)

	headers := env.feed.sg.UpgradeHeaders()
	payloads := env.feed.sg.InitPayloads()
	if len(headers) != 2 || len(payloads) != 2 {
		t.Fatalf("%d upgrades, %d init payloads, want 2 each", len(headers), len(payloads))
	}
	for i, auth := range []string{"Bearer a", "Bearer b"} {
		h := headers[i]
		if h.Get("Authorization") != auth || h.Get("X-Gateway") != "edgate" || h.Get("X-Private") != "" {
			t.Fatalf("upgrade %d headers %v: want Authorization %q, X-Gateway and no X-Private", i, h, auth)
		}
		if payloads[i]["token"] != auth {
			t.Fatalf("init payload %d = %v, want token %q", i, payloads[i], auth)
		}
	}
}

func TestUpstream_InitPayloadForwardingCanBeTurnedOff(t *testing.T) {
	env := newUpstreamEnv(t, "ws", "graphql-transport-ws", Options{Upstream: UpstreamOptions{
		Subgraphs: map[string]UpstreamSubgraph{"feed": {OmitInitPayload: true}},
	}})
	env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`, InitPayload: json.RawMessage(`{"token":"secret"}`)})
	waitUntil(t, "the upstream subscription", func() bool { return env.feed.running() == 1 })
	if p := env.feed.sg.InitPayloads(); len(p) != 1 || p[0] != nil {
		t.Fatalf("init payloads %v, want one connection_init without payload", p)
	}
}

func TestUpstream_DroppedSocketGivesAnErrorAndEndsWithoutRetry(t *testing.T) {
	for _, p := range upstreamProtocols {
		t.Run(p.name, func(t *testing.T) {
			env := newUpstreamEnv(t, p.protocol, p.subprotocol, Options{})
			a := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
			b := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 2) { id } }`})
			waitUntil(t, "the upstream subscriptions", func() bool { return env.feed.running() == 2 })
			env.feed.sg.DropConnections()
			for _, s := range []*upstreamSub{a, b} {
				s.expectMatch(t, `^\{"errors":\[\{"message":"subscription from subgraph \\"feed\\" failed: [^"]+","extensions":\{"code":"UPSTREAM_ERROR"\}\}\]\}$`)
				end := s.expectEnd(t, EndUpstream)
				if !strings.Contains(end.Reason, `subgraph "feed"`) {
					t.Fatalf("end reason %q does not name the subgraph", end.Reason)
				}
			}
			waitUntil(t, "the groups to go", func() bool { return env.engine.Groups() == 0 })
			if n := env.engine.Stats().UpstreamErrors.Load(); n != 2 {
				t.Fatalf("UpstreamErrors = %d, want 2", n)
			}
		})
	}
}

func TestUpstream_RetryResubscribesAfterTheSubgraphIsBack(t *testing.T) {
	for _, p := range upstreamProtocols {
		t.Run(p.name, func(t *testing.T) {
			env := newUpstreamEnv(t, p.protocol, p.subprotocol, Options{Upstream: UpstreamOptions{Default: UpstreamSubgraph{
				Retry: UpstreamRetry{Enabled: true, MaxAttempts: 100, Interval: 10 * time.Millisecond, MaxDuration: 50 * time.Millisecond},
			}}})
			subs := make([]*upstreamSub, 3)
			for i := range subs {
				subs[i] = env.mustSubscribe(t, &Request{Query: fmt.Sprintf(`subscription { employeeUpdated(id: %d) { id name } }`, i+1)})
			}
			waitUntil(t, "the upstream subscriptions", func() bool { return env.feed.running() == 3 })
			env.feed.down.Store(true)
			env.feed.sg.DropConnections()
			for _, s := range subs {
				s.expectMatch(t, `failed: .*; re-subscribing","extensions":\{"code":"UPSTREAM_ERROR"\}`)
			}
			time.Sleep(50 * time.Millisecond) // a few refused attempts
			env.feed.down.Store(false)
			waitUntil(t, "the re-subscriptions", func() bool { return env.feed.running() == 3 })
			for i, s := range subs {
				env.feed.send(i + 1)
				s.expectMatch(t, fmt.Sprintf(`^\{"data":\{"employeeUpdated":\{"id":%d,"name":"[^"]+"\}\}\}$`, i+1))
			}
			if p.protocol == "ws" {
				if n := env.feed.sg.WebSocketConnectionsOpen(); n != 1 {
					t.Fatalf("%d sockets open after re-subscribing, want 1", n)
				}
			}
		})
	}
}

func TestUpstream_RetryGivesUpAfterMaxAttempts(t *testing.T) {
	env := newUpstreamEnv(t, "ws", "graphql-transport-ws", Options{Upstream: UpstreamOptions{Default: UpstreamSubgraph{
		Retry: UpstreamRetry{Enabled: true, MaxAttempts: 3, Interval: time.Millisecond, MaxDuration: 2 * time.Millisecond},
	}}})
	s := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
	waitUntil(t, "the upstream subscription", func() bool { return env.feed.running() == 1 })
	env.feed.down.Store(true)
	env.feed.sg.DropConnections()
	s.expectMatch(t, `re-subscribing`)
	s.expectMatch(t, `503 Service Unavailable.*gave up after 3 attempts`)
	end := s.expectEnd(t, EndUpstream)
	if !strings.Contains(end.Reason, "gave up after 3 attempts") {
		t.Fatalf("end reason %q", end.Reason)
	}
}

func TestUpstream_RefusedUpgradeFailsTheSubscribeWithTheStatus(t *testing.T) {
	for _, p := range upstreamProtocols {
		t.Run(p.name, func(t *testing.T) {
			env := newUpstreamEnv(t, p.protocol, p.subprotocol, Options{})
			env.feed.down.Store(true)
			_, err := env.subscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
			re, ok := err.(*RequestError)
			if !ok || re.Status != http.StatusBadGateway || !strings.Contains(re.Error(), "503") || !strings.Contains(re.Error(), `subgraph "feed"`) {
				t.Fatalf("subscribe error %v, want a 502 RequestError naming the subgraph and its 503", err)
			}
			if n := env.engine.Groups(); n != 0 {
				t.Fatalf("%d groups after a failed start", n)
			}
			// The subgraph is back: the next subscriber starts a fresh upstream subscription.
			env.feed.down.Store(false)
			s := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
			waitUntil(t, "the upstream subscription", func() bool { return env.feed.running() == 1 })
			env.feed.send(1)
			s.expect(t, `{"data":{"employeeUpdated":{"id":1}}}`)
		})
	}
}

func TestUpstream_LastSubscriberLeavingClosesTheSocket(t *testing.T) {
	env := newUpstreamEnv(t, "ws", "graphql-transport-ws", Options{})
	a := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 1) { id } }`})
	b := env.mustSubscribe(t, &Request{Query: `subscription { employeeUpdated(id: 2) { id } }`})
	waitUntil(t, "the upstream subscriptions", func() bool { return env.feed.running() == 2 })
	a.s.Close()
	waitUntil(t, "one upstream subscription", func() bool { return env.feed.running() == 1 })
	if n := env.feed.sg.WebSocketConnectionsOpen(); n != 1 {
		t.Fatalf("%d sockets open, want 1", n)
	}
	b.s.Close()
	waitUntil(t, "the socket to close", func() bool { return env.feed.sg.WebSocketConnectionsOpen() == 0 })
	if n := env.engine.Groups(); n != 0 {
		t.Fatalf("%d groups left", n)
	}
}
