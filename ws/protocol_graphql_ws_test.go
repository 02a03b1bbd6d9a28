package ws

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
)

func TestGraphQLWS_InitAckAndKeepAlive(t *testing.T) {
	s := newServer(t, Options{PingInterval: 50 * time.Millisecond})
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.sendRaw(`{"type":"connection_init","payload":{"authToken":"abc"}}`)
	cl.expect("connection_ack")
	// One ka right after the ack, then one per interval.
	for range 3 {
		if m := cl.read(); m.Type != "ka" {
			t.Fatalf("got %q, want ka", m.Type)
		}
	}
}

func TestGraphQLWS_NoKeepAliveWhenIntervalNegative(t *testing.T) {
	s := newServer(t, Options{PingInterval: -1})
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.sendRaw(`{"type":"connection_init"}`)
	cl.expect("connection_ack")
	select {
	case m := <-cl.msgs:
		t.Fatalf("got %q with keep-alive off", m.Type)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestGraphQLWS_SubscriptionDataThenComplete(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			cl := s.dial(t, ProtocolGraphQLWS)
			cl.sendRaw(`{"type":"connection_init","payload":{"authToken":"abc"}}`)
			cl.expect("connection_ack")
			cl.send(start("1", "subscription { a }"))
			fs := s.exec.nextSub(t)
			assertJSON(t, fs.req.InitPayload, `{"authToken":"abc"}`)
			fs.push(t, `{"data":{"a":1}}`)
			d := cl.expect("data")
			if d.ID != "1" {
				t.Fatalf("data for %q, want 1", d.ID)
			}
			assertJSON(t, d.Payload, `{"data":{"a":1}}`)
			fs.stream.Finish(resolve.End{})
			if c := cl.expect("complete"); c.ID != "1" {
				t.Fatalf("complete for %q, want 1", c.ID)
			}
			fs.waitClosed(t)
		})
	}
}

func TestGraphQLWS_QueryDataThenComplete(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.send(start("q", "{ a }"))
	assertJSON(t, cl.expect("data").Payload, `{"data":{"kind":"query"}}`)
	cl.expect("complete")
}

func TestGraphQLWS_StopClosesStreamWithoutComplete(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.send(start("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	cl.sendRaw(`{"id":"1","type":"stop"}`)
	fs.waitClosed(t)
	cl.expectNothing(50 * time.Millisecond)
}

func TestGraphQLWS_RequestErrorAndStreamErrorSendError(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.send(start("bad", "subscription { invalid }"))
	m := cl.expect("error")
	if m.ID != "bad" {
		t.Fatalf("error for %q, want bad", m.ID)
	}
	assertJSON(t, m.Payload, `[{"message":"Cannot query field \"invalid\" on type \"Subscription\"."}]`)

	cl.send(start("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	fs.stream.Finish(resolve.End{Code: resolve.EndShutdown, Reason: "server shutting down"})
	m = cl.expect("error")
	assertJSON(t, m.Payload, `[{"message":"server shutting down","extensions":{"code":"SHUTDOWN"}}]`)
}

func TestGraphQLWS_DuplicateStartReplacesOperation(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.send(start("1", "subscription { a }"))
	first := s.exec.nextSub(t)
	cl.send(start("1", "subscription { b }"))
	second := s.exec.nextSub(t)
	first.waitClosed(t)
	second.push(t, `{"data":{"b":1}}`)
	assertJSON(t, cl.expect("data").Payload, `{"data":{"b":1}}`)
}

func TestGraphQLWS_StartBeforeInitIsAnError(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.send(start("1", "subscription { a }"))
	if m := cl.expect("error"); m.ID != "1" {
		t.Fatalf("error for %q, want 1", m.ID)
	}
}

func TestGraphQLWS_ConnectionTerminateCloses(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.send(start("1", "subscription { a }"))
	fs := s.exec.nextSub(t)
	cl.sendRaw(`{"type":"connection_terminate"}`)
	cl.expectClose(1000, "")
	fs.waitClosed(t)
}

func TestGraphQLWS_AuthenticateRejectionSendsConnectionErrorAndCloses4403(t *testing.T) {
	s := newServer(t, Options{Authenticate: func(context.Context, http.Header, json.RawMessage) error {
		return errors.New("no token")
	}})
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.sendRaw(`{"type":"connection_init","payload":{}}`)
	assertJSON(t, cl.expect("connection_error").Payload, `{"message":"Forbidden"}`)
	cl.expectClose(4403, "Forbidden")
}

func TestGraphQLWS_InvalidMessagesKeepConnection(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initLegacy(t)
	cl.sendRaw(`not json`)
	cl.expect("connection_error")
	cl.sendRaw(`{"id":"1","type":"subscribe"}`)
	if m := cl.expect("error"); m.ID != "1" {
		t.Fatalf("error for %q, want 1", m.ID)
	}
	cl.send(start("2", "{ a }"))
	cl.expect("data")
	cl.expect("complete")
}

func TestGraphQLWS_OversizeMessageCloses1009(t *testing.T) {
	s := newServer(t, Options{MaxMessageBytes: 512})
	cl := s.initLegacy(t)
	cl.send(start("1", "subscription { a } #"+strings.Repeat("x", 1000)))
	cl.expectClose(1009, "Message too large")
}

func TestGraphQLWS_InitTimeoutCloses4408(t *testing.T) {
	s := newServer(t, Options{InitTimeout: 50 * time.Millisecond})
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.expectClose(4408, "Connection initialisation timeout")
}

func TestGraphQLWS_SubscriptionLimitSendsError(t *testing.T) {
	s := newServer(t, Options{MaxSubscriptionsPerConnection: 1})
	cl := s.initLegacy(t)
	cl.send(start("1", "subscription { a }"))
	s.exec.nextSub(t)
	cl.send(start("2", "subscription { a }"))
	m := cl.expect("error")
	if m.ID != "2" {
		t.Fatalf("error for %q, want 2", m.ID)
	}
	assertJSON(t, m.Payload, `[{"message":"too many operations on this connection: the limit is 1"}]`)
}
