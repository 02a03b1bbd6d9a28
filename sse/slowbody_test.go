package sse_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/edgate/edgate/internal/httpserver"
	"github.com/edgate/edgate/sse"
)

// slowBodyServer serves the handler on edgate's own listener: HTTP/1.1 and h2c
// (internal/h2server) on one port.
func slowBodyServer(t *testing.T, opts sse.Options) (string, *fakeExecutor) {
	t.Helper()
	f := newFakeExecutor()
	opts.Executor = f
	opts.RetryInterval = -1
	h := sse.NewHandler(opts)
	srv, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: h})
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		h.Shutdown(ctx, sse.ShutdownOptions{Complete: true})
		_ = srv.Shutdown(ctx)
		if err := <-served; err != nil {
			t.Error(err)
		}
	})
	return srv.Addr().String(), f
}

// trickle writes one byte of a body that never ends every few milliseconds until stop
// is closed or a write fails.
func trickle(w io.Writer, stop <-chan struct{}) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				if _, err := w.Write([]byte(" ")); err != nil {
					return
				}
			}
		}
	}()
	return done
}

// A client that trickles its body gets 408 when sse.Options.ReadBodyTimeout has passed,
// however steadily it sends; on HTTP/1.1 the connection is then closed.
func TestSSE_TricklingBodyGets408OverHTTP1(t *testing.T) {
	addr, _ := slowBodyServer(t, sse.Options{ReadBodyTimeout: 200 * time.Millisecond})
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second)) // the test's own backstop
	if _, err := io.WriteString(nc, "POST /graphql HTTP/1.1\r\nHost: edgate\r\nContent-Type: application/json\r\n"+
		"Content-Length: 100000\r\n\r\n{\"query\":"); err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	done := trickle(nc, stop)
	defer func() { close(stop); <-done }()

	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response to a trickled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d (%s), want 408", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Fatalf("the 408 keeps the connection open (%v)", resp.Header)
	}
	if n, err := br.Read(make([]byte, 1)); err == nil {
		t.Fatalf("read %d more bytes after the 408; want the connection closed", n)
	}
}

func TestSSE_TricklingBodyGets408OverHTTP2(t *testing.T) {
	addr, f := slowBodyServer(t, sse.Options{ReadBodyTimeout: 200 * time.Millisecond})
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	client := &http.Client{Transport: &http.Transport{Protocols: &protocols}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	pr, pw := io.Pipe()
	stop := make(chan struct{})
	done := trickle(pw, stop)
	defer func() { close(stop); <-done }()
	defer pw.Close()
	go func() { _, _ = io.WriteString(pw, `{"query":`) }()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/graphql", pr)
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("no response to a trickled body: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("%s %d (%s), want HTTP/2 408", resp.Proto, resp.StatusCode, body)
	}

	// The connection carries on: a subscription on it is served.
	req, _ = http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/graphql?query=subscription%7Ba%7D", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.ProtoMajor != 2 || resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %d after the 408", resp.Proto, resp.StatusCode)
	}
	s := f.next(t)
	s.push(t, "1", `{"data":{"a":1}}`)
	if ev := newFrames(resp).next(t); ev == "" {
		t.Fatal("no event")
	}
}

// The body deadline ends with the body: a subscription sent by POST on HTTP/1.1 keeps
// streaming after ReadBodyTimeout has passed.
func TestSSE_BodyDeadlineDoesNotEndAPOSTSubscription(t *testing.T) {
	const timeout = 100 * time.Millisecond
	addr, f := slowBodyServer(t, sse.Options{ReadBodyTimeout: timeout})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	resp := post(t, ctx, "http://"+addr+"/graphql", "text/event-stream", `{"query":"subscription { a }"}`)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.ProtoMajor != 1 {
		t.Fatalf("%s %d", resp.Proto, resp.StatusCode)
	}
	s := f.next(t)
	<-time.After(3 * timeout) // the condition: a deadline left on the connection would have passed
	s.push(t, "1", `{"data":{"a":1}}`)
	fr := newFrames(resp)
	if ev := fr.next(t); ev == "" {
		t.Fatal("no event")
	}
}
