package ws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgate/edgate/resolve"
)

func TestTransportWS_SubscriptionDeliversNextThenComplete(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			cl := s.initTransport(t)
			cl.send(subscribe("1", "subscription { employeeUpdated { id } }"))
			fs := s.exec.nextSub(t)
			fs.push(t, `{"data":{"employeeUpdated":{"id":1}}}`)
			got := cl.expect("next")
			if got.ID != "1" {
				t.Fatalf("next for id %q, want 1", got.ID)
			}
			assertJSON(t, got.Payload, `{"data":{"employeeUpdated":{"id":1}}}`)
			fs.stream.Finish(resolve.End{})
			if c := cl.expect("complete"); c.ID != "1" {
				t.Fatalf("complete for id %q, want 1", c.ID)
			}
			fs.waitClosed(t)
		})
	}
}

func TestTransportWS_InitPayloadAndHeadersReachExecutor(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.dialHeader(t, http.Header{"X-Tenant": {"acme"}}, ProtocolTransportWS)
	cl.sendRaw(`{"type":"connection_init","payload":{"token":"t1","Authorization":"Bearer from-init"}}`)
	cl.expect("connection_ack")
	cl.send(subscribe("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	assertJSON(t, fs.req.InitPayload, `{"token":"t1","Authorization":"Bearer from-init"}`)
	if got := fs.req.Header.Get("X-Tenant"); got != "acme" {
		t.Errorf("Header X-Tenant = %q, want acme", got)
	}
	if got := fs.req.Header.Get("Authorization"); got != "Bearer from-init" {
		t.Errorf("Header Authorization = %q, want the init payload's token", got)
	}
	if got := fs.req.Header.Get("Sec-Websocket-Key"); got != "" {
		t.Errorf("handshake header Sec-WebSocket-Key forwarded: %q", got)
	}
}

func TestTransportWS_InitPayloadAuthorizationForms(t *testing.T) {
	cases := []struct {
		name    string
		header  http.Header
		payload string
		want    string
	}{
		{"lower-case key", nil, `{"authorization":"Bearer lower"}`, "Bearer lower"},
		{"nested headers", nil, `{"headers":{"Authorization":"Bearer nested"}}`, "Bearer nested"},
		{"nested lower-case", nil, `{"headers":{"authorization":"Bearer nl"}}`, "Bearer nl"},
		{"not a string", nil, `{"Authorization":42}`, ""},
		{"upgrade header wins", http.Header{"Authorization": {"Bearer upgrade"}}, `{"Authorization":"Bearer init"}`, "Bearer upgrade"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			authHeader := make(chan string, 1)
			s := newServer(t, Options{Authenticate: func(_ context.Context, h http.Header, _ json.RawMessage) error {
				authHeader <- h.Get("Authorization")
				return nil
			}})
			cl := s.dialHeader(t, tc.header, ProtocolTransportWS)
			cl.sendRaw(`{"type":"connection_init","payload":` + tc.payload + `}`)
			cl.expect("connection_ack")
			cl.send(subscribe("1", "query { a }"))
			cl.expect("next")
			if got := s.exec.lastRequest(t).Header.Get("Authorization"); got != tc.want {
				t.Errorf("Request.Header Authorization = %q, want %q", got, tc.want)
			}
			if got := <-authHeader; got != tc.want {
				t.Errorf("Authenticate saw Authorization %q, want %q", got, tc.want)
			}
		})
	}
}

func TestTransportWS_QueryAndMutationSendNextThenComplete(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	for i, q := range []string{"query { a }", "{ a }", "mutation { b }"} {
		id := fmt.Sprint("q", i)
		cl.send(subscribe(id, q))
		next := cl.expect("next")
		kind := "query"
		if strings.HasPrefix(q, "mutation") {
			kind = "mutation"
		}
		if next.ID != id {
			t.Fatalf("next for %q, want %q", next.ID, id)
		}
		assertJSON(t, next.Payload, `{"data":{"kind":"`+kind+`"}}`)
		if c := cl.expect("complete"); c.ID != id {
			t.Fatalf("complete for %q, want %q", c.ID, id)
		}
	}
	// The id is free again once the query completed.
	cl.send(subscribe("q0", "{ a }"))
	cl.expect("next")
	cl.expect("complete")
}

func TestTransportWS_RequestErrorSendsErrorMessage(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("1", "subscription { invalid }"))
	m := cl.expect("error")
	if m.ID != "1" {
		t.Fatalf("error for id %q, want 1", m.ID)
	}
	assertJSON(t, m.Payload, `[{"message":"Cannot query field \"invalid\" on type \"Subscription\"."}]`)

	cl.send(subscribe("2", "subscription { boom }"))
	m = cl.expect("error")
	assertJSON(t, m.Payload, `[{"message":"internal server error"}]`)

	// The connection is still usable and the ids are free.
	cl.send(subscribe("1", "{ a }"))
	cl.expect("next")
	cl.expect("complete")
}

