package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

// feedSDL is a subgraph that serves subscriptions itself; Employee's other fields come from
// the employees subgraph through _entities.
const feedSDL = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

type Query { feedVersion: String }

type Subscription {
  employeeUpdated(id: Int!): Employee!
}

type Employee @key(fields: "id", resolvable: false) { id: Int! }
`

// feedSubgraph serves feedSDL. send delivers an update to the employeeUpdated
// subscriptions for an id; while down is set every request is refused with 503 (and
// counted in refused).
type feedSubgraph struct {
	sg      *minigraph.Subgraph
	srv     *httptest.Server
	down    atomic.Bool
	refused atomic.Int64

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
		},
	}
	handler := f.sg.Handler()
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if f.down.Load() {
			f.refused.Add(1)
			http.Error(w, "restarting", http.StatusServiceUnavailable)
			return
		}
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(f.srv.Close)
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

type upstreamGateway struct {
	*Gateway
	feed      *feedSubgraph
	employees *minigraph.Subgraph
}

// startUpstreamGateway runs a gateway over the employees subgraph and the feed subgraph,
// whose `subscription:` section is subscriptionYAML (indented for the subgraph entry;
// "$URL" and "$WSURL" stand for the feed server's http:// and ws:// URLs).
func startUpstreamGateway(t *testing.T, subscriptionYAML string) *upstreamGateway {
	t.Helper()
	employees := demo.Employees()
	es := httptest.NewServer(employees.Handler())
	t.Cleanup(es.Close)
	feed := newFeedSubgraph(t)

	dir := t.TempDir()
	for name, content := range map[string]string{"employees.graphql": employees.SDL, "feed.graphql": feedSDL} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgText := fmt.Sprintf(`listen_addr: 127.0.0.1:0
subgraphs:
  - name: employees
    routing_url: %s
    schema: { file: employees.graphql }
  - name: feed
    routing_url: %s
    schema: { file: feed.graphql }
    subscription:
%s
headers:
  all: { request: [ { op: propagate, named: Authorization } ] }
sse: { heartbeat_interval: 1s }
`, es.URL, feed.srv.URL, strings.NewReplacer("$WSURL", "ws"+strings.TrimPrefix(feed.srv.URL, "http"), "$URL", feed.srv.URL).Replace(subscriptionYAML))
	path := filepath.Join(dir, "edgate.yaml")
	cfg, err := config.Parse(path, []byte(cfgText))
	if err != nil {
		t.Fatalf("config: %v\n%s", err, cfgText)
	}
	gw := serveGateway(t, cfg, zerolog.Nop())
	return &upstreamGateway{Gateway: gw, feed: feed, employees: employees}
}

// wsClient is a graphql-transport-ws client of the gateway.
type wsClient struct {
	conn *websocket.Conn
	msgs chan wsFrame
}

type wsFrame struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func dialGatewayWS(t *testing.T, url string, header http.Header, initPayload string) *wsClient {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	conn, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPHeader: header, Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		cancel()
		t.Fatalf("dial gateway: %v", err)
	}
	c := &wsClient{conn: conn, msgs: make(chan wsFrame, 256)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer close(c.msgs)
		for {
			_, data, err := conn.Read(ctx)
			if err != nil {
				return
			}
			var f wsFrame
			if json.Unmarshal(data, &f) != nil {
				continue
			}
			if f.Type == "ping" {
				_ = conn.Write(ctx, websocket.MessageText, []byte(`{"type":"pong"}`))
				continue
			}
			c.msgs <- f
		}
	}()
	t.Cleanup(func() {
		cancel()
		_ = conn.CloseNow()
		<-done
	})
	init := wsFrame{Type: "connection_init"}
	if initPayload != "" {
		init.Payload = json.RawMessage(initPayload)
	}
	c.send(t, init)
	if f := c.read(t); f.Type != "connection_ack" {
		t.Fatalf("got %+v, want connection_ack", f)
	}
	return c
}

func (c *wsClient) send(t *testing.T, f wsFrame) {
	t.Helper()
	data, _ := json.Marshal(f)
	if err := c.conn.Write(context.Background(), websocket.MessageText, data); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) subscribe(t *testing.T, id, query string) {
	t.Helper()
	payload, _ := json.Marshal(map[string]string{"query": query})
	c.send(t, wsFrame{ID: id, Type: "subscribe", Payload: payload})
}

func (c *wsClient) read(t *testing.T) wsFrame {
	t.Helper()
	select {
	case f, ok := <-c.msgs:
		if !ok {
			t.Fatal("gateway closed the WebSocket")
		}
		return f
	case <-time.After(10 * time.Second):
		t.Fatal("no WebSocket message within 10s")
	}
	return wsFrame{}
}

// next returns the payload of the next frame, which must be a `next` for id.
func (c *wsClient) next(t *testing.T, id string) string {
	t.Helper()
	f := c.read(t)
	if f.Type != "next" || f.ID != id {
		t.Fatalf("got %s %s %s, want next for %s", f.Type, f.ID, f.Payload, id)
	}
	return string(f.Payload)
}

var upstreamConfigs = []struct{ name, yaml string }{
	{"ws graphql-transport-ws", "      url: $WSURL\n      protocol: ws\n      websocket_subprotocol: graphql-transport-ws"},
	{"ws graphql-ws", "      url: $WSURL\n      protocol: ws\n      websocket_subprotocol: graphql-ws"},
	{"ws auto", "      url: $WSURL"},
	{"sse", "      url: $URL\n      protocol: sse"},
	{"sse_post", "      url: $URL\n      protocol: sse_post"},
}

func TestGatewayUpstream_SSEAndWebSocketClientsGetSubgraphEventsWithEntityFields(t *testing.T) {
	for _, c := range upstreamConfigs {
		t.Run(c.name, func(t *testing.T) {
			g := startUpstreamGateway(t, c.yaml)
			query := `subscription { employeeUpdated(id: 2) { id name role } }`
			sse := subscribeSSE(t, g.URL(), query, "")
			ws := dialGatewayWS(t, g.URL(), nil, "")
			ws.subscribe(t, "s1", query)
			eventually(t, "both clients on one upstream subscription", func() bool {
				return g.feed.running() == 1 && g.Engine().Stats().Subscribers.Load() == 2
			})
			g.feed.send(2)
			want := `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan","role":"Backend Engineer"}}}`
			if got := sse.next(t); got != want {
				t.Fatalf("sse got %s, want %s", got, want)
			}
			if got := ws.next(t, "s1"); got != want {
				t.Fatalf("ws got %s, want %s", got, want)
			}
			if n := g.employees.CountEntitiesRequests(); n != 1 {
				t.Fatalf("%d _entities requests for one event, want 1", n)
			}
		})
	}
}

