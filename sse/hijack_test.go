//go:build linux

package sse_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/sse"
)

// trackingListener records the server side of every connection and whether it was closed.
// Its connections embed *net.TCPConn, so they keep SyscallConn (the hijacked path);
// hideFD wraps them so that they do not (the fallback path).
type trackingListener struct {
	net.Listener
	sndbuf int // SO_SNDBUF of accepted connections, 0: default
	hideFD bool

	mu    sync.Mutex
	conns []*trackedConn
}

type trackedConn struct {
	*net.TCPConn
	closed chan struct{}
	once   sync.Once
}

func (c *trackedConn) Close() error {
	c.once.Do(func() { close(c.closed) })
	return c.TCPConn.Close()
}

// opaqueConn hides the descriptor of a connection.
type opaqueConn struct{ net.Conn }

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := c.(*net.TCPConn)
	if l.sndbuf > 0 {
		_ = tc.SetWriteBuffer(l.sndbuf)
	}
	t := &trackedConn{TCPConn: tc, closed: make(chan struct{})}
	l.mu.Lock()
	l.conns = append(l.conns, t)
	l.mu.Unlock()
	if l.hideFD {
		return opaqueConn{t}, nil
	}
	return t, nil
}

func (l *trackingListener) conn(t *testing.T, i int) *trackedConn {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		l.mu.Lock()
		if i < len(l.conns) {
			c := l.conns[i]
			l.mu.Unlock()
			return c
		}
		l.mu.Unlock()
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("no connection %d", i)
	return nil
}

func (c *trackedConn) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-c.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the server did not close the connection")
	}
}

func newTrackedServer(t *testing.T, opts sse.Options, l *trackingListener) (*httptest.Server, *sse.Handler, *fakeExecutor) {
	t.Helper()
	f, _ := opts.Executor.(*fakeExecutor)
	if f == nil {
		f = newFakeExecutor()
	}
	opts.Executor = f
	opts.RetryInterval = noRetryHint(opts.RetryInterval)
	h := sse.NewHandler(opts)
	srv := httptest.NewUnstartedServer(h)
	l.Listener = srv.Listener
	srv.Listener = l
	srv.Start()
	t.Cleanup(func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		srv.Close()
	})
	return srv, h, f
}

// rawStream is a subscription opened with a hand-written HTTP/1.1 request, read the way
// curl or a browser's EventSource reads it: response head, then the body bytes as they
// come, until the server closes the connection.
type rawStream struct {
	conn net.Conn
	r    *bufio.Reader
	head string
}

func dialStream(t testing.TB, addr string, dialer *net.Dialer) *rawStream {
	t.Helper()
	if dialer == nil {
		dialer = &net.Dialer{}
	}
	c, err := dialer.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	body := gqlBody(subscriptionQuery)
	fmt.Fprintf(c, "POST /graphql HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", addr, len(body), body)
	s := &rawStream{conn: c, r: bufio.NewReader(c)}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			t.Fatalf("response head %q: %v", s.head, err)
		}
		s.head += line
		if line == "\r\n" {
			return s
		}
	}
}

// read returns exactly n body bytes.
func (s *rawStream) read(t testing.TB, n int) string {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b := make([]byte, n)
	if _, err := io.ReadFull(s.r, b); err != nil {
		t.Fatalf("reading %d body bytes: got %q: %v", n, b, err)
	}
	return string(b)
}

func (s *rawStream) expect(t testing.TB, want string) {
	t.Helper()
	if got := s.read(t, len(want)); got != want {
		t.Fatalf("body\n got %q\nwant %q", got, want)
	}
}

func (s *rawStream) rest(t testing.TB) string {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(s.r)
	if err != nil {
		t.Fatalf("reading to the end of the stream: got %q: %v", b, err)
	}
	return string(b)
}

func TestHijacked_RawResponseIsCloseDelimitedAndEndsWithTheConnection(t *testing.T) {
	l := &trackingListener{}
	srv, _, f := newTrackedServer(t, sse.Options{HeartbeatInterval: time.Minute}, l)
	s := dialStream(t, srv.Listener.Addr().String(), nil)
	sub := f.next(t)

	head := strings.ToLower(s.head)
	for _, want := range []string{"http/1.1 200 ok\r\n", "\r\ncontent-type: text/event-stream\r\n", "\r\nconnection: close\r\n", "\r\ncache-control: no-cache\r\n"} {
		if !strings.Contains(head, want) {
			t.Errorf("response head lacks %q:\n%s", want, s.head)
		}
	}
	for _, unwanted := range []string{"transfer-encoding", "content-length"} {
		if strings.Contains(head, unwanted) {
			t.Errorf("response head has %s:\n%s", unwanted, s.head)
		}
	}

	sub.push(t, "1", `{"data":{"n":1}}`)
	s.expect(t, "id: 1\nevent: next\ndata: {\"data\":{\"n\":1}}\n\n")
	sub.push(t, "2", `{"data":{"n":2}}`)
	sub.push(t, "3", `{"data":{"n":3}}`)
	s.expect(t, "id: 2\nevent: next\ndata: {\"data\":{\"n\":2}}\n\nid: 3\nevent: next\ndata: {\"data\":{\"n\":3}}\n\n")
	sub.stream.Finish(resolve.End{Code: resolve.EndUpstream, Reason: "upstream went away"})
	if got, want := s.rest(t), "event: next\ndata: {\"errors\":[{\"message\":\"upstream went away\",\"extensions\":{\"code\":\"UPSTREAM_ERROR\"}}]}\n\nevent: complete\ndata:\n\n"; got != want {
		t.Fatalf("end of stream\n got %q\nwant %q", got, want)
	}
	sub.waitClosed(t)
	l.conn(t, 0).waitClosed(t)
}