func TestTransportWS_InitTimeoutCloses4408(t *testing.T) {
	s := newServer(t, Options{InitTimeout: 100 * time.Millisecond})
	cl := s.dial(t, ProtocolTransportWS)
	cl.expectClose(4408, "Connection initialisation timeout")
}

func TestTransportWS_SecondInitCloses4429(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.sendRaw(`{"type":"connection_init"}`)
	cl.expectClose(4429, "Too many initialisation requests")
}

func TestTransportWS_SubscribeBeforeAckCloses4401(t *testing.T) {
	t.Run("no init", func(t *testing.T) {
		s := newServer(t, Options{})
		cl := s.dial(t, ProtocolTransportWS)
		cl.send(subscribe("1", "subscription { a }"))
		cl.expectClose(4401, "Unauthorized")
	})
	t.Run("while authenticating", func(t *testing.T) {
		release := make(chan struct{})
		s := newServer(t, Options{Authenticate: func(ctx context.Context, _ http.Header, _ json.RawMessage) error {
			<-release
			return nil
		}})
		defer close(release)
		cl := s.dial(t, ProtocolTransportWS)
		cl.sendRaw(`{"type":"connection_init"}`)
		cl.send(subscribe("1", "subscription { a }"))
		cl.expectClose(4401, "Unauthorized")
	})
}

func TestTransportWS_AuthenticateRejectionCloses4403(t *testing.T) {
	gotPayload := make(chan json.RawMessage, 1)
	s := newServer(t, Options{Authenticate: func(_ context.Context, _ http.Header, p json.RawMessage) error {
		gotPayload <- p
		return errors.New("token expired")
	}})
	cl := s.dial(t, ProtocolTransportWS)
	cl.sendRaw(`{"type":"connection_init","payload":{"token":"old"}}`)
	cl.expectClose(4403, "Forbidden")
	assertJSON(t, <-gotPayload, `{"token":"old"}`)
}

func TestTransportWS_DuplicateIDCloses4409(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("dup", "subscription { a }"))
	fs := s.exec.nextSub(t)
	cl.send(subscribe("dup", "subscription { a }"))
	cl.expectClose(4409, "Subscriber for dup already exists")
	fs.waitClosed(t)
}

func TestTransportWS_InvalidMessagesClose4400(t *testing.T) {
	cases := map[string]string{
		"not json":                `hello`,
		"no type":                 `{"id":"1"}`,
		"unknown type":            `{"type":"subscribe_all"}`,
		"next from client":        `{"id":"1","type":"next","payload":{}}`,
		"ack from client":         `{"type":"connection_ack"}`,
		"subscribe without id":    `{"type":"subscribe","payload":{"query":"{ a }"}}`,
		"subscribe without query": `{"id":"1","type":"subscribe","payload":{"variables":{}}}`,
		"init payload not object": `{"type":"connection_init","payload":"token"}`,
	}
	for name, msg := range cases {
		t.Run(name, func(t *testing.T) {
			s := newServer(t, Options{})
			cl := s.dial(t, ProtocolTransportWS)
			if !strings.Contains(name, "init") {
				cl.sendRaw(`{"type":"connection_init"}`)
				cl.expect("connection_ack")
			}
			cl.sendRaw(msg)
			cl.expectClose(4400, "")
		})
	}
}

func TestTransportWS_OversizeMessageCloses4400(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{MaxMessageBytes: 1024}, m)
			cl := s.initTransport(t)
			cl.send(subscribe("1", "subscription { a } #"+strings.Repeat("x", 2000)))
			cl.expectClose(4400, "Message too large")
		})
	}
}

