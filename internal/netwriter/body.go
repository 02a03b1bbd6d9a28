package netwriter

import (
	"net"
	"time"
)

// Waker asks for a body's or a connection's next bytes.
type Waker interface{ Wake() }

// Body is one response body that the pool writes: an SSE subscription's frames on a
// hijacked HTTP/1.1 connection (AttachBody) or on an HTTP/2 stream (internal/h2server).
// Its methods are called on a shard goroutine, one at a time.
type Body interface {
	// Next appends the body's next bytes to dst, after the body was woken; done after
	// the last ones. room is how many bytes the writer wants at most (a hint: one message
	// may overshoot it); a body that leaves bytes for later wakes itself again.
	Next(dst []byte, room int, now time.Duration) (out []byte, done bool)
	// Tick is called periodically while the body is open and nothing of it waits to be
	// written; it may append bytes (a heartbeat).
	Tick(dst []byte, now time.Duration) []byte
	// Closed is called once when the body is over: err is nil when its last bytes were
	// written, otherwise why the client will get no more (it went away, it was too slow,
	// it reset the stream).
	Closed(err error)
}

// TickDuer may be implemented by a Body whose Tick appends bytes only from a known time on
// (a heartbeat after a silence). A connection that carries many bodies (HTTP/2) then asks
// a body's Tick only once that time has passed, and visits its bodies at all only once the
// earliest of their times has: at 100 streams per connection, visiting every body on
// every sweep cost as many calls per second as 1 event/s delivered.
type TickDuer interface {
	// TickDue is the earliest clock time (Now) at which Tick may append bytes. Called
	// where Tick is, on the shard. It may only move later: a connection need not ask
	// again before the time it was last told.
	TickDue() time.Duration
}

// AttachBody serves body on nc, a connection that carries nothing else (a hijacked
// HTTP/1.1 response). The connection is closed after the body's last bytes; the client's
// input is discarded and its end counts as the client going away. Wake the returned
// Waker when the body has bytes.
//
// A body that is an Owner as well (its Fill is its Next) is attached as it is: the
// adapter costs 16 bytes per stream.
func (p *Pool) AttachBody(nc net.Conn, body Body) (Waker, error) {
	o, ok := body.(Owner)
	if !ok {
		o = bodyConn{body}
	}
	c, err := p.Attach(nc, o, AttachOptions{DiscardInput: true})
	if err != nil {
		return nil, err
	}
	return c, nil
}

// bodyConn is the Owner of a connection that carries one body.
type bodyConn struct{ b Body }

func (o bodyConn) Fill(dst []byte, room int, now time.Duration) ([]byte, bool) {
	return o.b.Next(dst, room, now)
}

func (o bodyConn) Tick(dst []byte, now time.Duration) []byte { return o.b.Tick(dst, now) }

func (o bodyConn) Closed(err error) { o.b.Closed(err) }
