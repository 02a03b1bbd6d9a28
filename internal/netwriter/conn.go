package netwriter

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/edgate/edgate/internal/netpoll"
)

// ErrClosed is returned by Attach once the pool is closed, and is the reason given to
// owners whose connections the pool's Close finished.
var ErrClosed = errors.New("netwriter: pool closed")

// AttachOptions configure one connection.
type AttachOptions struct {
	// DiscardInput reads and drops what the client sends, and treats the end of its input
	// as the client going away: for responses that expect no input (an SSE stream on a
	// hijacked HTTP/1.1 connection). Without it the owner reads the connection itself.
	DiscardInput bool
}

// Conn is one connection served by a Pool.
//
// Fields are ordered to pack: an idle SSE stream is one of these, so its size counts
// (128 bytes; 176 when it kept its net.Conn and raw conn in fields of its own).
type Conn struct {
	sh    *shard
	owner Owner
	// ext is how the connection is written and closed unless the pool took its
	// descriptor (fd), which a polled connection whose input is discarded (an SSE
	// stream) needs alone: nil then.
	ext *connExt
	// closeErr is the error Close was given, if any (a pointer: most connections never
	// get one, and an error is 8 bytes more per connection).
	closeErr *error

	// Used only by the shard's goroutine.
	pending   []byte        // pending[poff:] waits for the socket
	blockedAt time.Duration // when pending last stopped shrinking
	lastWrite time.Duration

	queued   atomic.Bool   // on the shard's ready list
	events   atomic.Uint32 // poller events not yet handled
	closeReq atomic.Bool
	mu       sync.Mutex // guards key, closeErr
	key      netpoll.Key
	fd       netpoll.FD // the descriptor when ext is nil
	poff     int32      // pending is bounded far below 2 GiB (Options.MaxPendingBytes)

	// Used only by the shard's goroutine.
	index   int32 // in sh.members, -1 before the shard first served it
	bindex  int32 // in sh.backlog, -1 when nothing is pending
	discard bool
	last    bool
	done    bool
}

// connExt is a Conn's net.Conn and how it is written: through its raw descriptor when
// the poller watches it (rc), else by a goroutine of its own (bw).
type connExt struct {
	nc net.Conn
	rc syscall.RawConn // nil: written by bw
	bw *blockingWriter
}

// raw is the descriptor the shard writes and polls; nil when a goroutine of its own
// writes the connection.
func (c *Conn) raw() syscall.RawConn {
	if c.ext == nil {
		return &c.fd
	}
	return c.ext.rc
}

// writer is the goroutine that writes a connection without a polled descriptor; nil for
// the others.
func (c *Conn) writer() *blockingWriter {
	if c.ext == nil {
		return nil
	}
	return c.ext.bw
}

// Attach starts serving nc for o. The connection belongs to the pool from now on: the
// pool closes it (when o's Fill says last, on Close, on a write error or timeout) and
// then calls o.Closed.
func (p *Pool) Attach(nc net.Conn, o Owner, opts AttachOptions) (*Conn, error) {
	select {
	case <-p.stop:
		return nil, ErrClosed
	default:
	}
	c := &Conn{sh: p.pick(), owner: o, discard: opts.DiscardInput, index: -1, bindex: -1}
	// A connection whose input is discarded needs nothing of its net.Conn once the poller
	// watches it: the pool keeps only a duplicate of the descriptor (netpoll.TakeFD) and
	// closes the net.Conn below, which saves ≈ 0.8 KiB per idle stream.
	var rc syscall.RawConn
	ownFD := false
	if p.poller != nil && c.discard {
		if fd, err := netpoll.TakeFD(nc); err == nil {
			c.fd, rc, ownFD = fd, &c.fd, true
		}
	}
	if p.poller != nil && rc == nil {
		if r, err := netpoll.RawConn(nc); err == nil {
			rc = r
		}
	}
	// Until the shard first serves it, wake-ups collapse into the enqueue below.
	c.queued.Store(true)
	if rc != nil {
		interest := netpoll.Writable
		if c.discard {
			interest |= netpoll.Readable
		}
		key, err := p.poller.Add(rc, interest, true, c)
		switch {
		case err != nil:
			p.log.Debug().Err(err).Msg("connection not polled: it gets a writer goroutine")
			if ownFD {
				_ = c.fd.Close()
			}
			rc = nil
		case ownFD:
			// Nothing else has the net.Conn: the shard sees c only from the enqueue below.
			_ = nc.Close()
			nc = nil
			fallthrough
		default:
			c.mu.Lock()
			c.key = key
			c.mu.Unlock()
		}
	}
	if nc != nil {
		c.ext = &connExt{nc: nc, rc: rc}
	}
	if rc == nil {
		c.ext.bw = newBlockingWriter(c)
		if c.discard {
			// No poller tells us the client went away: a reader does.
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				_, err := io.Copy(io.Discard, nc)
				if err == nil {
					err = io.EOF
				}
				c.Close(err)
			}()
		}
	}
	c.sh.enqueue(c)
	return c, nil
}