func TestTransportWS_MessageAtLimitIsAccepted(t *testing.T) {
	s := newServer(t, Options{MaxMessageBytes: 1024})
	cl := s.initTransport(t)
	msg, _ := json.Marshal(subscribe("1", "{ a } #"))
	pad := 1024 - len(msg)
	msg, _ = json.Marshal(subscribe("1", "{ a } #"+strings.Repeat("x", pad)))
	if len(msg) != 1024 {
		t.Fatalf("test message is %d bytes", len(msg))
	}
	cl.sendRaw(string(msg))
	cl.expect("next")
	cl.expect("complete")
}

func TestTransportWS_FragmentedMessageIsAssembled(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	w, err := cl.c.Writer(ctx, websocket.MessageText)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := json.Marshal(subscribe("frag", "query { a }"))
	for i := 0; i < len(msg); i += 7 {
		if _, err := w.Write(msg[i:min(i+7, len(msg))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if m := cl.expect("next"); m.ID != "frag" {
		t.Fatalf("next for %q, want frag", m.ID)
	}
}

func TestTransportWS_PingPongBothWays(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond})
	cl := s.initTransport(t)

	cl.sendRaw(`{"type":"ping","payload":{"sent":123}}`)
	pong := cl.expect("pong")
	assertJSON(t, pong.Payload, `{"sent":123}`)

	cl.sendRaw(`{"type":"ping"}`)
	if pong := cl.expect("pong"); len(pong.Payload) != 0 {
		t.Fatalf("pong without ping payload carries %s", pong.Payload)
	}

	for range 2 {
		cl.expect("ping")
		cl.sendRaw(`{"type":"pong"}`)
	}

	// A WebSocket-level ping is answered too.
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.c.Ping(ctx); err != nil {
		t.Fatalf("websocket ping: %v", err)
	}
}

func TestTransportWS_NoPingsWhenIntervalNegative(t *testing.T) {
	s := newServer(t, Options{PingInterval: -1})
	cl := s.initTransport(t)
	select {
	case m := <-cl.msgs:
		t.Fatalf("got %q message from an idle connection", m.Type)
	case <-time.After(150 * time.Millisecond):
	}
}

func TestTransportWS_ManySubscriptionsCompleteIndependently(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			cl := s.initTransport(t)
			const n = 20
			subs := map[string]*fakeSub{}
			for i := range n {
				id := fmt.Sprint("s", i)
				cl.send(subscribe(id, "subscription { a } #"+id))
			}
			for range n {
				fs := s.exec.nextSub(t)
				subs[fs.req.Query[strings.Index(fs.req.Query, "#")+1:]] = fs
			}
			// Every subscription gets its own events.
			for id, fs := range subs {
				fs.push(t, `{"data":{"for":"`+id+`"}}`)
			}
			seen := map[string]bool{}
			for range n {
				m := cl.expect("next")
				assertJSON(t, m.Payload, `{"data":{"for":"`+m.ID+`"}}`)
				seen[m.ID] = true
			}
			if len(seen) != n {
				t.Fatalf("next for %d subscriptions, want %d", len(seen), n)
			}
			// The server ends s0..s4, the client completes s5..s9.
			for i := range 5 {
				subs[fmt.Sprint("s", i)].stream.Finish(resolve.End{})
			}
			completed := map[string]bool{}
			for range 5 {
				completed[cl.expect("complete").ID] = true
			}
			for i := 5; i < 10; i++ {
				cl.send(map[string]any{"id": fmt.Sprint("s", i), "type": "complete"})
			}
			for i := range 10 {
				id := fmt.Sprint("s", i)
				subs[id].waitClosed(t)
				if i < 5 && !completed[id] {
					t.Errorf("no complete for %s", id)
				}
			}
			// s10..s19 are untouched and still deliver.
			for i := 10; i < n; i++ {
				if subs[fmt.Sprint("s", i)].isClosed() {
					t.Fatalf("s%d was closed with the others", i)
				}
			}
			subs["s15"].push(t, `{"data":{"still":true}}`)
			if m := cl.expect("next"); m.ID != "s15" {
				t.Fatalf("next for %q, want s15", m.ID)
			}
			// No complete was sent for the client-completed ones.
			cl.expectNothing(50 * time.Millisecond)
		})
	}
}