func TestHijacked_IdleStreamsCostNoGoroutine(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute})
	addr := srv.Listener.Addr().String()
	dialStream(t, addr, nil) // starts the writer pool
	first := f.next(t)
	before := runtime.NumGoroutine()
	const n = 100
	streams := make([]*rawStream, n)
	subs := make([]*fakeSub, n)
	for i := range n {
		streams[i] = dialStream(t, addr, nil)
		subs[i] = f.next(t)
	}
	// net/http's connection goroutines end after the hijack; give them a moment
	var grown int
	for range 100 {
		if grown = runtime.NumGoroutine() - before; grown < n/10 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	if grown >= n/10 {
		t.Fatalf("%d idle streams added %d goroutines", n, grown)
	}
	for i, s := range subs {
		s.push(t, "1", fmt.Sprintf(`{"data":{"i":%d}}`, i))
	}
	for i, s := range streams {
		s.expect(t, fmt.Sprintf("id: 1\nevent: next\ndata: {\"data\":{\"i\":%d}}\n\n", i))
	}
	first.stream.Finish(resolve.End{})
}

func TestHijacked_ClientDisconnectWhileIdleClosesStreamAndConnection(t *testing.T) {
	l := &trackingListener{}
	srv, _, f := newTrackedServer(t, sse.Options{HeartbeatInterval: time.Hour}, l)
	s := dialStream(t, srv.Listener.Addr().String(), nil)
	sub := f.next(t)
	server := l.conn(t, 0)
	s.conn.Close() // no event was ever sent: only the poller can notice
	sub.waitClosed(t)
	server.waitClosed(t)
}

func TestHijacked_HeartbeatsKeepIdleStreamsAliveAndStopForTraffic(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: 40 * time.Millisecond})
	addr := srv.Listener.Addr().String()
	a := dialStream(t, addr, nil)
	subA := f.next(t) // before b dials: the subscriptions are matched by order
	b := dialStream(t, addr, nil)
	subB := f.next(t)
	for range 3 {
		a.expect(t, ":\n\n")
		b.expect(t, ":\n\n")
	}
	// a stream that gets an event is not silent: its next bytes are the event
	_ = subB
	subA.push(t, "9", `{"data":{}}`)
	got := a.read(t, len("id: 9\nevent: next\ndata: {\"data\":{}}\n\n"))
	if strings.HasPrefix(got, ":\n\n") { // a heartbeat may have been on its way
		got = got[3:] + a.read(t, 3)
	}
	if got != "id: 9\nevent: next\ndata: {\"data\":{}}\n\n" {
		t.Fatalf("event frame %q", got)
	}
}

// smallReceiveBuffer makes a client's socket fill after a few KiB.
func smallReceiveBuffer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
		if err != nil {
			return err
		}
		return serr
	}}
}

