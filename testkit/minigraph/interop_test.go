package minigraph_test

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
)

// updater collects what graphql-go-tools' subscription client delivers.
type updater struct {
	mu       sync.Mutex
	updates  []string
	complete chan struct{}
	once     sync.Once
}

func (u *updater) Update(data []byte) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.updates = append(u.updates, string(data))
}
func (u *updater) UpdateSubscription(resolve.SubscriptionIdentifier, []byte) {}
func (u *updater) Complete()                                                 { u.once.Do(func() { close(u.complete) }) }
func (u *updater) Close(resolve.SubscriptionCloseKind)                       { u.Complete() }
func (u *updater) CloseSubscription(resolve.SubscriptionCloseKind, resolve.SubscriptionIdentifier) {
}
func (u *updater) Subscriptions() map[context.Context]resolve.SubscriptionIdentifier { return nil }

// The gateway forwards subgraph-served subscriptions with graphql-go-tools' client: the
// subgraph must speak all of its transports.
func TestInterop_GraphQLGoToolsSubscriptionClientOverEveryTransport(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	for name, opts := range map[string]graphql_datasource.GraphQLSubscriptionOptions{
		"sse get":              {UseSSE: true},
		"sse post":             {UseSSE: true, SSEMethodPost: true},
		"graphql-transport-ws": {WsSubProtocol: "graphql-transport-ws", URL: "ws"},
		"graphql-ws":           {WsSubProtocol: "graphql-ws", URL: "ws"},
	} {
		t.Run(name, func(t *testing.T) {
			sg.ResetRequests()
			engineCtx, stopEngine := context.WithCancel(context.Background())
			defer stopEngine()
			client := graphql_datasource.NewGraphQLSubscriptionClient(http.DefaultClient, http.DefaultClient, engineCtx,
				graphql_datasource.WithNetPollConfiguration(graphql_datasource.NetPollConfiguration{Enable: false}))
			if opts.URL == "ws" {
				opts.URL = "ws" + srv.URL[len("http"):]
				opts.InitialPayload = json.RawMessage(`{"token":"t"}`)
			} else {
				opts.URL = srv.URL
			}
			opts.Header = http.Header{"X-Tenant": {"acme"}}
			opts.Body = graphql_datasource.GraphQLBody{
				Query:     `subscription ($to: Int!) { count(to: $to) { id } }`,
				Variables: json.RawMessage(`{"to":2}`),
			}
			u := &updater{complete: make(chan struct{})}
			reqCtx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if err := client.Subscribe(resolve.NewContext(reqCtx), opts, u); err != nil {
				t.Fatalf("subscribe: %v", err)
			}
			select {
			case <-u.complete:
			case <-time.After(5 * time.Second):
				t.Fatal("no complete in 5s")
			}
			u.mu.Lock()
			got := u.updates
			u.mu.Unlock()
			want := []string{`{"data":{"count":{"id":1}}}`, `{"data":{"count":{"id":2}}}`}
			if len(got) != 2 || got[0] != want[0] || got[1] != want[1] {
				t.Fatalf("updates %q, want %q", got, want)
			}
			if reqs := sg.Requests(); len(reqs) != 1 || reqs[0].Headers.Get("X-Tenant") != "acme" {
				t.Fatalf("recorded %+v", reqs)
			}
			cancel()
			stopEngine()
			waitFor(t, func() bool { return sg.WebSocketConnectionsOpen() == 0 })
		})
	}
}
