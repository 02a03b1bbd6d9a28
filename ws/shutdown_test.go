package ws

import (
	"context"
	"testing"
	"time"
)

// The default shutdown moves subscriptions instead of ending them: each connection gets
// what is queued for it, then close 1012 (Service Restart) and no complete messages, which
// graphql-ws clients answer by reconnecting and subscribing again.
func TestHandler_ShutdownWithReconnectClosesWith1012AndNoComplete(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			modern := s.initTransport(t)
			modern.send(subscribe("a", "subscription { a }"))
			legacy := s.initLegacy(t)
			legacy.send(start("c", "subscription { c }"))
			var streams []*fakeSub
			for range 2 {
				streams = append(streams, s.exec.nextSub(t))
			}
			notInit := s.dial(t, ProtocolTransportWS)
			for _, fs := range streams {
				if fs.req.Query == "subscription { a }" {
					fs.push(t, `{"data":{"last":true}}`)
				}
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				s.h.Shutdown(ctx, ShutdownOptions{})
			}()

			if msg := modern.expect("next"); msg.ID != "a" {
				t.Errorf("queued next for %q, want a", msg.ID)
			}
			modern.expectClose(1012, "service restart")
			legacy.expectClose(1012, "service restart")
			notInit.expectClose(1012, "")
			select {
			case <-done:
			case <-time.After(wait):
				t.Fatal("Shutdown did not return")
			}
			for _, fs := range streams {
				fs.waitClosed(t)
			}
			if got := s.h.Connections(); got != 0 {
				t.Fatalf("Connections() = %d after Shutdown", got)
			}
		})
	}
}

// Shutdown spreads the closes over its window.
func TestHandler_ShutdownSpreadsClosesOverTheWindow(t *testing.T) {
	s := newServer(t, Options{})
	const n, window = 3, 300 * time.Millisecond
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = s.initTransport(t)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	done := make(chan struct{})
	go func() {
		defer close(done)
		s.h.Shutdown(ctx, ShutdownOptions{Window: window})
	}()
	for _, cl := range clients {
		cl.expectClose(1012, "")
	}
	<-done
	if took := time.Since(start); took < window {
		t.Errorf("every connection closed after %v, before the window of %v", took, window)
	}
	eventually(t, "every connection is gone", func() bool { return s.h.Connections() == 0 })
}
