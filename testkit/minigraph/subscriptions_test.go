package minigraph_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
)

type sseEvent struct{ event, data string }

// readSSE reads events until the stream ends.
func readSSE(t *testing.T, body io.Reader) ([]sseEvent, error) {
	t.Helper()
	var (
		out []sseEvent
		cur sseEvent
	)
	sc := bufio.NewScanner(body)
	for sc.Scan() {
		line := sc.Text()
		switch {
		case line == "":
			if cur != (sseEvent{}) {
				out = append(out, cur)
			}
			cur = sseEvent{}
		case strings.HasPrefix(line, "event:"):
			cur.event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:"):
			cur.data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	return out, sc.Err()
}

func TestSSE_DeliversProjectedValuesThenComplete(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	const q = `subscription ($to: Int!) { e: count(to: $to) { id who: name } }`
	get := func() (*http.Request, error) {
		v := url.Values{"query": {q}, "variables": {`{"to":2}`}}
		return http.NewRequest(http.MethodGet, srv.URL+"?"+v.Encode(), nil)
	}
	postReq := func() (*http.Request, error) {
		b, _ := json.Marshal(map[string]any{"query": q, "variables": map[string]any{"to": 2}})
		return http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(b))
	}
	for name, build := range map[string]func() (*http.Request, error){"GET": get, "POST": postReq} {
		t.Run(name, func(t *testing.T) {
			sg.ResetRequests()
			req, _ := build()
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("X-Tenant", "acme")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content type %q", ct)
			}
			events, err := readSSE(t, resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			want := []sseEvent{
				{"next", `{"data":{"e":{"id":1,"who":"E1"}}}`},
				{"next", `{"data":{"e":{"id":2,"who":"E2"}}}`},
				{"complete", ""},
			}
			if len(events) != len(want) {
				t.Fatalf("events %+v, want %+v", events, want)
			}
			for i := range want {
				if events[i] != want[i] {
					t.Fatalf("event %d = %+v, want %+v", i, events[i], want[i])
				}
			}
			reqs := sg.Requests()
			if len(reqs) != 1 || reqs[0].Transport != "sse" || reqs[0].Headers.Get("X-Tenant") != "acme" || reqs[0].Variables["to"] != 2 {
				t.Fatalf("recorded %+v", reqs)
			}
		})
	}
}

func TestSSE_InvalidSubscriptionSendsErrorsThenComplete(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	v := url.Values{"query": {`subscription { count { id } }`}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+v.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	events, _ := readSSE(t, resp.Body)
	if len(events) != 2 || !strings.Contains(events[0].data, `"errors"`) || events[1].event != "complete" {
		t.Fatalf("events %+v", events)
	}
}

type wsClient struct {
	t    *testing.T
	conn *websocket.Conn
}

func dialWS(t *testing.T, srvURL, subprotocol string, header http.Header) *wsClient {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, resp, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(srvURL, "http"), &websocket.DialOptions{
		Subprotocols: []string{subprotocol}, HTTPHeader: header,
	})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	if resp.Header.Get("Sec-WebSocket-Protocol") != subprotocol {
		t.Fatalf("negotiated %q", resp.Header.Get("Sec-WebSocket-Protocol"))
	}
	t.Cleanup(func() { _ = conn.CloseNow() })
	return &wsClient{t: t, conn: conn}
}

func (c *wsClient) send(msg string) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

func (c *wsClient) read() (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, data, err := c.conn.Read(ctx)
	return string(data), err
}

func (c *wsClient) expect(want string) {
	c.t.Helper()
	got, err := c.read()
	if err != nil {
		c.t.Fatalf("read: %v (want %s)", err, want)
	}
	if got != want {
		c.t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestWebSocket_GraphQLTransportWSDeliversValuesAndRecordsInit(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	c := dialWS(t, srv.URL, "graphql-transport-ws", http.Header{"Authorization": {"Bearer up"}})
	c.send(`{"type":"connection_init","payload":{"token":"abc"}}`)
	c.expect(`{"type":"connection_ack"}`)
	c.send(`{"type":"ping"}`)
	c.expect(`{"type":"pong"}`)
	c.send(`{"id":"1","type":"subscribe","payload":{"query":"subscription S($n: Int!) { count(to: $n) { __typename id } }","variables":{"n":2},"operationName":"S"}}`)
	c.expect(`{"id":"1","type":"next","payload":{"data":{"count":{"__typename":"Employee","id":1}}}}`)
	c.expect(`{"id":"1","type":"next","payload":{"data":{"count":{"__typename":"Employee","id":2}}}}`)
	c.expect(`{"id":"1","type":"complete"}`)
	c.send(`{"id":"2","type":"subscribe","payload":{"query":"{ employee(id: 2) { name } }"}}`)
	c.expect(`{"id":"2","type":"next","payload":{"data":{"employee":{"name":"Bob"}}}}`)
	c.expect(`{"id":"2","type":"complete"}`)
	c.send(`{"id":"3","type":"subscribe","payload":{"query":"subscription { nope { id } }"}}`)
	c.expect(`{"id":"3","type":"error","payload":[{"message":"Cannot query field \"nope\" on type \"Subscription\"."}]}`)

	if got := sg.InitPayloads(); len(got) != 1 || got[0]["token"] != "abc" {
		t.Fatalf("init payloads %v", got)
	}
	if got := sg.UpgradeHeaders(); len(got) != 1 || got[0].Get("Authorization") != "Bearer up" {
		t.Fatalf("upgrade headers %v", got)
	}
	reqs := sg.Requests()
	if len(reqs) != 3 || reqs[0].Transport != "graphql-transport-ws" || reqs[0].OperationName != "S" || reqs[0].Headers.Get("Authorization") != "Bearer up" {
		t.Fatalf("recorded %+v", reqs)
	}
}

func TestWebSocket_GraphQLTransportWSClientCompleteStopsResolver(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	c := dialWS(t, srv.URL, "graphql-transport-ws", nil)
	c.send(`{"type":"connection_init"}`)
	c.expect(`{"type":"connection_ack"}`)
	c.send(`{"id":"a","type":"subscribe","payload":{"query":"subscription { endless { id } }"}}`)
	c.expect(`{"id":"a","type":"next","payload":{"data":{"endless":{"id":1}}}}`)
	c.send(`{"id":"a","type":"subscribe","payload":{"query":"subscription { endless { id } }"}}`)
	if _, err := c.read(); websocket.CloseStatus(err) != 4409 {
		t.Fatalf("duplicate id: got %v, want close 4409", err)
	}
	waitFor(t, func() bool { return sg.ActiveSubscriptions() == 0 && sg.WebSocketConnectionsOpen() == 0 })
}

func TestWebSocket_GraphQLTransportWSSubscribeBeforeInitIsUnauthorized(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	c := dialWS(t, srv.URL, "graphql-transport-ws", nil)
	c.send(`{"id":"1","type":"subscribe","payload":{"query":"subscription { endless { id } }"}}`)
	if _, err := c.read(); websocket.CloseStatus(err) != 4401 {
		t.Fatalf("got %v, want close 4401", err)
	}
}

func TestWebSocket_GraphQLWSDeliversValuesAndStops(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	c := dialWS(t, srv.URL, "graphql-ws", http.Header{"X-Trace": {"t1"}})
	c.send(`{"type":"connection_init","payload":{"Authorization":"Bearer legacy"}}`)
	c.expect(`{"type":"connection_ack"}`)
	c.send(`{"id":"1","type":"start","payload":{"query":"subscription { count(to: 1) { name } }"}}`)
	c.expect(`{"id":"1","type":"data","payload":{"data":{"count":{"name":"E1"}}}}`)
	c.expect(`{"id":"1","type":"complete"}`)
	c.send(`{"id":"2","type":"start","payload":{"query":"subscription { endless { id } }"}}`)
	c.expect(`{"id":"2","type":"data","payload":{"data":{"endless":{"id":1}}}}`)
	c.send(`{"id":"2","type":"stop"}`)
	c.expect(`{"id":"2","type":"complete"}`)
	waitFor(t, func() bool { return sg.ActiveSubscriptions() == 0 })

	if got := sg.InitPayloads(); len(got) != 1 || got[0]["Authorization"] != "Bearer legacy" {
		t.Fatalf("init payloads %v", got)
	}
	reqs := sg.Requests()
	if len(reqs) != 2 || reqs[1].Transport != "graphql-ws" || reqs[1].Headers.Get("X-Trace") != "t1" {
		t.Fatalf("recorded %+v", reqs)
	}
	c.send(`{"type":"connection_terminate"}`)
	if _, err := c.read(); websocket.CloseStatus(err) != websocket.StatusNormalClosure {
		t.Fatalf("after terminate: %v", err)
	}
}

func TestSubgraph_DropConnectionsClosesSocketsAbruptly(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	var clients []*wsClient
	for _, proto := range []string{"graphql-transport-ws", "graphql-ws"} {
		c := dialWS(t, srv.URL, proto, nil)
		c.send(`{"type":"connection_init"}`)
		c.expect(`{"type":"connection_ack"}`)
		start := map[string]string{"graphql-transport-ws": "subscribe", "graphql-ws": "start"}[proto]
		c.send(`{"id":"1","type":"` + start + `","payload":{"query":"subscription { endless { id } }"}}`)
		if _, err := c.read(); err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	v := url.Values{"query": {`subscription { endless { id } }`}}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"?"+v.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "event: next\n" {
		t.Fatalf("sse first line %q, %v", line, err)
	}
	if n := sg.WebSocketConnectionsOpen(); n != 2 {
		t.Fatalf("open connections = %d, want 2", n)
	}

	sg.DropConnections()

	for _, c := range clients {
		_, err := c.read()
		var ce websocket.CloseError
		if err == nil || errors.As(err, &ce) {
			t.Fatalf("read after drop: %v, want an abrupt close without close frame", err)
		}
	}
	if _, err := io.ReadAll(br); err == nil {
		t.Fatal("SSE stream ended cleanly, want an aborted response")
	}
	if open, opened := sg.WebSocketConnectionsOpen(), sg.WebSocketConnectionsOpened(); open != 0 || opened != 2 {
		t.Fatalf("open %d opened %d, want 0 and 2", open, opened)
	}
	waitFor(t, func() bool { return sg.ActiveSubscriptions() == 0 })
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestSSE_ClientDisconnectStopsResolver(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	v := url.Values{"query": {`subscription { endless { id } }`}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, srv.URL+"?"+v.Encode(), nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != "event: next\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	if n := sg.ActiveSubscriptions(); n != 1 {
		t.Fatalf("active subscriptions = %d, want 1", n)
	}
	cancel()
	waitFor(t, func() bool { return sg.ActiveSubscriptions() == 0 })
}
