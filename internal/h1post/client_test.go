package h1post

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// server is an httptest server that counts the connections it accepted and the requests
// it served.
type server struct {
	*httptest.Server
	conns, requests atomic.Int32
}

func newServer(t *testing.T, h http.HandlerFunc) *server {
	t.Helper()
	s := &server{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, rawURL string, opts Options) *Client {
	t.Helper()
	c, err := New(rawURL, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// echo answers with the request's body, and its method, target and headers in headers.
func echo(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-Method", r.Method)
	w.Header().Set("X-Target", r.URL.RequestURI())
	w.Header().Set("X-Length", r.Header.Get("Content-Length"))
	w.Header().Set("X-Forwarded", strings.Join(r.Header.Values("X-Forward"), ","))
	w.Header().Set("X-Agent", r.UserAgent())
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func TestPost_ContentLengthAnswerAndKeepAliveReuse(t *testing.T) {
	var seen sync.Map
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		seen.Store(string(body), r.URL.RequestURI()+" "+r.Header.Get("X-Forward")+" "+r.Host+" "+r.UserAgent())
		w.Write(append([]byte("answer:"), body...))
	})
	c := newClient(t, s.URL, Options{})
	for i := range 3 {
		body := []byte(strings.Repeat("x", i*5000)) // the last one is larger than a read buffer
		resp, err := c.Post(context.Background(), &Request{Target: "/graphql?a=1", Header: http.Header{"X-Forward": {"v"}}, Body: body})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if resp.Status != 200 || !bytes.Equal(resp.Body, append([]byte("answer:"), body...)) {
			t.Fatalf("request %d: status %d, body of %d bytes", i, resp.Status, len(resp.Body))
		}
		got, _ := seen.Load(string(body))
		if want := "/graphql?a=1 v " + strings.TrimPrefix(s.URL, "http://") + " Go-http-client/1.1"; got != want {
			t.Fatalf("server saw %q, want %q", got, want)
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections for 3 sequential requests, want 1 (keep-alive)", n)
	}
}

func TestPost_ChunkedAnswer(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		for _, part := range []string{`{"data":`, `{"_entities":[`, strings.Repeat(`{"a":1},`, 1000), `{"a":2}]}}`} {
			io.WriteString(w, part)
			w.(http.Flusher).Flush() // each part its own chunk
		}
	})
	c := newClient(t, s.URL, Options{})
	want := `{"data":{"_entities":[` + strings.Repeat(`{"a":1},`, 1000) + `{"a":2}]}}`
	for range 2 {
		resp, err := c.Post(context.Background(), &Request{Target: "/", Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != want {
			t.Fatalf("body %q..., want %q...", trim(resp.Body), want[:64])
		}
	}
	if n := s.conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: a chunked answer read to its end keeps the connection", n)
	}
}

func TestPost_GzipAnswerIsDecoded(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if got := r.Header.Values("Accept-Encoding"); strings.Join(got, ",") != "gzip,deflate" {
			t.Errorf("Accept-Encoding %q", got)
		}
		w.Header().Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		io.WriteString(zw, `{"data":{"_entities":[]}}`)
		zw.Close()
	})
	c := newClient(t, s.URL, Options{})
	resp, err := c.Post(context.Background(), &Request{Header: http.Header{"Accept-Encoding": {"gzip", "deflate"}}, Body: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	if string(resp.Body) != `{"data":{"_entities":[]}}` {
		t.Fatalf("body %q", resp.Body)
	}
}

func TestPost_ServerClosingTheConnection(t *testing.T) {
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echo(w, r)
	})
	c := newClient(t, s.URL, Options{})
	for i := range 2 {
		resp, err := c.Post(context.Background(), &Request{Body: []byte(`{"n":1}`)})
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		if string(resp.Body) != `{"n":1}` {
			t.Fatalf("request %d: body %q", i, resp.Body)
		}
	}
	if n := s.conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: an answer with Connection: close ends its connection", n)
	}
}

func TestPost_PooledConnectionClosedByServerIsRetriedOnce(t *testing.T) {
	s := newServer(t, echo)
	c := newClient(t, s.URL, Options{})
	if _, err := c.Post(context.Background(), &Request{Body: []byte(`1`)}); err != nil {
		t.Fatal(err)
	}
	// the pooled connection is closed by the server while it idles
	s.CloseClientConnections()
	resp, err := c.Post(context.Background(), &Request{Body: []byte(`2`)})
	if err != nil {
		t.Fatalf("request on a connection the server closed: %v", err)
	}
	if string(resp.Body) != "2" {
		t.Fatalf("body %q", resp.Body)
	}
	if n, r := s.conns.Load(), s.requests.Load(); n != 2 || r != 2 {
		t.Fatalf("%d connections and %d requests served, want 2 and 2", n, r)
	}
}

