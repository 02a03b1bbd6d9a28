package ws

import (
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"
)

// fakeClock is the rate limits' clock, moved by the test only.
type fakeClock struct{ t atomic.Int64 }

func (c *fakeClock) now() time.Duration      { return time.Duration(c.t.Load()) }
func (c *fakeClock) advance(d time.Duration) { c.t.Add(int64(d)) }

func newLimitedServer(t *testing.T, opts Options, m mode) (*server, *fakeClock) {
	s := newServer(t, opts, m)
	clock := &fakeClock{}
	s.h.now = clock.now // before any connection
	return s, clock
}

// rateLimited checks an error message for operation id that names limit.
func rateLimited(t *testing.T, m message, id, limit string, maximum int) {
	t.Helper()
	if m.Type != "error" || m.ID != id {
		t.Fatalf("got %q message for %q (payload %s), want an error for %q", m.Type, m.ID, m.Payload, id)
	}
	var errs []struct {
		Message    string
		Extensions struct {
			Code    string
			Limit   string
			Maximum int
		}
	}
	if err := json.Unmarshal(m.Payload, &errs); err != nil || len(errs) != 1 {
		t.Fatalf("error payload %s: %v", m.Payload, err)
	}
	e := errs[0].Extensions
	if e.Code != CodeRateLimited || e.Limit != limit || e.Maximum != maximum || errs[0].Message == "" {
		t.Fatalf("error %s, want code %s, limit %s, maximum %d", m.Payload, CodeRateLimited, limit, maximum)
	}
}

func TestRateLimit_MessagesOverTheRateGetAnErrorNotAClose(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name+"/"+ProtocolTransportWS, func(t *testing.T) {
			s, clock := newLimitedServer(t, Options{MessagesPerSecond: 2, MessageBurst: 3, SubscribesPerSecond: -1}, m)
			cl := s.initTransport(t) // 1 token
			cl.sendRaw(`{"type":"ping","payload":{"n":1}}`)
			assertJSON(t, cl.expect("pong").Payload, `{"n":1}`)
			cl.send(subscribe("1", "subscription { a }")) // the last token
			s.exec.nextSub(t)
			cl.send(subscribe("2", "subscription { a }"))
			rateLimited(t, cl.expect("error"), "2", "websocket.max_messages_per_second", 2)
			cl.sendRaw(`{"type":"ping","payload":{"n":2}}`) // over the rate: no pong
			// Messages are handled in order: once this one is refused, so was the ping.
			cl.send(subscribe("3", "subscription { a }"))
			rateLimited(t, cl.expect("error"), "3", "websocket.max_messages_per_second", 2)

			clock.advance(500 * time.Millisecond) // one token
			cl.sendRaw(`{"type":"ping","payload":{"n":3}}`)
			assertJSON(t, cl.expect("pong").Payload, `{"n":3}`) // not n:2
			clock.advance(time.Second)
			cl.send(subscribe("2", "subscription { a }")) // the refused id is free
			fs := s.exec.nextSub(t)
			fs.push(t, `{"data":{"a":1}}`)
			if got := cl.expect("next"); got.ID != "2" {
				t.Fatalf("next for %q, want 2", got.ID)
			}
		})
		t.Run(m.name+"/"+ProtocolGraphQLWS, func(t *testing.T) {
			s, clock := newLimitedServer(t, Options{MessagesPerSecond: 2, MessageBurst: 2, SubscribesPerSecond: -1}, m)
			cl := s.initLegacy(t)
			cl.send(start("1", "subscription { a }"))
			s.exec.nextSub(t)
			cl.send(start("2", "subscription { a }"))
			rateLimited(t, cl.expect("error"), "2", "websocket.max_messages_per_second", 2)
			cl.sendRaw(`{"type":"nonsense","id":"x"}`) // over the rate: dropped, no error
			cl.send(start("y", "subscription { a }"))
			rateLimited(t, cl.expect("error"), "y", "websocket.max_messages_per_second", 2)

			clock.advance(time.Second)
			cl.send(start("3", "subscription { a }"))
			fs := s.exec.nextSub(t)
			fs.push(t, `{"data":{"a":1}}`)
			if got := cl.expect("data"); got.ID != "3" {
				t.Fatalf("data for %q, want 3", got.ID)
			}
		})
	}
}

func TestRateLimit_SubscribeAttemptsOverTheRateGetAnError(t *testing.T) {
	for _, m := range modes {
		for _, proto := range []string{ProtocolTransportWS, ProtocolGraphQLWS} {
			t.Run(m.name+"/"+proto, func(t *testing.T) {
				s, clock := newLimitedServer(t, Options{MessagesPerSecond: -1, SubscribesPerSecond: 1, SubscribeBurst: 2}, m)
				op, stop := subscribe, "complete"
				cl := (*client)(nil)
				if proto == ProtocolTransportWS {
					cl = s.initTransport(t)
				} else {
					cl = s.initLegacy(t)
					op, stop = start, "stop"
				}
				cl.send(op("1", "subscription { a }"))
				first := s.exec.nextSub(t)
				cl.send(op("2", "query { a }"))
				cl.expect(map[string]string{ProtocolTransportWS: "next", ProtocolGraphQLWS: "data"}[proto])
				cl.expect("complete")
				cl.send(op("3", "subscription { a }"))
				rateLimited(t, cl.expect("error"), "3", "websocket.max_subscribes_per_second", 1)
				// Stopping is never refused: it only ends work.
				cl.send(map[string]any{"id": "1", "type": stop})
				first.waitClosed(t)

				clock.advance(time.Second)
				cl.send(op("3", "subscription { a }"))
				s.exec.nextSub(t)
				cl.send(op("4", "subscription { a }"))
				rateLimited(t, cl.expect("error"), "4", "websocket.max_subscribes_per_second", 1)
			})
		}
	}
}
