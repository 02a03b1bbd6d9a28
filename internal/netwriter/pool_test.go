package netwriter_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/edgate/edgate/internal/netwriter"
)

// owner is a test Owner: Fill hands out what the test queued.
type owner struct {
	mu      sync.Mutex
	queue   []byte
	last    bool
	fills   atomic.Int64
	tick    []byte
	closed  chan error
	maxRoom atomic.Int64
}

func newOwner() *owner { return &owner{closed: make(chan error, 1)} }

func (o *owner) Fill(dst []byte, room int, _ time.Duration) ([]byte, bool) {
	o.fills.Add(1)
	o.maxRoom.Store(int64(room))
	o.mu.Lock()
	defer o.mu.Unlock()
	dst = append(dst, o.queue...)
	o.queue = nil
	return dst, o.last
}

func (o *owner) Tick(dst []byte, _ time.Duration) []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	dst = append(dst, o.tick...)
	o.tick = nil
	return dst
}

func (o *owner) Closed(err error) { o.closed <- err }

func (o *owner) put(b []byte, last bool) {
	o.mu.Lock()
	o.queue = append(o.queue, b...)
	o.last = o.last || last
	o.mu.Unlock()
}

func (o *owner) waitClosed(t *testing.T) error {
	t.Helper()
	select {
	case err := <-o.closed:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("the connection was never closed")
		return nil
	}
}

func tcpPair(t testing.TB) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close(); server.Close() })
	return server, client
}

func newPool(t testing.TB, opts netwriter.Options) *netwriter.Pool {
	p := netwriter.New(opts)
	t.Cleanup(p.Close)
	return p
}

// hidden hides a connection's descriptor, as TLS does.
type hidden struct{ net.Conn }

func TestPool_WritesWhatTheOwnerFillsAndClosesAfterLast(t *testing.T) {
	for _, mode := range []string{"poller", "writer goroutine"} {
		t.Run(mode, func(t *testing.T) {
			p := newPool(t, netwriter.Options{})
			server, client := tcpPair(t)
			if mode != "poller" {
				server = hidden{server}
			}
			o := newOwner()
			c, err := p.Attach(server, o, netwriter.AttachOptions{})
			if err != nil {
				t.Fatal(err)
			}
			o.put([]byte("hello "), false)
			c.Wake()
			o.put([]byte("world"), true)
			c.Wake()
			got, err := io.ReadAll(client) // until the pool closes the connection
			if err != nil || string(got) != "hello world" {
				t.Fatalf("read %q, %v", got, err)
			}
			if err := o.waitClosed(t); err != nil {
				t.Fatalf("Closed(%v) after last", err)
			}
		})
	}
}

