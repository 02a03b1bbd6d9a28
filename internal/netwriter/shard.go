package netwriter

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/edgate/edgate/internal/netpoll"
)

// shard writes the connections assigned to it. A connection is queued at most once
// (Conn.queued); one visit writes what is pending, asks the owner for more and sends it
// with a single non-blocking write. What the socket does not take waits in the
// connection's pending buffer for the next visit, which the poller triggers when the
// socket is writable again, so a client that does not read never holds up the others.
//
// serveMu serializes the serving: the shard's goroutine holds it while it serves a batch
// or ticks, and Conn.WakeNow takes it when it is free to serve one connection on the
// caller's goroutine. Everything below it is used only under serveMu.
type shard struct {
	p      *Pool
	mu     sync.Mutex
	ready  []*Conn
	signal chan struct{}

	serveMu sync.Mutex
	members []*Conn // every connection served, for ticks and write timeouts
	// backlog holds the members with bytes pending: each tick retries them and checks
	// their write timeout, while the sweep over all members (heartbeats) takes longer.
	backlog []*Conn
	cursor  int // the sweep's next member, counting down
	buf     []byte
	w       *netpoll.Writer
	r       *netpoll.Reader
	rbuf    [512]byte
}

func (s *shard) enqueue(c *Conn) {
	s.mu.Lock()
	first := len(s.ready) == 0
	s.ready = append(s.ready, c)
	s.mu.Unlock()
	if first { // otherwise a signal is already pending for the list
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

func (s *shard) run() {
	defer s.p.wg.Done()
	ticker := time.NewTicker(s.p.opts.Tick)
	defer ticker.Stop()
	var batch []*Conn
	for {
		select {
		case <-s.p.stop:
			s.serveMu.Lock()
			s.finishAll()
			s.serveMu.Unlock()
			return
		case <-ticker.C:
			s.serveMu.Lock()
			s.tick(Now())
			s.serveMu.Unlock()
			continue
		case <-s.signal:
		}
		s.mu.Lock()
		batch, s.ready = s.ready, batch[:0]
		s.mu.Unlock()
		s.serveMu.Lock()
		now := Now()
		for i, c := range batch {
			s.serve(c, now)
			batch[i] = nil
		}
		s.serveMu.Unlock()
		if cap(batch) > 4096 {
			batch = nil
		}
	}
}

func (s *shard) finishAll() {
	s.mu.Lock()
	batch := s.ready
	s.ready = nil
	s.mu.Unlock()
	for _, c := range batch {
		s.finish(c, ErrClosed)
	}
	for len(s.members) > 0 {
		s.finish(s.members[len(s.members)-1], ErrClosed)
	}
}

// serve handles whatever woke c: a close, poller events, its owner's bytes.
func (s *shard) serve(c *Conn, now time.Duration) {
	c.queued.Store(false) // before Fill: a wake-up during Fill queues c again
	if c.done {
		return
	}
	if c.index < 0 {
		c.index = int32(len(s.members))
		s.members = append(s.members, c)
		c.lastWrite = now
	}
	if c.closeReq.Load() {
		s.finish(c, c.requestedClose())
		return
	}
	if ev := netpoll.Event(c.events.Swap(0)); c.discard && ev&(netpoll.Readable|netpoll.Hangup) != 0 {
		if !s.discardInput(c) {
			s.finish(c, io.EOF)
			return
		}
	}
	if !s.flush(c, now) {
		return
	}
	pending, busy := s.pending(c)
	if c.last {
		if pending == 0 && !busy {
			s.finish(c, nil)
		}
		return
	}
	maxPending := s.p.opts.MaxPendingBytes
	if pending >= maxPending {
		// Nothing more until the socket takes some: the poller's writable event (or the
		// writer goroutine) brings c back.
		return
	}
	out, last := c.owner.Fill(s.buf[:0], maxPending-pending, now)
	c.last = last
	ok := len(out) == 0 || s.send(c, out, now)
	s.buf = out[:0]
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil
	}
	if ok && c.last {
		if pending, busy := s.pending(c); pending == 0 && !busy {
			s.finish(c, nil)
		}
	}
}

// pending is how many bytes c has waiting for its socket, and whether its writer
// goroutine is writing.
func (s *shard) pending(c *Conn) (int, bool) {
	if bw := c.writer(); bw != nil {
		return bw.pending()
	}
	return len(c.pending) - int(c.poff), false
}

// send writes b, or queues it behind bytes still pending. It returns false when c was
// finished (the write failed).
func (s *shard) send(c *Conn, b []byte, now time.Duration) bool {
	if bw := c.writer(); bw != nil {
		bw.enqueue(b)
		return true
	}
	if len(c.pending) > 0 {
		c.pending = append(c.pending, b...)
		return true
	}
	n, err := s.w.Write(c.raw(), b)
	if n > 0 {
		c.lastWrite = now
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, netpoll.ErrWouldBlock):
		c.pending = append(c.pending[:0], b[n:]...)
		c.poff = 0
		c.blockedAt = now
		s.addBacklog(c)
		return true
	default:
		s.finish(c, fmt.Errorf("write: %w", err))
		return false
	}
}

