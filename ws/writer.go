package ws

import (
	"errors"
	"sync"
	"time"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/resolve"
)

// errWouldBlock reports a non-blocking write that could not send everything.
var errWouldBlock = netpoll.ErrWouldBlock

// maxKeptBuffer bounds the write buffer a shard keeps between flushes; a burst may grow it
// further, after which it is released.
const maxKeptBuffer = 1 << 20

// writerShard writes the connections assigned to it. A connection is queued at most once
// (conn.scheduled); one flush pulls every woken stream and the queued control frames of
// the connection and sends them in a single write.
type writerShard struct {
	h      *Handler
	mu     sync.Mutex
	queue  []*conn
	signal chan struct{}

	// Used only by the shard's goroutine.
	buf     []byte
	work    []*subscription
	streams []*resolve.Stream
	msgs    []resolve.Message
	raw     *netpoll.Writer
}

func newWriterShard(h *Handler) *writerShard {
	return &writerShard{h: h, signal: make(chan struct{}, 1), raw: netpoll.NewWriter()}
}

func (w *writerShard) schedule(c *conn) {
	w.mu.Lock()
	w.queue = append(w.queue, c)
	w.mu.Unlock()
	select {
	case w.signal <- struct{}{}:
	default:
	}
}

func (w *writerShard) run(stop <-chan struct{}) {
	defer w.h.goroutines.Done()
	var batch []*conn
	for {
		select {
		case <-stop:
			return
		case <-w.signal:
		}
		w.mu.Lock()
		batch, w.queue = w.queue, batch[:0]
		w.mu.Unlock()
		for i, c := range batch {
			c.flush(w)
			batch[i] = nil
		}
	}
}

// flush writes everything pending on c: queued frames first, then the results of every
// woken stream, then (on shutdown) a complete per subscription and the 1001 close.
func (c *conn) flush(w *writerShard) {
	buf := w.buf[:0]
	c.mu.Lock()
	c.scheduled = false
	if c.writing || c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	buf = append(buf, c.out...)
	c.out = nil
	draining := c.draining
	work := w.work[:0]
	if draining {
		c.draining = false
		for _, s := range c.subs {
			s.done = true
		}
		work = append(work, c.subs...)
		c.subs = nil
		clear(c.dirty)
	} else {
		work = append(work, c.dirty...)
		clear(c.dirty)
	}
	if cap(c.dirty) > 4 {
		c.dirty = nil // do not keep a burst's list on an idle connection
	} else {
		c.dirty = c.dirty[:0]
	}
	streams := w.streams[:0]
	for _, s := range work {
		s.dirty = false
		streams = append(streams, s.stream)
	}
	c.mu.Unlock()

	for i, s := range work {
		st := streams[i]
		var end *resolve.End
		if st != nil {
			var msgs []resolve.Message
			msgs, end = st.Pull(w.msgs[:0])
			for _, m := range msgs {
				buf = appendResult(buf, s.prefix, m.Payload)
			}
			clear(msgs)
			w.msgs = msgs[:0]
		}
		if draining {
			end = &resolve.End{}
		}
		if end == nil {
			continue
		}
		if !draining && !c.endLocked(s) {
			continue // stopped by the client meanwhile: it wants no reply
		}
		if end.Code == resolve.EndComplete {
			buf = appendMessage(buf, s.id, "complete", nil)
		} else {
			buf = appendMessage(buf, s.id, "error", endErrors(end))
		}
		c.h.release(stopped{cancel: s.cancel, stream: st})
	}
	clear(work)
	w.work = work[:0]
	clear(streams)
	w.streams = streams[:0]
	if draining {
		buf = appendCloseFrame(buf, closeGoingAway, "server shutting down")
	}
	if len(buf) > 0 {
		c.write(w, buf)
	}
	if cap(buf) > maxKeptBuffer {
		buf = nil
	}
	w.buf = buf
}

// endLocked removes s whose stream ended; false when the client stopped it first.
func (c *conn) endLocked(s *subscription) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.done {
		return false
	}
	c.detachLocked(s)
	return true
}

// write sends b without blocking the shard: what the socket does not take at once is
// handed to a goroutine that writes it with WriteTimeout, so one slow client never delays
// the others of the shard.
func (c *conn) write(w *writerShard, b []byte) {
	n := 0
	err := errWouldBlock
	if c.rc != nil && netpoll.Supported {
		n, err = w.raw.Write(c.rc, b)
	}
	if err == nil {
		return
	}
	if !errors.Is(err, errWouldBlock) {
		c.h.log.Debug().Err(err).Msg("websocket write failed")
		c.teardown()
		return
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.writing = true
	c.pending = append(c.pending[:0], b[n:]...)
	c.h.goroutines.Add(1)
	c.mu.Unlock()
	go c.writeSlow()
}

func (c *conn) writeSlow() {
	defer c.h.goroutines.Done()
	c.mu.Lock()
	b := c.pending
	c.mu.Unlock()
	_ = c.nc.SetWriteDeadline(time.Now().Add(c.h.opts.WriteTimeout))
	_, err := c.nc.Write(b)
	if err != nil {
		c.h.log.Debug().Err(err).Msg("websocket write failed")
		c.teardown()
		return
	}
	_ = c.nc.SetWriteDeadline(time.Time{})
	c.mu.Lock()
	c.writing = false
	c.pending = nil
	sched := false
	if len(c.out) > 0 || len(c.dirty) > 0 || c.draining {
		sched = c.markScheduledLocked()
	}
	c.mu.Unlock()
	if sched {
		c.shard.schedule(c)
	}
}