// Wake asks for a Fill soon. It never blocks; any number of wake-ups before the shard
// gets to the connection collapse into one.
func (c *Conn) Wake() {
	if c.queued.CompareAndSwap(false, true) {
		c.sh.enqueue(c)
	}
}

// WakeNow is Wake for a caller that can spend a write: when the connection's shard is
// not busy, the connection is served on the caller's goroutine (its owner's Fill and one
// non-blocking write) before WakeNow returns, which saves the hand-off to the shard's
// goroutine; otherwise it is Wake. For a lone event to one connection (a subscriber on a
// subject of its own) that hand-off is a goroutine wake-up, as costly as the write. The
// caller must hold no lock that Fill or the owner's Closed could take.
func (c *Conn) WakeNow() {
	if !c.queued.CompareAndSwap(false, true) {
		return // queued already: the shard serves it
	}
	s := c.sh
	if s.serveMu.TryLock() {
		s.serve(c, Now())
		s.serveMu.Unlock()
		return
	}
	s.enqueue(c)
}

// Close closes the connection soon, from any goroutine, without writing what is
// pending; the owner's Closed gets err. Later calls change nothing.
func (c *Conn) Close(err error) {
	c.mu.Lock()
	if !c.closeReq.Load() {
		if err != nil {
			c.closeErr = &err
		}
		c.closeReq.Store(true)
	}
	c.mu.Unlock()
	c.Wake()
}

// Ready receives the poller's events.
func (c *Conn) Ready(ev netpoll.Event) {
	c.events.Or(uint32(ev))
	c.Wake()
}

func (c *Conn) requestedClose() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closeErr == nil {
		return nil
	}
	return *c.closeErr
}

// blockingWriter writes a connection that has no raw descriptor (TLS, or a listener
// wrapper that hides it): the shard queues bytes, the writer's goroutine writes them with
// WriteTimeout and wakes the shard when it is done.
type blockingWriter struct {
	c      *Conn
	mu     sync.Mutex
	queue  []byte
	spare  []byte
	busy   bool // writing
	signal chan struct{}
	stop   chan struct{}
	once   sync.Once
}

func newBlockingWriter(c *Conn) *blockingWriter {
	w := &blockingWriter{c: c, signal: make(chan struct{}, 1), stop: make(chan struct{})}
	c.sh.p.wg.Add(1)
	go w.run()
	return w
}

// pending is what waits or is being written.
func (w *blockingWriter) pending() (queued int, busy bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.queue), w.busy
}

func (w *blockingWriter) enqueue(b []byte) {
	w.mu.Lock()
	w.queue = append(w.queue, b...)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *blockingWriter) close() { w.once.Do(func() { close(w.stop) }) }

func (w *blockingWriter) run() {
	defer w.c.sh.p.wg.Done()
	timeout := w.c.sh.p.opts.WriteTimeout
	for {
		select {
		case <-w.stop:
			return
		case <-w.signal:
		}
		w.mu.Lock()
		b := w.queue
		w.queue, w.spare = w.spare[:0], nil
		w.busy = len(b) > 0
		w.mu.Unlock()
		if len(b) == 0 {
			continue
		}
		nc := w.c.ext.nc
		_ = nc.SetWriteDeadline(time.Now().Add(timeout))
		_, err := nc.Write(b)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				w.c.sh.p.stats.WriteTimeouts.Add(1)
				err = ErrWriteTimeout
			} else {
				err = fmt.Errorf("write: %w", err)
			}
			w.c.Close(err)
		}
		w.mu.Lock()
		w.busy = false
		if cap(b) <= maxKeptBuffer {
			w.spare = b[:0]
		}
		w.mu.Unlock()
		w.c.Wake() // the shard may Fill again, or finish a connection that said last
	}
}