func TestGatewayUpstream_TenClientsWithOneAuthorizationShareOneUpstreamSocket(t *testing.T) {
	g := startUpstreamGateway(t, "      url: $WSURL\n      protocol: ws\n      websocket_subprotocol: graphql-transport-ws")
	var clients []*wsClient
	for i := 0; i < 10; i++ {
		c := dialGatewayWS(t, g.URL(), http.Header{"Authorization": {"Bearer alice"}}, `{"token":"alice"}`)
		// Ten different operations: different arguments and selections.
		c.subscribe(t, "s", fmt.Sprintf(`subscription { e%d: employeeUpdated(id: %d) { id %s } }`, i, i%5+1, []string{"name", "role"}[i%2]))
		clients = append(clients, c)
	}
	eventually(t, "10 upstream subscriptions", func() bool { return g.feed.running() == 10 })
	if n := g.feed.sg.WebSocketConnectionsOpened(); n != 1 {
		t.Fatalf("10 clients with one Authorization: %d upstream sockets, want 1", n)
	}
	bob := dialGatewayWS(t, g.URL(), http.Header{"Authorization": {"Bearer bob"}}, `{"token":"bob"}`)
	bob.subscribe(t, "s", `subscription { employeeUpdated(id: 1) { id name } }`)
	eventually(t, "11 upstream subscriptions", func() bool { return g.feed.running() == 11 })
	if n := g.feed.sg.WebSocketConnectionsOpened(); n != 2 {
		t.Fatalf("another Authorization: %d upstream sockets in total, want 2", n)
	}

	g.feed.send(1)
	if got, want := clients[0].next(t, "s"), `{"data":{"e0":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got, want := clients[5].next(t, "s"), `{"data":{"e5":{"id":1,"role":"Engineering Manager"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got, want := bob.next(t, "s"), `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}

	// The subgraph saw the forwarded Authorization on each upgrade and the clients' init
	// payloads as its connection_init payloads.
	headers, payloads := g.feed.sg.UpgradeHeaders(), g.feed.sg.InitPayloads()
	if len(headers) != 2 || len(payloads) != 2 {
		t.Fatalf("%d upgrades and %d init payloads, want 2 each", len(headers), len(payloads))
	}
	for i, who := range []string{"alice", "bob"} {
		if got := headers[i].Get("Authorization"); got != "Bearer "+who {
			t.Fatalf("upgrade %d Authorization %q, want Bearer %s", i, got, who)
		}
		if got := payloads[i]["token"]; got != who {
			t.Fatalf("init payload %d token %v, want %s", i, got, who)
		}
	}
}

func TestGatewayUpstream_DroppedSocketWithoutRetryErrorsAndKeepsTheClientConnection(t *testing.T) {
	g := startUpstreamGateway(t, "      url: $WSURL\n      protocol: ws\n      websocket_subprotocol: graphql-transport-ws")
	ws := dialGatewayWS(t, g.URL(), nil, "")
	ws.subscribe(t, "s1", `subscription { employeeUpdated(id: 1) { id } }`)
	sse := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 2) { id } }`, "")
	eventually(t, "upstream subscriptions", func() bool { return g.feed.running() == 2 })
	g.feed.sg.DropConnections()

	if got := ws.next(t, "s1"); !strings.Contains(got, `subscription from subgraph \"feed\" failed`) {
		t.Fatalf("ws got %s, want the upstream failure", got)
	}
	if f := ws.read(t); f.Type != "error" || f.ID != "s1" || !strings.Contains(string(f.Payload), "UPSTREAM_ERROR") {
		t.Fatalf("ws got %s %s %s, want error for s1 with code UPSTREAM_ERROR", f.Type, f.ID, f.Payload)
	}
	if got := sse.next(t); !strings.Contains(got, `subscription from subgraph \"feed\" failed`) {
		t.Fatalf("sse got %s, want the upstream failure", got)
	}

	// The dropped subscriptions leave the feed's list from a goroutine of their own
	// (context.AfterFunc): until they have, "one running" could be a dead one, and the
	// event below would go to it instead of the new subscription (seen under -race load).
	eventually(t, "the dropped subscriptions gone", func() bool { return g.feed.running() == 0 })

	// The client's connection is still usable.
	ws.subscribe(t, "s2", `subscription { employeeUpdated(id: 1) { id } }`)
	eventually(t, "the new upstream subscription", func() bool { return g.feed.running() == 1 })
	g.feed.send(1)
	if got := ws.next(t, "s2"); got != `{"data":{"employeeUpdated":{"id":1}}}` {
		t.Fatalf("ws got %s after resubscribing", got)
	}
}

// The resolve package runs the retry over every protocol; here one WebSocket and one SSE
// upstream show it end to end.
func TestGatewayUpstream_RetryResumesEventsAfterTheSubgraphIsBack(t *testing.T) {
	for _, c := range []struct{ name, yaml string }{upstreamConfigs[0], upstreamConfigs[4]} {
		t.Run(c.name, func(t *testing.T) {
			g := startUpstreamGateway(t, c.yaml+"\n      retry: { enabled: true, max_attempts: 100, interval: 10ms, max_duration: 50ms }")
			ws := dialGatewayWS(t, g.URL(), nil, "")
			ws.subscribe(t, "s1", `subscription { employeeUpdated(id: 1) { id name } }`)
			sse := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 2) { id name } }`, "")
			eventually(t, "upstream subscriptions", func() bool { return g.feed.running() == 2 })

			g.feed.down.Store(true)
			g.feed.sg.DropConnections()
			if got := ws.next(t, "s1"); !strings.Contains(got, "re-subscribing") {
				t.Fatalf("ws got %s, want the upstream failure", got)
			}
			if got := sse.next(t); !strings.Contains(got, "re-subscribing") {
				t.Fatalf("sse got %s, want the upstream failure", got)
			}
			// Some attempts are refused, and the dropped subscriptions have left the feed's
			// list (asynchronously), so "two running" below can only be the new ones.
			eventually(t, "refused attempts", func() bool { return g.feed.refused.Load() >= 2 })
			eventually(t, "the dropped subscriptions gone", func() bool { return g.feed.running() == 0 })
			g.feed.down.Store(false)
			eventually(t, "the re-subscriptions", func() bool { return g.feed.running() == 2 })
			g.feed.send(1)
			g.feed.send(2)
			if got, want := ws.next(t, "s1"), `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`; got != want {
				t.Fatalf("ws got %s, want %s", got, want)
			}
			if got, want := sse.next(t), `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan"}}}`; got != want {
				t.Fatalf("sse got %s, want %s", got, want)
			}
		})
	}
}
