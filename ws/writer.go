package ws

import (
	"sync"
	"time"

	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// A connection is written by a shard of the handler's netwriter.Pool: conn implements
// netwriter.Owner. One Fill pulls every woken stream and the queued control frames of the
// connection into one write; the pool's slow-client policy applies (see netwriter).

// fillScratch holds the slices one Fill works with, so that they are not kept per
// connection.
type fillScratch struct {
	work    []*subscription
	streams []*resolve.Stream
	msgs    []resolve.Message
}

var scratchPool = sync.Pool{New: func() any { return new(fillScratch) }}

// Fill implements netwriter.Owner: queued frames first, then the results of every woken
// stream, then (on shutdown) a complete per subscription and the 1001 close, or (shutdown
// with reconnect) the 1012 close alone.
func (c *conn) Fill(buf []byte, room int, _ time.Duration) ([]byte, bool) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return buf, false
	}
	buf = append(buf, c.out...)
	c.out = nil
	draining := c.draining
	restart := draining && c.h.restart.Load()
	sc := scratchPool.Get().(*fillScratch)
	work := sc.work[:0]
	if draining {
		c.draining = false
		for _, s := range c.subs {
			s.done = true
		}
		work = append(work, c.subs...)
		c.subs = nil
		clear(c.dirty)
		c.dirty = c.dirty[:0]
	} else {
		work = append(work, c.dirty...)
		clear(c.dirty)
		if cap(c.dirty) > 4 {
			c.dirty = nil // do not keep a burst's list on an idle connection
		} else {
			c.dirty = c.dirty[:0]
		}
	}
	streams := sc.streams[:0]
	for _, s := range work {
		s.dirty = false
		streams = append(streams, s.stream)
	}
	c.mu.Unlock()

	start := len(buf)
	for i, s := range work {
		st := streams[i]
		var end *resolve.End
		if st != nil {
			var msgs []resolve.Message
			if draining {
				msgs, end = st.Pull(sc.msgs[:0])
			} else {
				var more bool
				msgs, end, more = st.PullUpTo(sc.msgs[:0], max(room-(len(buf)-start), 1))
				if more {
					c.wake(s, false) // the rest on the next Fill
				}
			}
			for _, m := range msgs {
				if s.positions {
					buf = appendResultAt(buf, s.id, c.proto.nextType, m.Payload, m.ID)
				} else {
					buf = appendResult(buf, s.id, c.proto.nextType, m.Payload)
				}
			}
			resolve.ObserveDelivered(c.h.delivered, msgs, telemetry.TransportWebSocket)
			clear(msgs)
			sc.msgs = msgs[:0]
		}
		if draining {
			if st != nil {
				st.EndIfOpen(resolve.End{Code: resolve.EndShutdown}) // for its span: not a client that left
			}
			if restart {
				// the client subscribes again elsewhere: no complete, which would end it
				c.h.release(stopped{cancel: s.cancel, stream: st})
				continue
			}
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
	clear(streams)
	if cap(sc.msgs) <= 1024 && cap(work) <= 1024 {
		sc.work, sc.streams = work[:0], streams[:0]
		scratchPool.Put(sc)
	}
	if draining {
		code, reason := c.h.shutdownClose()
		buf = appendCloseFrame(buf, code, reason)
	}
	return buf, false
}

// Tick implements netwriter.Owner: the protocol's keep-alive every PingInterval.
func (c *conn) Tick(buf []byte, now time.Duration) []byte {
	every := c.h.opts.PingInterval
	if every <= 0 || now-c.lastPing < every {
		return buf
	}
	c.lastPing = now
	c.mu.Lock()
	ready := c.state == stateReady
	c.mu.Unlock()
	if !ready {
		return buf
	}
	return append(buf, c.proto.keepAlive...)
}

// Closed implements netwriter.Owner: the socket is closed.
func (c *conn) Closed(err error) {
	if err != nil {
		c.tag(c.h.log.Debug()).Err(err).Msg("websocket connection closed")
	}
	c.teardown()
	c.h.removeConn(c)
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