// flush retries the bytes the socket did not take; false when c was finished.
func (s *shard) flush(c *Conn, now time.Duration) bool {
	if len(c.pending) == 0 {
		return true
	}
	n, err := s.w.Write(c.raw(), c.pending[int(c.poff):])
	if n > 0 {
		c.lastWrite, c.blockedAt = now, now
	}
	switch {
	case err == nil:
		if cap(c.pending) > maxKeptBuffer {
			c.pending = nil
		} else {
			c.pending = c.pending[:0]
		}
		c.poff = 0
		s.removeBacklog(c)
		return true
	case errors.Is(err, netpoll.ErrWouldBlock):
		// Written bytes are skipped, not moved: a big backlog drains in many writes.
		c.poff += int32(n)
		if int(c.poff) > len(c.pending)/2 {
			c.pending = c.pending[:copy(c.pending, c.pending[int(c.poff):])]
			c.poff = 0
		}
		return true
	default:
		s.finish(c, fmt.Errorf("write: %w", err))
		return false
	}
}

// sweepTicks is how many ticks one sweep over all members takes: heartbeats and
// keep-alives come at most that many ticks late, and an idle connection costs a quarter
// of the visits a tick-by-tick sweep would (10,000 idle streams cost 14 ms of CPU per
// second at a 250 ms tick when each tick visited all of them).
const sweepTicks = 4

// tick retries pending writes and closes connections that took nothing for WriteTimeout
// (every tick, for the members with a backlog), and lets owners send heartbeats (a
// quarter of the members per tick, so each one every sweepTicks ticks).
func (s *shard) tick(now time.Duration) {
	for i := len(s.backlog) - 1; i >= 0; i-- {
		if i >= len(s.backlog) {
			continue
		}
		s.tickConn(s.backlog[i], now, false)
	}
	n := (len(s.members) + sweepTicks - 1) / sweepTicks
	for ; n > 0 && len(s.members) > 0; n-- {
		// Downwards: finish moves the last member into the slot of the one it removes,
		// and the last ones were visited already in this sweep.
		if s.cursor >= len(s.members) {
			s.cursor = len(s.members) - 1
		}
		if s.cursor < 0 {
			s.cursor = len(s.members) - 1
		}
		c := s.members[s.cursor]
		s.cursor--
		s.tickConn(c, now, true)
	}
	if cap(s.buf) > maxKeptBuffer {
		s.buf = nil
	}
}

// tickConn is one tick's visit of c; owners' Tick runs only with sweep.
func (s *shard) tickConn(c *Conn, now time.Duration, sweep bool) {
	if c.closeReq.Load() {
		s.finish(c, c.requestedClose())
		return
	}
	if len(c.pending) > 0 {
		if now-c.blockedAt >= s.p.opts.WriteTimeout {
			s.p.stats.WriteTimeouts.Add(1)
			s.p.log.Debug().Int("pending_bytes", len(c.pending)-int(c.poff)).Msg("client read nothing for the write timeout: closing its connection")
			s.finish(c, ErrWriteTimeout)
			return
		}
		before := len(c.pending) - int(c.poff)
		if !s.flush(c, now) {
			return
		}
		if len(c.pending)-int(c.poff) < before {
			// The socket took bytes here, so the writable event that would have brought
			// c back to serve (and to its owner's Fill) may already be spent: without
			// this wake a stream whose queue is not empty would never be pulled again,
			// as a push only wakes an empty stream.
			c.Wake()
		}
	}
	pending, busy := s.pending(c)
	if c.last {
		if pending == 0 && !busy {
			s.finish(c, nil)
		}
		return
	}
	if !sweep || pending >= s.p.opts.MaxPendingBytes {
		return
	}
	out := c.owner.Tick(s.buf[:0], now)
	if len(out) > 0 {
		s.send(c, out, now)
	}
	s.buf = out[:0]
}

func (s *shard) addBacklog(c *Conn) {
	if c.bindex < 0 {
		c.bindex = int32(len(s.backlog))
		s.backlog = append(s.backlog, c)
	}
}

func (s *shard) removeBacklog(c *Conn) {
	i := c.bindex
	if i < 0 {
		return
	}
	last := len(s.backlog) - 1
	s.backlog[i] = s.backlog[last]
	s.backlog[i].bindex = i
	s.backlog[last] = nil
	s.backlog = s.backlog[:last]
	c.bindex = -1
}

// discardInput reads what the client sent and reports false once it closed its side or
// the connection failed.
func (s *shard) discardInput(c *Conn) bool {
	rc := c.raw()
	if rc == nil {
		return true
	}
	for range 64 {
		_, err := s.r.Read(rc, s.rbuf[:])
		switch {
		case err == nil:
		case errors.Is(err, netpoll.ErrWouldBlock):
			return true
		default:
			return false
		}
	}
	return true // a client that floods us gets the rest read on its next event
}

// finish closes c's socket, forgets it and tells its owner.
func (s *shard) finish(c *Conn, err error) {
	if c.done {
		return
	}
	c.done = true
	if i := c.index; i >= 0 {
		last := len(s.members) - 1
		s.members[i] = s.members[last]
		s.members[i].index = i
		s.members[last] = nil
		s.members = s.members[:last]
		c.index = -1
	}
	s.removeBacklog(c)
	c.mu.Lock()
	key := c.key
	c.key = 0
	c.mu.Unlock()
	if key != 0 {
		s.p.poller.Remove(c.raw(), key)
	}
	if c.discard {
		// Unread input would turn the close into a reset, which can destroy the final
		// bytes before the client read them.
		s.discardInput(c)
	}
	if c.ext != nil {
		_ = c.ext.nc.Close()
	} else {
		_ = c.fd.Close()
	}
	if bw := c.writer(); bw != nil {
		bw.close()
	}
	c.pending, c.poff = nil, 0
	c.owner.Closed(err)
}
