// Package netwriter writes many mostly idle connections from a few goroutines. It is the
// write side that every streaming transport shares: SSE over hijacked HTTP/1.1
// connections, SSE and other responses over HTTP/2 (internal/h2server), and WebSockets.
//
// A connection's owner (the transport) implements Owner. Whenever it has something to send
// it calls Conn.Wake; the connection's shard goroutine then calls Owner.Fill, which appends
// the bytes to send (frames of every woken subscription, control frames) to a buffer the
// shard reuses, and writes them with one non-blocking write. Nothing runs for an idle
// connection: no goroutine, no buffer.
//
// # Slow clients
//
// One policy covers every transport:
//
//  1. Bytes the socket does not take wait in the connection's pending buffer. While it
//     holds MaxPendingBytes or more, Fill is not called: the owner pulls nothing more from
//     its subscriptions, whose bounded queues (resolve.Stream, subscriptions.queue_size)
//     fill up instead, and there the configured slow-consumer policy applies
//     (disconnect: the subscription ends with SLOW_CONSUMER; drop_oldest: the oldest
//     messages are dropped and counted). The pending buffer therefore holds at most
//     MaxPendingBytes plus one Fill's worth of bytes.
//  2. A connection whose socket takes nothing for WriteTimeout while bytes are pending is
//     closed (Stats.WriteTimeouts, a debug log line) and its owner is told (Closed with
//     ErrWriteTimeout), which ends its subscriptions.
//
// On HTTP/2 the same holds per stream: a stream without flow-control window leaves its
// subscription's queue unpulled (internal/h2server).
//
// # Goroutines
//
// A Pool runs its shards, one closer (Stream.Close runs the hub's unsubscribe, which may
// wait for a broker: never on a shard), and one poller goroutine that reports writable
// sockets and client hang-ups. Connections without a raw descriptor (TLS, other systems)
// get one writer goroutine each, which does blocking writes with WriteTimeout.
package netwriter

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/netpoll"
)

// Options configure a Pool. Zero values take the documented defaults.
type Options struct {
	// Shards is the number of writer goroutines. Default 2×GOMAXPROCS, at least 2 and at
	// most 8: enough to use every core for writes, few enough that one event's fan-out is
	// written in large batches.
	Shards int
	// MaxPendingBytes bounds what a connection may have waiting beyond its socket buffer
	// before its owner is asked for nothing more. Default 256 KiB, at most 1 GiB.
	MaxPendingBytes int
	// WriteTimeout is how long a connection with pending bytes may take nothing before it
	// is closed. Default 10s.
	WriteTimeout time.Duration
	// Tick is the period of Owner.Tick (heartbeats, keep-alives) and of the write-timeout
	// check. Default 250ms.
	Tick time.Duration
	Log  zerolog.Logger
}

// maxPendingBound is the largest MaxPendingBytes.
const maxPendingBound = 1 << 30

// Defaults of Options.
const (
	DefaultMaxPendingBytes = 256 << 10
	DefaultWriteTimeout    = 10 * time.Second
	DefaultTick            = 250 * time.Millisecond
)

// ErrWriteTimeout is the reason a connection that took no bytes for WriteTimeout was
// closed.
var ErrWriteTimeout = errors.New("the client read nothing for the write timeout")

// maxKeptBuffer bounds the buffers a shard or an idle connection keeps between writes; a
// burst may grow them further, after which they are released.
const maxKeptBuffer = 64 << 10

// Owner is a connection's transport. Its methods are called on the connection's shard
// goroutine, one at a time.
type Owner interface {
	// Fill appends what the connection has to send now to dst; room is how many bytes
	// the pool wants at most (a hint: a frame may overshoot it). With last set the pool
	// closes the connection once these bytes are written, and calls Fill no more.
	// An owner that leaves work undone (room ran out) calls Wake again.
	Fill(dst []byte, room int, now time.Duration) (out []byte, last bool)
	// Tick is called every Options.Tick; it may append bytes (heartbeats, pings).
	Tick(dst []byte, now time.Duration) []byte
	// Closed is called once, after the socket is closed, with the reason: nil when the
	// owner asked for it (Fill's last, Close(nil)).
	Closed(err error)
}