func TestTransportWS_StreamEndWithCodeSendsError(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("a", "subscription { a }"))
	fa := s.exec.nextSub(t)
	cl.send(subscribe("b", "subscription { b }"))
	fb := s.exec.nextSub(t)

	fa.push(t, `{"data":{"n":1}}`)
	fa.stream.Finish(resolve.End{Code: resolve.EndSlowConsumer, Reason: "subscriber did not keep up"})
	if m := cl.expect("next"); m.ID != "a" {
		t.Fatalf("next for %q, want a", m.ID)
	}
	m := cl.expect("error")
	if m.ID != "a" {
		t.Fatalf("error for %q, want a", m.ID)
	}
	assertJSON(t, m.Payload, `[{"message":"subscriber did not keep up","extensions":{"code":"SLOW_CONSUMER"}}]`)
	fa.waitClosed(t)

	// The connection and the other subscription live on.
	fb.push(t, `{"data":{"n":2}}`)
	if m := cl.expect("next"); m.ID != "b" {
		t.Fatalf("next for %q, want b", m.ID)
	}
}

func TestTransportWS_SubscriptionLimitSendsError(t *testing.T) {
	s := newServer(t, Options{MaxSubscriptionsPerConnection: 2})
	cl := s.initTransport(t)
	cl.send(subscribe("1", "subscription { a }"))
	cl.send(subscribe("2", "subscription { a }"))
	s.exec.nextSub(t)
	s.exec.nextSub(t)
	cl.send(subscribe("3", "subscription { a }"))
	m := cl.expect("error")
	if m.ID != "3" {
		t.Fatalf("error for %q, want 3", m.ID)
	}
	assertJSON(t, m.Payload, `[{"message":"too many operations on this connection: the limit is 2"}]`)
	// Completing one frees a slot.
	cl.send(map[string]any{"id": "1", "type": "complete"})
	eventually(t, "the slot is freed", func() bool {
		cl.send(subscribe("4", "query { a }"))
		m := cl.read()
		if m.Type == "next" {
			cl.expect("complete")
			return true
		}
		return false
	})
}

func TestTransportWS_BurstOf1000MessagesArrivesInOrder(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			cl := s.initTransport(t)
			cl.send(subscribe("burst", "subscription { a }"))
			fs := s.exec.nextSub(t)
			const n = 1000
			for i := range n {
				fs.push(t, fmt.Sprintf(`{"data":{"seq":%d}}`, i))
			}
			for i := range n {
				m := cl.expect("next")
				var p struct {
					Data struct{ Seq int } `json:"data"`
				}
				if err := json.Unmarshal(m.Payload, &p); err != nil {
					t.Fatal(err)
				}
				if p.Data.Seq != i {
					t.Fatalf("message %d carries seq %d", i, p.Data.Seq)
				}
			}
		})
	}
}

func TestTransportWS_ClientCompleteClosesStream(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	cl.send(map[string]any{"id": "1", "type": "complete"})
	fs.waitClosed(t)
	cl.sendRaw(`{"type":"complete","id":"never-started"}`)
	cl.send(subscribe("1", "subscription { a }")) // the id is free again
	s.exec.nextSub(t)
	cl.expectNothing(50 * time.Millisecond)
}

func TestTransportWS_ClientDisconnectClosesStreams(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			cl := s.initTransport(t)
			cl.send(subscribe("1", "subscription { a }"))
			cl.send(subscribe("2", "subscription { b }"))
			f1, f2 := s.exec.nextSub(t), s.exec.nextSub(t)
			if got := s.h.Connections(); got != 1 {
				t.Fatalf("Connections() = %d, want 1", got)
			}
			_ = cl.c.CloseNow()
			f1.waitClosed(t)
			f2.waitClosed(t)
			eventually(t, "the connection is gone", func() bool { return s.h.Connections() == 0 })
		})
	}
}

func TestTransportWS_ClientCloseIsEchoed(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	if err := cl.c.Close(websocket.StatusNormalClosure, "bye"); err != nil {
		t.Fatalf("close handshake: %v", err)
	}
	fs.waitClosed(t)
	eventually(t, "the connection is gone", func() bool { return s.h.Connections() == 0 })
}
