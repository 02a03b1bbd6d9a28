package sse

import (
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/resolve"
)

// maxKeptBuffer bounds the frame buffer a shard keeps between batches, and the pending
// buffer an idle stream keeps; a burst may grow them further, after which they are released.
const maxKeptBuffer = 64 << 10

// pool serves hijacked streams: a poller that reports client disconnects and writable
// sockets, and a fixed set of writer shards that write every stream's frames. It starts
// with the first hijacked stream and stops in Handler.Shutdown after the last one.
type pool struct {
	h      *Handler
	poller *netpoll.Poller
	shards []*shard
	next   atomic.Uint32
	epoch  time.Time // the pool clock: nanoseconds since epoch, monotonic
	tick   time.Duration

	stop      chan struct{}
	wg        sync.WaitGroup
	closeOnce sync.Once

	// Streams are closed on a goroutine of their own: Close runs the hub's unsubscribe,
	// which for a group's last member stops the broker consumer and may wait for it; a
	// shard must not wait for that.
	closeMu     sync.Mutex
	closeQueue  []*resolve.Stream
	closeSignal chan struct{}
	closerStop  chan struct{}
	closerDone  chan struct{}
}

func newPool(h *Handler) (*pool, error) {
	poller, err := netpoll.New()
	if err != nil {
		return nil, err
	}
	p := &pool{
		h: h, poller: poller, epoch: time.Now(), stop: make(chan struct{}),
		closeSignal: make(chan struct{}, 1), closerStop: make(chan struct{}), closerDone: make(chan struct{}),
	}
	// A stream gets its heartbeat, and a stuck one its end, within a quarter interval of
	// the deadline.
	p.tick = max(min(h.heartbeat, h.writeTimeout)/4, time.Millisecond)
	p.shards = make([]*shard, h.shards)
	for i := range p.shards {
		p.shards[i] = &shard{p: p, signal: make(chan struct{}, 1), w: netpoll.NewWriter(), r: netpoll.NewReader()}
	}
	p.wg.Add(len(p.shards))
	for _, s := range p.shards {
		go s.run()
	}
	go p.runCloser()
	return p, nil
}

// closeStream has the closer goroutine close st.
func (p *pool) closeStream(st *resolve.Stream) {
	p.closeMu.Lock()
	p.closeQueue = append(p.closeQueue, st)
	p.closeMu.Unlock()
	select {
	case p.closeSignal <- struct{}{}:
	default:
	}
}

func (p *pool) runCloser() {
	defer close(p.closerDone)
	var batch []*resolve.Stream
	for {
		stop := false
		select {
		case <-p.closerStop:
			stop = true
		case <-p.closeSignal:
		}
		p.closeMu.Lock()
		batch, p.closeQueue = p.closeQueue, batch[:0]
		p.closeMu.Unlock()
		for i, st := range batch {
			st.Close()
			batch[i] = nil
		}
		if stop {
			return
		}
	}
}

func (p *pool) pick() *shard { return p.shards[int(p.next.Add(1))%len(p.shards)] }

func (p *pool) now() int64 { return int64(time.Since(p.epoch)) }

// close stops the shards and the poller; every stream must have finished.
func (p *pool) close() {
	p.closeOnce.Do(func() {
		close(p.stop)
		p.wg.Wait()
		close(p.closerStop) // after the shards: nothing queues streams any more
		<-p.closerDone
		if err := p.poller.Close(); err != nil {
			p.h.log.Warn().Err(err).Msg("stream poller stopped")
		}
	})
}

// shard writes the streams assigned to it. A stream is queued at most once (queued); one
// visit pulls every message it has and sends them with a single non-blocking write. What
// the socket does not take waits in the stream's pending buffer for the next visit, which
// the poller triggers when the socket is writable again, so a client that does not read
// never holds up the others.
type shard struct {
	p      *pool
	mu     sync.Mutex
	ready  []*subscriber
	signal chan struct{}

	// Used only by the shard's goroutine.
	members []*subscriber // every attached stream, for heartbeats and write timeouts
	fb      frameBuffer
	msgs    []resolve.Message
	w       *netpoll.Writer
	r       *netpoll.Reader
	rbuf    [512]byte
}