// A client that stops reading fills the connection's pending bytes; the writer then
// pulls nothing more, the subscription's queue fills and the hub's slow-consumer policy
// ends it. The client gets what was pending, then the SLOW_CONSUMER error.
func TestHijacked_ClientThatStopsReadingEndsAsSlowWithoutStallingItsShard(t *testing.T) {
	l := &trackingListener{sndbuf: 4096}
	f := newFakeExecutor()
	f.queueSize = 16
	srv, _, _ := newTrackedServer(t, sse.Options{
		Executor:          f,
		HeartbeatInterval: time.Hour,
		WriterShards:      1, // both streams on one shard
		MaxPendingBytes:   32 << 10,
		WriteTimeout:      10 * time.Second,
	}, l)
	addr := srv.Listener.Addr().String()
	slow := dialStream(t, addr, smallReceiveBuffer())
	slowSub := f.next(t)
	fast := dialStream(t, addr, nil)
	fastSub := f.next(t)

	payload := `{"data":{"pad":"` + strings.Repeat("x", 1000) + `"}}`
	frame := func(i int) string { return fmt.Sprintf("id: %d\nevent: next\ndata: %s\n\n", i, payload) }
	for i := 0; ; i++ {
		if i > 2000 {
			t.Fatal("the slow stream was never ended")
		}
		if queued, _ := slowSub.stream.Push(resolve.Message{ID: fmt.Sprint(i), Payload: []byte(payload)}); !queued {
			break // the hub's queue was full: the stream ended as slow
		}
		fastSub.push(t, fmt.Sprint(i), payload)
		fast.expect(t, frame(i)) // the other stream on the shard keeps flowing
		time.Sleep(time.Millisecond)
	}
	// the slow client reads at last: what was pending, then why the stream ended
	body := slow.rest(t)
	wantEnd := "event: next\ndata: {\"errors\":[{\"message\":\"subscriber did not keep up: its queue of undelivered messages was full\",\"extensions\":{\"code\":\"SLOW_CONSUMER\"}}]}\n\nevent: complete\ndata:\n\n"
	if !strings.HasSuffix(body, wantEnd) {
		t.Fatalf("slow stream ended with %q", body[max(0, len(body)-300):])
	}
	if !strings.HasPrefix(body, frame(0)) {
		t.Fatalf("slow stream started with %q", body[:min(len(body), 100)])
	}
	slowSub.waitClosed(t)
	l.conn(t, 0).waitClosed(t)
	fastSub.push(t, "last", `{"data":{}}`)
	fast.expect(t, "id: last\nevent: next\ndata: {\"data\":{}}\n\n")
}

func TestHijacked_ClientThatNeverReadsIsClosedAfterWriteTimeout(t *testing.T) {
	l := &trackingListener{sndbuf: 4096}
	srv, _, f := newTrackedServer(t, sse.Options{HeartbeatInterval: time.Hour, WriteTimeout: 200 * time.Millisecond}, l)
	dialStream(t, srv.Listener.Addr().String(), smallReceiveBuffer())
	sub := f.next(t)
	payload := []byte(`{"data":{"pad":"` + strings.Repeat("x", 4000) + `"}}`)
	for i := range 20 { // more than both socket buffers, less than MaxPendingBytes
		sub.push(t, fmt.Sprint(i), string(payload))
	}
	l.conn(t, 0).waitClosed(t)
	sub.waitClosed(t)
}

func TestHijacked_ConnectionWithoutDescriptorKeepsAGoroutineAndWorks(t *testing.T) {
	l := &trackingListener{hideFD: true}
	srv, _, f := newTrackedServer(t, sse.Options{HeartbeatInterval: time.Minute}, l)
	addr := srv.Listener.Addr().String()

	s := dialStream(t, addr, nil)
	sub := f.next(t)
	if !strings.Contains(strings.ToLower(s.head), "connection: close") {
		t.Fatalf("response head:\n%s", s.head)
	}
	sub.push(t, "1", `{"data":{}}`)
	s.expect(t, "id: 1\nevent: next\ndata: {\"data\":{}}\n\n")
	sub.stream.Finish(resolve.End{})
	if got := s.rest(t); got != "event: complete\ndata:\n\n" {
		t.Fatalf("end %q", got)
	}
	l.conn(t, 0).waitClosed(t)

	// a client going away is noticed too
	s2 := dialStream(t, addr, nil)
	sub2 := f.next(t)
	s2.conn.Close()
	sub2.waitClosed(t)
	l.conn(t, 1).waitClosed(t)
}

func TestHijacked_ShutdownCompletesStreamsAndWaitsForThem(t *testing.T) {
	l := &trackingListener{}
	srv, h, f := newTrackedServer(t, sse.Options{HeartbeatInterval: time.Minute}, l)
	addr := srv.Listener.Addr().String()
	const n = 20
	streams := make([]*rawStream, n)
	subs := make([]*fakeSub, n)
	for i := range n {
		streams[i] = dialStream(t, addr, nil)
		subs[i] = f.next(t)
	}
	subs[3].push(t, "7", `{"data":{}}`)
	h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
	// Shutdown returned: every hijacked connection is written and closed already
	for i := range n {
		select {
		case <-l.conn(t, i).closed:
		default:
			t.Fatalf("connection %d still open after Shutdown", i)
		}
	}
	for i, s := range streams {
		want := "event: complete\ndata:\n\n"
		if i == 3 {
			want = "id: 7\nevent: next\ndata: {\"data\":{}}\n\n" + want
		}
		if got := s.rest(t); got != want {
			t.Fatalf("stream %d: %q", i, got)
		}
		subs[i].waitClosed(t)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader(gqlBody(subscriptionQuery)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("subscription after Shutdown: %d", resp.StatusCode)
	}
}
