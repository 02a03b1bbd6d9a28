//go:build linux

package netpoll_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgate/edgate/internal/netpoll"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (server, client *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c.Close()
		s.Close()
	})
	return s.(*net.TCPConn), c.(*net.TCPConn)
}

type events chan netpoll.Event

func (e events) Ready(ev netpoll.Event) { e <- ev }

func (e events) want(t *testing.T, want netpoll.Event) {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		select {
		case ev := <-e:
			if ev&want == want {
				return
			}
		case <-deadline:
			t.Fatalf("no %b event", want)
		}
	}
}

func (e events) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-e:
		t.Fatalf("unexpected event %b", ev)
	case <-time.After(d):
	}
}

func newPoller(t *testing.T) *netpoll.Poller {
	t.Helper()
	p, err := netpoll.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	return p
}

func rawConn(t *testing.T, c net.Conn) syscall.RawConn {
	t.Helper()
	rc, err := netpoll.RawConn(c)
	if err != nil {
		t.Fatal(err)
	}
	return rc
}

func TestPoller_ReportsDataThenPeerCloseAndReaderSeesEOF(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	rc := rawConn(t, server)
	ev := make(events, 16)
	k, err := p.Add(rc, netpoll.Readable, true, ev)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Remove(rc, k)

	if _, err := client.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	ev.want(t, netpoll.Readable)
	r := netpoll.NewReader()
	buf := make([]byte, 64)
	n, err := r.Read(rc, buf)
	if err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := r.Read(rc, buf); !errors.Is(err, netpoll.ErrWouldBlock) {
		t.Fatalf("read of an empty socket: %v, want ErrWouldBlock", err)
	}

	client.Close()
	ev.want(t, netpoll.Hangup)
	if _, err := r.Read(rc, buf); err != io.EOF {
		t.Fatalf("read after the peer closed: %v, want EOF", err)
	}
}

func TestPoller_RemovedConnectionIsNotReported(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	rc := rawConn(t, server)
	ev := make(events, 16)
	k, err := p.Add(rc, netpoll.Readable, false, ev)
	if err != nil {
		t.Fatal(err)
	}
	p.Remove(rc, k)
	if p.Len() != 0 {
		t.Fatalf("%d registrations after Remove", p.Len())
	}
	client.Write([]byte("x"))
	ev.none(t, 100*time.Millisecond)
}

func TestWriter_FullSocketWouldBlockAndEdgeWritableFollowsDrain(t *testing.T) {
	p := newPoller(t)
	server, client := tcpPair(t)
	if err := server.SetWriteBuffer(16 << 10); err != nil {
		t.Fatal(err)
	}
	rc := rawConn(t, server)
	ev := make(events, 64)
	k, err := p.Add(rc, netpoll.Readable|netpoll.Writable, true, ev)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Remove(rc, k)
	ev.want(t, netpoll.Writable) // writable at registration
	time.Sleep(20 * time.Millisecond)
	for len(ev) > 0 {
		<-ev
	}

	w := netpoll.NewWriter()
	chunk := bytes.Repeat([]byte("x"), 64<<10)
	sent := 0
	for i := 0; ; i++ {
		n, err := w.Write(rc, chunk)
		sent += n
		if errors.Is(err, netpoll.ErrWouldBlock) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 10000 {
			t.Fatal("the socket never filled up")
		}
	}
	// the client drains everything: the edge-triggered registration reports Writable
	got := make(chan int, 1)
	go func() {
		n, _ := io.ReadFull(client, make([]byte, sent))
		got <- n
	}()
	ev.want(t, netpoll.Writable)
	if n := <-got; n != sent {
		t.Fatalf("client read %d of %d bytes", n, sent)
	}
}

func TestRawConn_RefusesConnectionsWithoutADescriptor(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := netpoll.RawConn(a); err == nil {
		t.Fatal("net.Pipe has no descriptor, but RawConn succeeded")
	}
}

// wrapped is a net.Conn wrapper that forwards its descriptor, as a connection-limiting
// listener's connections do.
type wrapped struct{ *net.TCPConn }

func TestTakeFD_OutlivesTheClosedConnAndRefusesWrappers(t *testing.T) {
	server, client := tcpPair(t)
	if _, err := netpoll.TakeFD(wrapped{server}); err == nil {
		t.Fatal("TakeFD accepted a wrapper whose Close may do more than close the socket")
	}
	fd, err := netpoll.TakeFD(server)
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	p := newPoller(t)
	ev := make(events, 16)
	k, err := p.Add(&fd, netpoll.Readable, true, ev)
	if err != nil {
		t.Fatal(err)
	}
	// the socket is still open: the client's bytes arrive and ours reach the client
	if _, err := client.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	ev.want(t, netpoll.Readable)
	buf := make([]byte, 16)
	if n, err := netpoll.NewReader().Read(&fd, buf); err != nil || string(buf[:n]) != "ping" {
		t.Fatalf("read %q, %v", buf[:n], err)
	}
	if _, err := netpoll.NewReader().Read(&fd, buf); !errors.Is(err, netpoll.ErrWouldBlock) {
		t.Fatalf("read of an empty socket: %v, want ErrWouldBlock (the descriptor must stay non-blocking)", err)
	}
	if _, err := netpoll.NewWriter().Write(&fd, []byte("pong")); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf[:4]); err != nil || string(buf[:4]) != "pong" {
		t.Fatalf("client read %q, %v", buf[:4], err)
	}
	// closing the descriptor ends the connection
	p.Remove(&fd, k)
	if err := fd.Close(); err != nil {
		t.Fatal(err)
	}
	if n, err := client.Read(buf); err != io.EOF {
		t.Fatalf("client read %d bytes, %v after the descriptor closed; want EOF", n, err)
	}
}

func TestPoller_ReusedSlotIgnoresTheRemovedRegistrationsKey(t *testing.T) {
	p := newPoller(t)
	server1, _ := tcpPair(t)
	server2, client2 := tcpPair(t)
	ev1, ev2 := make(events, 16), make(events, 16)
	// Edge-triggered, as the pool registers: level-triggered, the unread byte below would
	// be reported until ev2 is full, and the poller's loop would block on it.
	k1, err := p.Add(rawConn(t, server1), netpoll.Readable, true, ev1)
	if err != nil {
		t.Fatal(err)
	}
	p.Remove(rawConn(t, server1), k1)
	k2, err := p.Add(rawConn(t, server2), netpoll.Readable, true, ev2)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Remove(rawConn(t, server2), k2)
	if k1 == k2 {
		t.Fatalf("a reused slot got the removed registration's key %d", k1)
	}
	p.Remove(rawConn(t, server1), k1) // stale: must not end k2
	if p.Len() != 1 {
		t.Fatalf("%d registrations, want 1", p.Len())
	}
	client2.Write([]byte("x"))
	ev2.want(t, netpoll.Readable)
}