func TestPool_ClientThatReadsNothingIsClosedAfterWriteTimeout(t *testing.T) {
	p := newPool(t, netwriter.Options{WriteTimeout: 200 * time.Millisecond, Tick: 20 * time.Millisecond})
	server, _ := tcpPair(t)
	o := newOwner()
	c, err := p.Attach(server, o, netwriter.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	o.put(bytes.Repeat([]byte("x"), 8<<20), false) // far more than the socket buffers
	c.Wake()
	if err := o.waitClosed(t); !errors.Is(err, netwriter.ErrWriteTimeout) {
		t.Fatalf("Closed(%v), want ErrWriteTimeout", err)
	}
	if n := p.Stats().WriteTimeouts.Load(); n != 1 {
		t.Fatalf("WriteTimeouts %d", n)
	}
}

func TestPool_OwnerIsAskedForNothingWhilePendingIsOverTheBound(t *testing.T) {
	p := newPool(t, netwriter.Options{Shards: 1, MaxPendingBytes: 64 << 10, WriteTimeout: time.Minute})
	server, client := tcpPair(t)
	o := newOwner()
	c, err := p.Attach(server, o, netwriter.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// a second connection on the same shard: once its bytes arrive, the shard has served
	// every wake-up given before
	server2, client2 := tcpPair(t)
	o2 := newOwner()
	c2, err := p.Attach(server2, o2, netwriter.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	barrier := func() {
		t.Helper()
		o2.put([]byte("."), false)
		c2.Wake()
		_ = client2.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.ReadFull(client2, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
	}
	o.put(bytes.Repeat([]byte("y"), 24<<20), false) // more than loopback buffers hold
	c.Wake()
	barrier()
	fills := o.fills.Load()
	for range 20 {
		c.Wake() // wake-ups while over the bound call no Fill
	}
	barrier()
	if got := o.fills.Load(); got != fills {
		t.Fatalf("Fill called %d times while bytes over the bound were pending", got-fills)
	}
	// the client reads: the pool drains and asks again
	go io.Copy(io.Discard, client)
	deadline := time.Now().Add(20 * time.Second)
	for o.fills.Load() == fills {
		if time.Now().After(deadline) {
			t.Fatal("no Fill after the client read")
		}
		c.Wake()
		barrier()
	}
}

func TestPool_DiscardInputNoticesTheClientGoingAway(t *testing.T) {
	for _, mode := range []string{"poller", "writer goroutine"} {
		t.Run(mode, func(t *testing.T) {
			p := newPool(t, netwriter.Options{})
			server, client := tcpPair(t)
			if mode != "poller" {
				server = hidden{server}
			}
			o := newOwner()
			c, err := p.Attach(server, o, netwriter.AttachOptions{DiscardInput: true})
			if err != nil {
				t.Fatal(err)
			}
			o.put([]byte("hello"), false)
			c.Wake()
			got := make([]byte, 5)
			if _, err := io.ReadFull(client, got); err != nil || string(got) != "hello" {
				t.Fatalf("read %q, %v", got, err)
			}
			client.Write([]byte("ignored"))
			client.Close()
			if err := o.waitClosed(t); err == nil {
				t.Fatal("Closed(nil) for a client that went away")
			}
		})
	}
}

func TestPool_DiscardInputConnectionIsServedWithoutItsNetConn(t *testing.T) {
	for _, mode := range []string{"bare socket", "wrapper"} {
		t.Run(mode, func(t *testing.T) {
			p := newPool(t, netwriter.Options{})
			server, client := tcpPair(t)
			nc := server
			if mode == "wrapper" {
				nc = closeCounting{TCPConn: server.(*net.TCPConn), n: new(atomic.Int64)}
			}
			o := newOwner()
			o.put([]byte("first"), false)
			c, err := p.Attach(nc, o, netwriter.AttachOptions{DiscardInput: true})
			if err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 5)
			_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "first" {
				t.Fatalf("client read %q, %v", buf, err)
			}
			// A bare socket's net.Conn is closed at once (the pool keeps a duplicate of its
			// descriptor); a wrapper's Close is left for the end of the connection.
			if cc, ok := nc.(closeCounting); ok {
				if n := cc.n.Load(); n != 0 {
					t.Fatalf("the wrapper was closed %d times while the pool served it", n)
				}
			} else if _, err := server.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
				t.Fatalf("write on the attached bare net.Conn: %v, want net.ErrClosed", err)
			}
			client.Write([]byte("ignored input"))
			o.put([]byte("last"), true)
			c.Wake()
			if err := o.waitClosed(t); err != nil {
				t.Fatalf("Closed(%v) after the last bytes", err)
			}
			rest, err := io.ReadAll(client)
			if err != nil || string(rest) != "last" {
				t.Fatalf("client read %q, %v; want the last bytes, then EOF", rest, err)
			}
			if cc, ok := nc.(closeCounting); ok && cc.n.Load() != 1 {
				t.Fatalf("the wrapper was closed %d times", cc.n.Load())
			}
		})
	}
}

// closeCounting is a wrapper that forwards its descriptor and counts its Close calls, as
// a connection-limiting listener's connections give their slot back.
type closeCounting struct {
	*net.TCPConn
	n *atomic.Int64
}

func (c closeCounting) Close() error {
	c.n.Add(1)
	return c.TCPConn.Close()
}

func TestPool_TickBytesAreWritten(t *testing.T) {
	p := newPool(t, netwriter.Options{Tick: 10 * time.Millisecond})
	server, client := tcpPair(t)
	o := newOwner()
	o.tick = []byte("tick")
	if _, err := p.Attach(server, o, netwriter.AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4)
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(client, buf); err != nil || string(buf) != "tick" {
		t.Fatalf("%q %v", buf, err)
	}
}

type closeCounter struct{ n *atomic.Int64 }

func (c closeCounter) Close() { c.n.Add(1) }

func TestPool_CloseLaterClosesOnTheCloserAndCloseFinishesConnections(t *testing.T) {
	p := netwriter.New(netwriter.Options{})
	var n atomic.Int64
	for range 10 {
		p.CloseLater(closeCounter{&n})
	}
	server, _ := tcpPair(t)
	o := newOwner()
	if _, err := p.Attach(server, o, netwriter.AttachOptions{}); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if n.Load() != 10 {
		t.Fatalf("%d of 10 closed", n.Load())
	}
	if err := o.waitClosed(t); !errors.Is(err, netwriter.ErrClosed) {
		t.Fatalf("Closed(%v)", err)
	}
	if _, err := p.Attach(server, newOwner(), netwriter.AttachOptions{}); !errors.Is(err, netwriter.ErrClosed) {
		t.Fatalf("Attach after Close: %v", err)
	}
	p.CloseLater(closeCounter{&n}) // after Close: at once
	if n.Load() != 11 {
		t.Fatal("CloseLater after Close did not close")
	}
}

var _ syscall.Conn = (*net.TCPConn)(nil)

// WakeNow serves the connection on the caller's goroutine when its shard is idle: the
// bytes are in the socket when it returns, and a WakeNow that finds the shard busy is
// an ordinary Wake, so every message arrives either way.
func TestPool_WakeNowWritesOnTheCallersGoroutineWhenTheShardIsIdle(t *testing.T) {
	p := newPool(t, netwriter.Options{Shards: 1, Tick: time.Hour})
	server, client := tcpPair(t)
	o := newOwner()
	c, err := p.Attach(server, o, netwriter.AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool { return o.fills.Load() > 0 }) // the shard's first visit
	inline := 0
	var want bytes.Buffer
	for i := 0; i < 200 && inline < 3; i++ {
		msg := []byte{'a' + byte(i%26)}
		want.Write(msg)
		o.put(msg, false)
		before := o.fills.Load()
		c.WakeNow()
		if o.fills.Load() > before {
			inline++
		} else {
			// the shard had the connection or was busy: it fills it soon
			waitFor(t, func() bool { return o.fills.Load() > before })
		}
	}
	if inline == 0 {
		t.Fatal("no WakeNow served the connection on the caller's goroutine")
	}
	got := make([]byte, want.Len())
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatalf("read: %v", err)
	}
	if !bytes.Equal(got, want.Bytes()) {
		t.Fatalf("got %q, want %q", got, want.Bytes())
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in 10s")
		}
		time.Sleep(time.Millisecond)
	}
}