func (s *shard) enqueue(sub *subscriber) {
	s.mu.Lock()
	first := len(s.ready) == 0
	s.ready = append(s.ready, sub)
	s.mu.Unlock()
	if first { // otherwise a signal is already pending for the list
		select {
		case s.signal <- struct{}{}:
		default:
		}
	}
}

// attach hands a hijacked stream to the shard; its fields are set.
func (s *shard) attach(sub *subscriber) {
	key, err := s.p.poller.Add(sub.rc, netpoll.Readable|netpoll.Writable, true, sub)
	if err != nil {
		// Writes still work; a disconnect shows as a failed write (at the latest at the
		// next heartbeat) and a full socket is retried on every tick.
		s.p.h.log.Debug().Err(err).Msg("stream connection not polled")
	} else {
		sub.key = key
	}
	sub.attached.Store(true)
	// Wake-ups before now went to the wake channel: look at the stream once in any case.
	sub.queued.Store(true)
	s.enqueue(sub)
}

func (s *shard) run() {
	defer s.p.wg.Done()
	ticker := time.NewTicker(s.p.tick)
	defer ticker.Stop()
	var batch []*subscriber
	for {
		select {
		case <-s.p.stop:
			return
		case <-ticker.C:
			s.tick(s.p.now())
			continue
		case <-s.signal:
		}
		s.mu.Lock()
		batch, s.ready = s.ready, batch[:0]
		s.mu.Unlock()
		now := s.p.now()
		for i, sub := range batch {
			s.serve(sub, now)
			batch[i] = nil
		}
		if cap(s.fb.buf) > maxKeptBuffer {
			s.fb.buf = nil
		}
		if cap(batch) > 4096 {
			batch = nil
		}
	}
}

// serve handles whatever woke sub: poller events, queued messages, the end of its stream.
func (s *shard) serve(sub *subscriber, now int64) {
	if !sub.attached.Load() {
		return // attach queues it again
	}
	sub.queued.Store(false) // before Pull: a message pushed after Pull queues sub again
	if sub.done {
		return
	}
	if sub.index < 0 {
		sub.index = len(s.members)
		s.members = append(s.members, sub)
		sub.lastWrite = now
	}
	if ev := netpoll.Event(sub.events.Swap(0)); ev&(netpoll.Readable|netpoll.Hangup) != 0 {
		if !s.discardInput(sub) {
			s.finish(sub)
			return
		}
	}
	if len(sub.pending) > 0 && !s.flushPending(sub, now) {
		return
	}
	if sub.ending {
		if len(sub.pending) == 0 {
			s.finish(sub)
		}
		return
	}

	s.fb.format, s.fb.opened = sub.format, sub.opened
	s.fb.reset()
	msgs, end := sub.stream.Pull(s.msgs[:0])
	for i := range msgs {
		s.fb.next(msgs[i].ID, msgs[i].Payload)
	}
	clear(msgs) // payloads are shared with other subscribers: do not pin them
	s.msgs = msgs[:0]
	if end == nil && sub.shutdown.Load() {
		end = &resolve.End{}
	}
	if end != nil {
		if end.Code != resolve.EndComplete {
			s.p.h.log.Debug().Str("code", end.Code).Str("reason", end.Reason).Msg("subscription stream ended")
			s.fb.fatal(endErrors(*end))
		}
		s.fb.complete()
		sub.ending = true
	}
	sub.opened = s.fb.opened
	if len(s.fb.buf) > 0 && !s.send(sub, s.fb.buf, now) {
		return
	}
	if sub.ending && len(sub.pending) == 0 {
		s.finish(sub)
	}
}

// send writes b, or queues it behind frames still pending. It returns false when sub was
// finished (the write failed).
func (s *shard) send(sub *subscriber, b []byte, now int64) bool {
	if len(sub.pending) > 0 {
		sub.pending = append(sub.pending, b...)
		s.checkPending(sub)
		return true
	}
	n, err := s.w.Write(sub.rc, b)
	if n > 0 {
		sub.lastWrite = now
	}
	switch {
	case err == nil:
		return true
	case errors.Is(err, netpoll.ErrWouldBlock):
		sub.pending = append(sub.pending[:0], b[n:]...)
		sub.blockedAt = now
		s.checkPending(sub)
		return true
	default:
		s.p.h.log.Debug().Err(err).Msg("stream write failed")
		s.finish(sub)
		return false
	}
}