// rawServer accepts connections and answers each request with answer(i) for the i-th
// request overall (0-based), written as is; close says whether to close afterwards.
func rawServer(t *testing.T, answer func(i int) (string, bool)) (url string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = &atomic.Int32{}
	var served atomic.Int32
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer nc.Close()
				br := bufio.NewReader(nc)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					a, closeAfter := answer(int(served.Add(1) - 1))
					if _, err := io.WriteString(nc, a); err != nil || closeAfter {
						return
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String(), conns
}

func TestPost_AnswerDelimitedByClose(t *testing.T) {
	u, conns := rawServer(t, func(int) (string, bool) {
		return "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n\r\n{\"ok\":true}", true
	})
	c := newClient(t, u, Options{})
	for range 2 {
		resp, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if string(resp.Body) != `{"ok":true}` || resp.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("body %q, header %v", resp.Body, resp.Header)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2: an answer that ends with the connection cannot reuse it", n)
	}
}

func TestPost_InterimResponsesAreSkipped(t *testing.T) {
	u, conns := rawServer(t, func(int) (string, bool) {
		return "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n" +
			"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok", false
	})
	c := newClient(t, u, Options{})
	for range 2 {
		resp, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
		if err != nil {
			t.Fatal(err)
		}
		if resp.Status != 201 || string(resp.Body) != "ok" {
			t.Fatalf("status %d, body %q", resp.Status, resp.Body)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestPost_TruncatedAnswerFailsAndIsNotRetried(t *testing.T) {
	u, conns := rawServer(t, func(i int) (string, bool) {
		if i == 0 {
			return "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false
		}
		return "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort", true
	})
	c := newClient(t, u, Options{})
	if _, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	_, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("error %v, want an unexpected EOF", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1: an answer that began is not retried", n)
	}
	// the broken connection was not pooled
	resp, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
	if err == nil || resp != nil {
		// the server answers every later request with the short answer too
		t.Fatalf("third request: %v", err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestPost_Timeout(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	c := newClient(t, s.URL, Options{Timeout: 50 * time.Millisecond})
	_, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("error %v, want a deadline exceeded", err)
	}
}

func TestPost_ContextDeadlineBeforeTimeout(t *testing.T) {
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	defer close(release)
	c := newClient(t, s.URL, Options{Timeout: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Post(ctx, &Request{Body: []byte(`{}`)})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("error %v, want the context's deadline", err)
	}
}

func TestPost_ContextCancelEndsTheRequest(t *testing.T) {
	started := make(chan struct{})
	release := make(chan struct{})
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
	})
	defer close(release)
	c := newClient(t, s.URL, Options{Timeout: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-started:
			cancel()
		case <-ctx.Done():
		}
	}()
	_, err := c.Post(ctx, &Request{Body: []byte(`{}`)})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("error %v, want context.Canceled", err)
	}
}

func TestPost_RejectsHeadersThatBreakFraming(t *testing.T) {
	s := newServer(t, echo)
	c := newClient(t, s.URL, Options{})
	for _, h := range []http.Header{{"X-A": {"v\r\nX-Injected: 1"}}, {"X A": {"v"}}} {
		if _, err := c.Post(context.Background(), &Request{Header: h, Body: []byte(`{}`)}); err == nil {
			t.Fatalf("header %v was sent", h)
		}
	}
	if n := s.requests.Load(); n != 0 {
		t.Fatalf("%d requests reached the server", n)
	}
}

func TestNew_OnlyPlainHTTP(t *testing.T) {
	for _, u := range []string{"https://example.com/", "http://user:pw@example.com/", "ftp://x/", "::"} {
		if _, err := New(u, Options{}); err == nil {
			t.Fatalf("New(%q) accepted", u)
		}
	}
}

func TestClose_FailsLaterRequests(t *testing.T) {
	s := newServer(t, echo)
	c := newClient(t, s.URL, Options{})
	if _, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)}); err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)}); err == nil {
		t.Fatal("a request after Close succeeded")
	}
}

func TestPost_RetryAfterAClosedPooledConnectionDialsAFreshOne(t *testing.T) {
	// the first two requests meet in the handler, so the pool ends up with two connections
	var arrived sync.WaitGroup
	arrived.Add(2)
	var first atomic.Int32
	s := newServer(t, func(w http.ResponseWriter, r *http.Request) {
		if first.Add(1) <= 2 {
			arrived.Done()
			arrived.Wait()
		}
		echo(w, r)
	})
	c := newClient(t, s.URL, Options{})
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Post(context.Background(), &Request{Body: []byte(`{}`)})
			errs <- err
		}()
	}
	for range 2 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	s.CloseClientConnections() // both pooled connections are now closed
	if _, err := c.Post(context.Background(), &Request{Body: []byte(`3`)}); err != nil {
		t.Fatalf("request after the server closed every pooled connection: %v", err)
	}
	if n, r := s.conns.Load(), s.requests.Load(); n != 3 || r != 3 {
		t.Fatalf("%d connections and %d requests served, want 3 and 3", n, r)
	}
}