// Stats count what the pool did.
type Stats struct {
	// WriteTimeouts counts connections closed because they took nothing for WriteTimeout.
	WriteTimeouts atomic.Uint64
}

// Pool is a set of writer shards and the goroutines that serve them.
type Pool struct {
	opts   Options
	log    zerolog.Logger
	poller *netpoll.Poller // nil: every connection has a writer goroutine
	shards []*shard
	next   atomic.Uint32
	stats  Stats

	closer    closer
	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts a pool.
func New(opts Options) *Pool {
	if opts.Shards <= 0 {
		opts.Shards = min(max(2*runtime.GOMAXPROCS(0), 2), 8)
	}
	if opts.MaxPendingBytes <= 0 {
		opts.MaxPendingBytes = DefaultMaxPendingBytes
	}
	// A connection's pending offset is 32 bits (Conn.poff); a bound past 1 GiB would
	// not bound anything in practice either.
	opts.MaxPendingBytes = min(opts.MaxPendingBytes, maxPendingBound)
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = DefaultWriteTimeout
	}
	if opts.Tick <= 0 {
		opts.Tick = DefaultTick
	}
	p := &Pool{opts: opts, log: opts.Log, stop: make(chan struct{})}
	if netpoll.Supported {
		poller, err := netpoll.New()
		if err != nil {
			p.log.Warn().Err(err).Msg("no poller: every streaming connection gets a writer goroutine")
		} else {
			p.poller = poller
		}
	}
	p.closer.start(&p.wg, p.stop)
	p.shards = make([]*shard, opts.Shards)
	for i := range p.shards {
		p.shards[i] = &shard{p: p, signal: make(chan struct{}, 1), w: netpoll.NewWriter(), r: netpoll.NewReader()}
	}
	p.wg.Add(len(p.shards))
	for _, s := range p.shards {
		go s.run()
	}
	return p
}

// Options returns the pool's options with defaults filled in.
func (p *Pool) Options() Options { return p.opts }

// Stats returns the pool's counters.
func (p *Pool) Stats() *Stats { return &p.stats }

// epoch starts the clock that owners and bodies are given: Now.
var epoch = time.Now()

// Now is the clock passed to owners and bodies (monotonic; the same for every pool).
func Now() time.Duration { return time.Since(epoch) }

// CloseLater closes c on the pool's closer goroutine: for resolve.Stream, whose Close
// runs the hub's unsubscribe, which a shard or a reader must not wait for. After Close
// it closes c at once.
func (p *Pool) CloseLater(c interface{ Close() }) { p.closer.add(c) }

// Close finishes every connection still attached (closing its socket, telling its owner),
// then stops the pool's goroutines. Owners should have ended their connections first.
func (p *Pool) Close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		p.closer.drain()
		if p.poller != nil {
			if err := p.poller.Close(); err != nil {
				p.log.Warn().Err(err).Msg("writer poller stopped")
			}
		}
	})
}

func (p *Pool) pick() *shard { return p.shards[int(p.next.Add(1))%len(p.shards)] }

// closer closes streams on its own goroutine.
type closer struct {
	mu      sync.Mutex
	queue   []interface{ Close() }
	running bool
	signal  chan struct{}
}

func (c *closer) start(wg *sync.WaitGroup, stop <-chan struct{}) {
	c.signal = make(chan struct{}, 1)
	c.running = true
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-c.signal:
			}
			c.run()
		}
	}()
}

func (c *closer) run() {
	c.mu.Lock()
	batch := c.queue
	c.queue = nil
	c.mu.Unlock()
	for _, s := range batch {
		s.Close()
	}
}

func (c *closer) add(s interface{ Close() }) {
	c.mu.Lock()
	if !c.running {
		c.mu.Unlock()
		s.Close()
		return
	}
	c.queue = append(c.queue, s)
	c.mu.Unlock()
	select {
	case c.signal <- struct{}{}:
	default:
	}
}

// drain stops queuing and closes what is queued; the goroutine has stopped.
func (c *closer) drain() {
	c.mu.Lock()
	c.running = false
	c.mu.Unlock()
	c.run()
}
