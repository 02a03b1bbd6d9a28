package sse_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"runtime"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/edgate/edgate/internal/httpserver"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/sse"
)

func TestSSE_FiftySubscriptionsShareOneHTTP2Connection(t *testing.T) {
	f := newFakeExecutor()
	h := sse.NewHandler(sse.Options{Executor: f, HeartbeatInterval: time.Minute, RetryInterval: -1})
	srv, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()

	// a prior-knowledge h2c client: one TCP connection carries every stream
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Protocols: &protocols}
	client := &http.Client{Transport: transport}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var (
		mu    sync.Mutex
		conns = map[string]bool{} // client-side address of every connection used
	)
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		mu.Lock()
		conns[info.Conn.LocalAddr().String()] = true
		mu.Unlock()
	}}

	const n = 50
	base := "http://" + srv.Addr().String() + "/graphql?query="
	responses := make([]*frames, n)
	for i := range n {
		query := url.QueryEscape(fmt.Sprintf("subscription { employeeUpdated(id: %d) { id } }", i))
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(ctx, trace), http.MethodGet, base+query, nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("subscription %d: %v", i, err)
		}
		defer resp.Body.Close()
		if resp.ProtoMajor != 2 {
			t.Fatalf("subscription %d used %s", i, resp.Proto)
		}
		checkSSEHeaders(t, resp)
		responses[i] = newFrames(resp)
	}

	// match subscriptions to requests by their query (headers are flushed before
	// Subscribe, so the order in which Subscribe runs is not the order of the requests)
	byQuery := map[string]*fakeSub{}
	for range n {
		s := f.next(t)
		byQuery[s.op.Request.Query] = s
	}
	subs := make([]*fakeSub, n)
	for i := range n {
		subs[i] = byQuery[fmt.Sprintf("subscription { employeeUpdated(id: %d) { id } }", i)]
		if subs[i] == nil {
			t.Fatalf("no subscription for request %d", i)
		}
	}
	for round := range 3 {
		for i, s := range subs {
			s.push(t, fmt.Sprint(round), fmt.Sprintf(`{"data":{"employeeUpdated":{"id":%d}}}`, i))
		}
		for i, fr := range responses {
			want := fmt.Sprintf("id: %d\nevent: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":%d}}}\n\n", round, i)
			if got := fr.next(t); got != want {
				t.Fatalf("stream %d round %d: %q", i, round, got)
			}
		}
	}
	mu.Lock()
	if len(conns) != 1 {
		t.Errorf("%d TCP connections were used, want 1: %v", len(conns), conns)
	}
	mu.Unlock()

	// graceful shutdown: streams complete, then the server stops
	h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
	for i, fr := range responses {
		if got := fr.next(t); got != "event: complete\ndata:\n\n" {
			t.Fatalf("stream %d: %q", i, got)
		}
	}
	for _, s := range subs {
		s.waitClosed(t)
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		t.Errorf("server shutdown: %v", err)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	transport.CloseIdleConnections()
}

// A client that cancels one HTTP/2 stream (RST_STREAM) unsubscribes it at once; the other
// streams of the connection go on, and idle streams hold no goroutine.
func TestSSE_HTTP2StreamResetUnsubscribesAtOnceWithoutGoroutines(t *testing.T) {
	f := newFakeExecutor()
	h := sse.NewHandler(sse.Options{Executor: f, HeartbeatInterval: time.Minute, RetryInterval: -1})
	srv, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-served
	}()
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	transport := &http.Transport{Protocols: &protocols}
	defer transport.CloseIdleConnections()
	client := &http.Client{Transport: transport}
	open := func(ctx context.Context) (*http.Response, *fakeSub) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr().String()+"/graphql?query="+url.QueryEscape("subscription { a }"), nil)
		req.Header.Set("Accept", "text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		if resp.ProtoMajor != 2 {
			t.Fatalf("%s", resp.Proto)
		}
		return resp, f.next(t)
	}
	keep, keepSub := open(context.Background())
	defer keep.Body.Close()
	before := runtime.NumGoroutine()
	const n = 200
	cancels := make([]context.CancelFunc, n)
	subs := make([]*fakeSub, n)
	for i := range n {
		ctx, cancel := context.WithCancel(context.Background())
		cancels[i] = cancel
		_, subs[i] = open(ctx)
	}
	// the client side holds a goroutine per stream; the server side none
	if extra := runtime.NumGoroutine() - before; extra > n+20 {
		t.Fatalf("%d goroutines for %d streams (client and server in one process)", extra, n)
	}
	for i := range n {
		cancels[i]()
		subs[i].waitClosed(t)
	}
	keepSub.push(t, "1", `{"data":{"a":1}}`)
	if got := newFrames(keep).next(t); got != "id: 1\nevent: next\ndata: {\"data\":{\"a\":1}}\n\n" {
		t.Fatalf("the remaining stream got %q", got)
	}
}

// Over HTTP/2 a stream's heartbeat follows its own silence: an event puts it off, and it
// comes once the stream has been quiet for HeartbeatInterval (the connection asks a
// stream for a heartbeat only from then on).
func TestSSE_HTTP2StreamHeartbeatsAfterItsSilence(t *testing.T) {
	f := newFakeExecutor()
	const every = 100 * time.Millisecond
	h := sse.NewHandler(sse.Options{Executor: f, HeartbeatInterval: every, RetryInterval: -1})
	pool := netwriter.New(netwriter.Options{Tick: 5 * time.Millisecond})
	srv, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: h, Pool: pool})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	defer func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		_ = srv.Shutdown(context.Background())
		<-served
		pool.Close()
	}()
	client := &http.Client{Transport: &http2.Transport{AllowHTTP: true,
		DialTLSContext: func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	query := url.QueryEscape("subscription { employeeUpdated(id: 1) { id } }")
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.Addr().String()+"/graphql?query="+query, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("served over %s", resp.Proto)
	}
	fr := newFrames(resp)
	sub := f.next(t)
	start := time.Now()
	sub.push(t, "1", `{"data":{"employeeUpdated":{"id":1}}}`)
	if got := fr.next(t); got != "id: 1\nevent: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":1}}}\n\n" {
		t.Fatalf("event: %q", got)
	}
	for i := range 2 {
		if got := fr.next(t); got != ":\n\n" {
			t.Fatalf("heartbeat %d: %q", i, got)
		}
	}
	// two heartbeats, each after a silence of the interval
	if took := time.Since(start); took < 2*every {
		t.Fatalf("two heartbeats %v after the event, want at least %v", took, 2*every)
	}
}