// flushPending retries the frames the socket did not take; false when sub was finished.
func (s *shard) flushPending(sub *subscriber, now int64) bool {
	n, err := s.w.Write(sub.rc, sub.pending)
	if n > 0 {
		sub.lastWrite, sub.blockedAt = now, now
	}
	switch {
	case err == nil:
		if cap(sub.pending) > maxKeptBuffer {
			sub.pending = nil
		} else {
			sub.pending = sub.pending[:0]
		}
		return true
	case errors.Is(err, netpoll.ErrWouldBlock):
		sub.pending = sub.pending[:copy(sub.pending, sub.pending[n:])]
		return true
	default:
		s.p.h.log.Debug().Err(err).Msg("stream write failed")
		s.finish(sub)
		return false
	}
}

// checkPending ends a stream whose client lets more than MaxPendingBytes wait: like the
// hub's slow-consumer policy, it stops its deliveries and queues the SLOW_CONSUMER error and
// the end of the stream behind what is pending; the connection closes when the client has
// read that, or after WriteTimeout.
func (s *shard) checkPending(sub *subscriber) {
	if sub.ending || len(sub.pending) <= s.p.h.maxPending {
		return
	}
	h := s.p.h
	h.slowClients.Add(1)
	h.log.Debug().Int("pending_bytes", len(sub.pending)).Msg("stream client does not keep up: ending it")
	s.p.closeStream(sub.stream)
	sub.ending = true
	var fb frameBuffer
	fb.format, fb.opened, fb.buf = sub.format, sub.opened, sub.pending
	fb.fatal(endErrors(resolve.End{Code: resolve.EndSlowConsumer, Reason: "client did not keep up: more than " + byteCount(h.maxPending) + " waited for it"}))
	fb.complete()
	sub.pending = fb.buf
}

// tick sends heartbeats to silent streams, retries pending writes (in case no writable
// event comes) and ends streams whose client took nothing for WriteTimeout.
func (s *shard) tick(now int64) {
	h := s.p.h
	heartbeat, timeout := int64(h.heartbeat), int64(h.writeTimeout)
	for i := 0; i < len(s.members); i++ {
		sub := s.members[i]
		if len(sub.pending) > 0 {
			if now-sub.blockedAt >= timeout {
				h.log.Debug().Int("pending_bytes", len(sub.pending)).Msg("stream client read nothing for the write timeout: closing it")
				s.finish(sub)
				i-- // finish moved the last member here
				continue
			}
			if !s.flushPending(sub, now) {
				i--
				continue
			}
			if len(sub.pending) > 0 || !sub.ending {
				continue
			}
		}
		if sub.ending { // everything is written
			s.finish(sub)
			i--
			continue
		}
		if now-sub.lastWrite < heartbeat {
			continue
		}
		s.fb.format, s.fb.opened = sub.format, sub.opened
		s.fb.reset()
		s.fb.heartbeat()
		sub.opened = s.fb.opened
		if !s.send(sub, s.fb.buf, now) {
			i--
		}
	}
}

// discardInput reads what the client sent (a client has nothing to say on a stream) and
// reports false once it closed its side or the connection failed.
func (s *shard) discardInput(sub *subscriber) bool {
	for range 64 {
		_, err := s.r.Read(sub.rc, s.rbuf[:])
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

// finish closes sub's connection and stream and forgets it.
func (s *shard) finish(sub *subscriber) {
	sub.done = true
	if i := sub.index; i >= 0 {
		last := len(s.members) - 1
		s.members[i] = s.members[last]
		s.members[i].index = i
		s.members[last] = nil
		s.members = s.members[:last]
		sub.index = -1
	}
	if sub.key != 0 {
		s.p.poller.Remove(sub.rc, sub.key)
	}
	// Unread input would turn the close into a reset, which can destroy the final frames
	// before the client read them.
	s.discardInput(sub)
	_ = sub.conn.Close()
	s.p.closeStream(sub.stream) // Close is idempotent: a slow stream was queued already
	sub.pending = nil
	s.p.h.finishHijacked(sub)
}

// defaultShards is the number of writer shards: enough to use every core for writes,
// few enough that one event's fan-out is written in large batches.
func defaultShards() int { return min(max(2*runtime.GOMAXPROCS(0), 2), 8) }

func byteCount(n int) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.Itoa(n>>20) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.Itoa(n>>10) + " KiB"
	}
	return strconv.Itoa(n) + " bytes"
}
