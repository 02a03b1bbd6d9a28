package upstream_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/edgate/edgate/resolve/internal/upstream"
	"github.com/edgate/edgate/testkit/minigraph"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const feedSDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { hello: String }
type Subscription {
  ticks(name: String!): String!
  count(to: Int!): Int!
}
`

// feed is a subgraph whose ticks subscriptions receive what the test sends.
type feed struct {
	sg  *minigraph.Subgraph
	srv *httptest.Server

	mu   sync.Mutex
	subs map[chan any]string
}

func newFeed(t *testing.T) *feed {
	t.Helper()
	f := &feed{subs: map[chan any]string{}}
	f.sg = &minigraph.Subgraph{
		Name: "feed",
		SDL:  feedSDL,
		Subscription: map[string]func(ctx context.Context, args map[string]any, headers http.Header) (<-chan any, error){
			"ticks": func(ctx context.Context, args map[string]any, _ http.Header) (<-chan any, error) {
				ch := make(chan any, 16)
				f.mu.Lock()
				f.subs[ch] = args["name"].(string)
				f.mu.Unlock()
				context.AfterFunc(ctx, func() {
					f.mu.Lock()
					delete(f.subs, ch)
					f.mu.Unlock()
				})
				return ch, nil
			},
			"count": func(ctx context.Context, args map[string]any, _ http.Header) (<-chan any, error) {
				ch := make(chan any)
				go func() {
					defer close(ch)
					for i := 1; i <= args["to"].(int); i++ {
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
	f.srv = httptest.NewServer(f.sg.Handler())
	t.Cleanup(f.srv.Close)
	return f
}

// send delivers "<name>:<v>" to every running ticks subscription.
func (f *feed) send(v string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for ch, name := range f.subs {
		select {
		case ch <- name + ":" + v:
		default:
		}
	}
}

func (f *feed) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.subs)
}

// recorder is a Handler that records what it gets.
type recorder struct {
	next chan string
	done chan error
}

func newRecorder() *recorder {
	return &recorder{next: make(chan string, 64), done: make(chan error, 1)}
}

func (r *recorder) handler() upstream.Handler {
	return upstream.Handler{
		Next: func(p []byte) { r.next <- string(p) },
		Done: func(err error) { r.done <- err },
	}
}

func (r *recorder) expectNext(t *testing.T, want string) {
	t.Helper()
	select {
	case got := <-r.next:
		if got != want {
			t.Fatalf("next: got %s, want %s", got, want)
		}
		return
	default:
	}
	select {
	case got := <-r.next:
		if got != want {
			t.Fatalf("next: got %s, want %s", got, want)
		}
	case err := <-r.done:
		select { // Next and Done go to different channels: Next may be ready as well
		case got := <-r.next:
			if got != want {
				t.Fatalf("next: got %s, want %s", got, want)
			}
			r.done <- err
			return
		default:
		}
		t.Fatalf("ended before %s: %v", want, err)
	case <-time.After(5 * time.Second):
		t.Fatalf("no %s within 5s", want)
	}
}

func (r *recorder) expectDone(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("not done within 5s")
		return nil
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func ticks(name string) upstream.Body {
	return upstream.Body{
		Query:     `subscription ($n: String!) { ticks(name: $n) }`,
		Variables: json.RawMessage(fmt.Sprintf(`{"n":%q}`, name)),
	}
}

func wsURL(srv *httptest.Server) string { return "ws" + strings.TrimPrefix(srv.URL, "http") }

func newClient(t *testing.T, opts upstream.Options) *upstream.Client {
	c := upstream.New(opts)
	t.Cleanup(c.Close)
	return c
}

func TestClient_EveryProtocolDeliversEventsAndCompletion(t *testing.T) {
	f := newFeed(t)
	c := newClient(t, upstream.Options{})
	for _, tc := range []struct{ protocol, subprotocol, transport string }{
		{upstream.ProtocolWS, upstream.SubprotocolGraphQLTransportWS, minigraph.TransportGraphQLTransportWS},
		{upstream.ProtocolWS, upstream.SubprotocolGraphQLWS, minigraph.TransportGraphQLWS},
		{upstream.ProtocolWS, upstream.SubprotocolAuto, minigraph.TransportGraphQLTransportWS},
		{upstream.ProtocolSSE, "", minigraph.TransportSSE},
		{upstream.ProtocolSSEPost, "", minigraph.TransportSSE},
	} {
		t.Run(tc.protocol+"/"+tc.subprotocol, func(t *testing.T) {
			f.sg.ResetRequests()
			rec := newRecorder()
			sub, err := c.Subscribe(context.Background(), upstream.Request{
				URL: f.srv.URL, Protocol: tc.protocol, Subprotocol: tc.subprotocol,
				Header: http.Header{"X-Tenant": {"acme"}},
				Body:   upstream.Body{Query: `subscription ($to: Int!) { count(to: $to) }`, Variables: json.RawMessage(`{"to":3}`)},
			}, rec.handler())
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Stop()
			for i := 1; i <= 3; i++ {
				rec.expectNext(t, fmt.Sprintf(`{"data":{"count":%d}}`, i))
			}
			if err := rec.expectDone(t); err != nil {
				t.Fatalf("done with %v, want completion", err)
			}
			reqs := f.sg.Requests()
			if len(reqs) != 1 || reqs[0].Transport != tc.transport || reqs[0].Headers.Get("X-Tenant") != "acme" {
				t.Fatalf("subgraph saw %+v", reqs)
			}
		})
	}
}

func TestClient_SharesOneSocketPerHeadersAndInitPayload(t *testing.T) {
	f := newFeed(t)
	c := newClient(t, upstream.Options{})
	req := func(auth, name string) upstream.Request {
		return upstream.Request{
			URL: wsURL(f.srv), Subprotocol: upstream.SubprotocolGraphQLTransportWS,
			Header:      http.Header{"Authorization": {auth}},
			InitPayload: json.RawMessage(`{"token":"` + auth + `"}`),
			Body:        ticks(name),
		}
	}
	var recs []*recorder
	var subs []*upstream.Subscription
	for i := 0; i < 10; i++ {
		rec := newRecorder()
		sub, err := c.Subscribe(context.Background(), req("Bearer a", fmt.Sprintf("a%d", i)), rec.handler())
		if err != nil {
			t.Fatal(err)
		}
		recs, subs = append(recs, rec), append(subs, sub)
	}
	if n := f.sg.WebSocketConnectionsOpened(); n != 1 {
		t.Fatalf("10 subscriptions with one Authorization opened %d sockets, want 1", n)
	}
	other := newRecorder()
	otherSub, err := c.Subscribe(context.Background(), req("Bearer b", "b"), other.handler())
	if err != nil {
		t.Fatal(err)
	}
	if n := f.sg.WebSocketConnectionsOpened(); n != 2 {
		t.Fatalf("another Authorization: %d sockets, want 2", n)
	}
	waitFor(t, "11 running subscriptions", func() bool { return f.running() == 11 })
	f.send("1")
	for i, rec := range recs {
		rec.expectNext(t, fmt.Sprintf(`{"data":{"ticks":"a%d:1"}}`, i))
	}
	other.expectNext(t, `{"data":{"ticks":"b:1"}}`)

	var auths, tokens []string
	for _, h := range f.sg.UpgradeHeaders() {
		auths = append(auths, h.Get("Authorization"))
	}
	for _, p := range f.sg.InitPayloads() {
		tokens = append(tokens, fmt.Sprint(p["token"]))
	}
	if got := strings.Join(auths, ","); got != "Bearer a,Bearer b" {
		t.Fatalf("upgrade Authorization headers %q", got)
	}
	if got := strings.Join(tokens, ","); got != "Bearer a,Bearer b" {
		t.Fatalf("init payload tokens %q", got)
	}

	// Stopping one subscription keeps the socket for the others; the last one closes it.
	subs[0].Stop()
	waitFor(t, "the stopped subscription to end upstream", func() bool { return f.running() == 10 })
	if n := f.sg.WebSocketConnectionsOpen(); n != 2 {
		t.Fatalf("%d sockets open after one stop, want 2", n)
	}
	for _, s := range subs[1:] {
		s.Stop()
	}
	otherSub.Stop()
	waitFor(t, "sockets to close", func() bool { return f.sg.WebSocketConnectionsOpen() == 0 })
	if n := c.OpenConnections(); n != 0 {
		t.Fatalf("client holds %d connections", n)
	}
}

func TestClient_DroppedSocketEndsItsSubscriptionsWithRetryableError(t *testing.T) {
	f := newFeed(t)
	c := newClient(t, upstream.Options{})
	for _, protocol := range []string{upstream.ProtocolWS, upstream.ProtocolSSE, upstream.ProtocolSSEPost} {
		t.Run(protocol, func(t *testing.T) {
			recs := []*recorder{newRecorder(), newRecorder()}
			for i, rec := range recs {
				sub, err := c.Subscribe(context.Background(), upstream.Request{URL: f.srv.URL, Protocol: protocol, Body: ticks(fmt.Sprint(i))}, rec.handler())
				if err != nil {
					t.Fatal(err)
				}
				defer sub.Stop()
			}
			waitFor(t, "running subscriptions", func() bool { return f.running() == 2 })
			f.sg.DropConnections()
			for _, rec := range recs {
				err := rec.expectDone(t)
				var ue *upstream.Error
				if !errors.As(err, &ue) || !ue.Retryable() {
					t.Fatalf("done with %v, want a retryable *upstream.Error", err)
				}
			}
			// A new subscription opens a new socket.
			rec := newRecorder()
			sub, err := c.Subscribe(context.Background(), upstream.Request{URL: f.srv.URL, Protocol: protocol, Body: ticks("again")}, rec.handler())
			if err != nil {
				t.Fatal(err)
			}
			defer sub.Stop()
			waitFor(t, "running subscription", func() bool { return f.running() == 1 })
			f.send("x")
			rec.expectNext(t, `{"data":{"ticks":"again:x"}}`)
		})
	}
}

func TestClient_RefusedUpgradeReportsTheStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no token", http.StatusUnauthorized)
	}))
	defer srv.Close()
	c := newClient(t, upstream.Options{})
	for _, protocol := range []string{upstream.ProtocolWS, upstream.ProtocolSSE, upstream.ProtocolSSEPost} {
		_, err := c.Subscribe(context.Background(), upstream.Request{URL: srv.URL, Protocol: protocol, Body: ticks("a")}, newRecorder().handler())
		var ue *upstream.Error
		if !errors.As(err, &ue) || ue.StatusCode != http.StatusUnauthorized || !ue.Retryable() {
			t.Fatalf("%s: got %v, want an *upstream.Error with status 401", protocol, err)
		}
	}
	if n := c.OpenConnections(); n != 0 {
		t.Fatalf("client holds %d connections after refusals", n)
	}
}

func TestClient_RejectedOperationIsNotRetryable(t *testing.T) {
	f := newFeed(t)
	c := newClient(t, upstream.Options{})
	rec := newRecorder()
	sub, err := c.Subscribe(context.Background(), upstream.Request{URL: f.srv.URL, Body: upstream.Body{Query: `subscription { nope }`}}, rec.handler())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	err = rec.expectDone(t)
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Retryable() || !strings.Contains(string(ue.GraphQLErrors), "nope") {
		t.Fatalf("got %v, want the subgraph's GraphQL errors", err)
	}
}

func TestClient_SocketWithoutPongCountsAsDead(t *testing.T) {
	// The subgraph acknowledges, then stops reading: pings go unanswered.
	var stalled atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			return
		}
		defer conn.CloseNow()
		if _, _, err := conn.Read(r.Context()); err != nil {
			return
		}
		_ = conn.Write(r.Context(), websocket.MessageText, []byte(`{"type":"connection_ack"}`))
		stalled.Add(1)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	c := newClient(t, upstream.Options{PingInterval: 20 * time.Millisecond, PingTimeout: 50 * time.Millisecond})
	rec := newRecorder()
	sub, err := c.Subscribe(context.Background(), upstream.Request{URL: srv.URL, Body: ticks("a")}, rec.handler())
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	err = rec.expectDone(t)
	if err == nil || !strings.Contains(err.Error(), "no pong") {
		t.Fatalf("done with %v, want a missing pong", err)
	}
	if n := c.OpenConnections(); n != 0 {
		t.Fatalf("client still holds the dead socket")
	}
}

func TestClient_CloseStopsEverything(t *testing.T) {
	f := newFeed(t)
	c := upstream.New(upstream.Options{})
	for _, protocol := range []string{upstream.ProtocolWS, upstream.ProtocolSSE} {
		if _, err := c.Subscribe(context.Background(), upstream.Request{URL: f.srv.URL, Protocol: protocol, Body: ticks("a")}, newRecorder().handler()); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if _, err := c.Subscribe(context.Background(), upstream.Request{URL: f.srv.URL, Body: ticks("a")}, newRecorder().handler()); !errors.Is(err, upstream.ErrClosed) {
		t.Fatalf("subscribe after close: %v", err)
	}
	waitFor(t, "upstream subscriptions to end", func() bool { return f.running() == 0 })
}

func TestClient_SSERequestErrorCarriesTheGraphQLErrors(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/graphql-response+json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"errors":[{"message":"Cannot query field \"nope\""}]}`))
	}))
	defer srv.Close()
	c := newClient(t, upstream.Options{})
	_, err := c.Subscribe(context.Background(), upstream.Request{URL: srv.URL, Protocol: upstream.ProtocolSSEPost, Body: upstream.Body{Query: `subscription { nope }`}}, newRecorder().handler())
	var ue *upstream.Error
	if !errors.As(err, &ue) || ue.Retryable() || ue.StatusCode != http.StatusBadRequest || !strings.Contains(ue.Error(), `Cannot query field "nope"`) {
		t.Fatalf("got %v, want a non-retryable error with the GraphQL errors", err)
	}
}
