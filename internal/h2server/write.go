package h2server

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgate/edgate/internal/netwriter"
)

var errConnClosed = errors.New("http2: connection closed")

// Fill implements netwriter.Owner: control frames, then the headers and DATA of every
// ready stream within the flow-control windows. HPACK state changes here only, in the
// order the header blocks go on the wire.
func (c *conn) Fill(dst []byte, room int, now time.Duration) ([]byte, bool) {
	c.collectWoken()
	c.mu.Lock()
	dst, closed := c.fillLocked(dst, room, now)
	last := c.lastLocked()
	c.mu.Unlock()
	for _, b := range closed {
		b.Closed(nil)
	}
	return dst, last
}

// Tick implements netwriter.Owner: heartbeats of detached bodies, and the idle timeout.
func (c *conn) Tick(dst []byte, now time.Duration) []byte {
	c.mu.Lock()
	if t := c.srv.opts.IdleTimeout; t > 0 && len(c.streams) == 0 && !c.goingAway && now-c.idleSince >= t {
		c.goingAway = true
		c.lastID = c.maxClientID
		c.ctrl = appendGoAway(c.ctrl, c.lastID, http2.ErrCodeNo)
	}
	if now >= c.tickDue {
		c.tickDue = c.tickBodiesLocked(now)
	}
	dst, closed := c.fillLocked(dst, 1<<30, now)
	if c.lastLocked() {
		c.wc.Wake() // the next Fill closes the connection
	}
	c.mu.Unlock()
	for _, b := range closed {
		b.Closed(nil)
	}
	return dst
}

// tickBodiesLocked asks the detached bodies that may have something (a heartbeat) for it,
// and returns when the next of them may: a body that does not tell (netwriter.TickDuer)
// is asked every sweep.
func (c *conn) tickBodiesLocked(now time.Duration) time.Duration {
	next := time.Duration(math.MaxInt64)
	for _, st := range c.streams {
		if st.body == nil || st.finished || st.endSent {
			continue
		}
		if d, ok := st.body.(netwriter.TickDuer); ok {
			if due := d.TickDue(); due > now {
				next = min(next, due)
				continue
			}
		}
		next = now
		if len(st.out) > 0 {
			continue
		}
		if b := st.body.Tick(nil, now); len(b) > 0 {
			st.out = b
			c.readyLocked(st)
		}
	}
	return next
}

// Closed implements netwriter.Owner: the connection is gone; so is every stream.
func (c *conn) Closed(err error) {
	if err == nil {
		err = errConnClosed
	}
	c.mu.Lock()
	c.dead = true
	if c.closeTimer != nil {
		c.closeTimer.Stop()
	}
	var bodies []netwriter.Body
	for _, st := range c.streams {
		if b := c.removeLocked(st, true, err); b != nil {
			bodies = append(bodies, b)
		}
	}
	c.ready, c.connBlocked, c.ctrl = nil, nil, nil
	c.mu.Unlock()
	for _, b := range bodies {
		b.Closed(err)
	}
	close(c.done)
}

// collectWoken moves the detached bodies that woke into the ready list.
func (c *conn) collectWoken() {
	c.wakeMu.Lock()
	list := c.woken
	c.woken = nil
	c.wakeMu.Unlock()
	if len(list) == 0 {
		return
	}
	c.mu.Lock()
	for _, st := range list {
		st.woken.Store(false) // before Next: a wake-up during it lists st again
		if st.removed {
			continue
		}
		st.bodyWoken = true
		if len(st.out) == 0 || st.sendWindow > 0 && c.sendWindow > 0 {
			c.readyLocked(st)
		}
	}
	c.mu.Unlock()
}

// lastLocked tells Fill to close the connection once its bytes are written: after a
// graceful GOAWAY (ours or the client's) when no stream is left.
func (c *conn) lastLocked() bool {
	return !c.dead && !c.fatal && (c.goingAway || c.peerGoAway) && len(c.streams) == 0 && len(c.ctrl) == 0
}

func (c *conn) fillLocked(dst []byte, room int, now time.Duration) ([]byte, []netwriter.Body) {
	start := len(dst)
	dst = append(dst, c.ctrl...)
	if cap(c.ctrl) > 64<<10 {
		c.ctrl = nil
	} else {
		c.ctrl = c.ctrl[:0]
	}
	var closed []netwriter.Body
	i := 0
	for ; i < len(c.ready); i++ {
		used := len(dst) - start
		if used >= room {
			break
		}
		st := c.ready[i]
		c.ready[i] = nil
		st.inReady = false
		if st.removed {
			continue
		}
		dst = c.serveLocked(st, dst, room-used, now, &closed)
	}
	if i < len(c.ready) {
		n := copy(c.ready, c.ready[i:])
		clear(c.ready[n:])
		c.ready = c.ready[:n]
		c.wc.Wake() // the rest after this write
	} else {
		clear(c.ready)
		if cap(c.ready) > 1024 {
			c.ready = nil
		} else {
			c.ready = c.ready[:0]
		}
	}
	// control frames queued meanwhile (RST_STREAM of a finished stream)
	dst = append(dst, c.ctrl...)
	c.ctrl = c.ctrl[:0]
	return dst, closed
}

// gatherLocked fetches st's next bytes into st.out: from its handler, then from its
// detached body when that was woken.
func (c *conn) gatherLocked(st *stream, room int, now time.Duration) {
	if len(st.out) > 0 || st.finished {
		return
	}
	if st.rw != nil {
		out, done, detached := st.rw.take(st.out[:0])
		st.out = out
		if done {
			st.rw = nil
			if !detached {
				st.finished = true
				return
			}
		}
		if len(st.out) > 0 || !detached {
			return
		}
	}
	if st.body != nil && st.bodyWoken {
		st.bodyWoken = false
		if st.out == nil {
			st.out, c.scratch = c.scratch[:0], nil
		}
		st.out, st.bodyDone = st.body.Next(st.out, room, now)
		st.finished = st.bodyDone
	}
}

// serveLocked frames what st has: headers, then DATA within both windows. A stream left
// with bytes but no window waits for WINDOW_UPDATE.
func (c *conn) serveLocked(st *stream, dst []byte, room int, now time.Duration, closed *[]netwriter.Body) []byte {
	start := len(dst)
	c.gatherLocked(st, room, now)
	if st.hdr != nil {
		end := st.finished && len(st.out) == 0
		dst = c.appendHeadersLocked(dst, st.id, st.hdr, end)
		st.hdr = nil
		st.endSent = end
	}
	for !st.endSent && (len(st.out) > 0 || st.finished) {
		if len(st.out) == 0 {
			dst = appendData(dst, st.id, nil, true)
			st.endSent = true
			break
		}
		n := min(int64(len(st.out)), st.sendWindow, c.sendWindow)
		if n <= 0 {
			if c.sendWindow <= 0 {
				c.connBlocked = append(c.connBlocked, st)
			}
			break // WINDOW_UPDATE lists st again
		}
		for off := int64(0); off < n; {
			size := min(n-off, int64(c.peer.maxFrame))
			end := st.finished && off+size == int64(len(st.out))
			dst = appendData(dst, st.id, st.out[off:off+size], end)
			st.endSent = end
			off += size
		}
		st.sendWindow -= n
		c.sendWindow -= n
		st.out = st.out[:copy(st.out, st.out[n:])]
		if len(st.out) > 0 || st.endSent {
			break
		}
		if len(dst)-start >= room {
			if st.bodyWoken || st.rw != nil {
				c.readyLocked(st) // more later
			}
			break
		}
		c.gatherLocked(st, room-(len(dst)-start), now)
	}
	if len(st.out) == 0 && st.out != nil {
		// an idle stream keeps no buffer; the connection reuses it
		if cap(st.out) <= 64<<10 && cap(st.out) > cap(c.scratch) {
			c.scratch = st.out[:0]
		}
		st.out = nil
	}
	if st.endSent {
		if st.body != nil && st.bodyDone {
			*closed = append(*closed, st.body)
			st.body = nil
		}
		if st.remoteDone {
			c.removeLocked(st, false, nil)
		} else {
			// the client is still sending a body nobody will read
			c.ctrl = appendRSTStream(c.ctrl, st.id, http2.ErrCodeNo)
			c.removeLocked(st, true, nil)
		}
	}
	return dst
}

// appendHeadersLocked encodes a response head into HEADERS and CONTINUATION frames.
func (c *conn) appendHeadersLocked(dst []byte, id uint32, h *responseHead, end bool) []byte {
	c.encBuf.Reset()
	_ = c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: strconv.Itoa(h.status)})
	for k, vs := range h.header {
		name := strings.ToLower(k)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue // connection-specific: forbidden in HTTP/2
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vs {
			if httpguts.ValidHeaderFieldValue(v) {
				_ = c.enc.WriteField(hpack.HeaderField{Name: name, Value: v})
			}
		}
	}
	block := c.encBuf.Bytes()
	first := true
	for first || len(block) > 0 {
		n := min(len(block), c.peer.maxFrame)
		frag := block[:n]
		block = block[n:]
		var flags http2.Flags
		typ := http2.FrameContinuation
		if len(block) == 0 {
			flags |= http2.FlagHeadersEndHeaders
		}
		if first {
			typ = http2.FrameHeaders
			if end {
				flags |= http2.FlagHeadersEndStream
			}
		}
		dst = appendFrameHeader(dst, len(frag), typ, flags, id)
		dst = append(dst, frag...)
		first = false
	}
	if c.encBuf.Cap() > 64<<10 {
		c.encBuf = bytes.Buffer{} // the encoder writes through a pointer to the field
	}
	return dst
}

// Frame encoding (RFC 9113 section 4.1 and 6).

func appendFrameHeader(dst []byte, length int, typ http2.FrameType, flags http2.Flags, id uint32) []byte {
	return append(dst, byte(length>>16), byte(length>>8), byte(length), byte(typ), byte(flags),
		byte(id>>24)&0x7f, byte(id>>16), byte(id>>8), byte(id))
}

func appendData(dst []byte, id uint32, data []byte, end bool) []byte {
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	return append(appendFrameHeader(dst, len(data), http2.FrameData, flags, id), data...)
}

func appendSettings(dst []byte, settings []http2.Setting) []byte {
	dst = appendFrameHeader(dst, 6*len(settings), http2.FrameSettings, 0, 0)
	for _, s := range settings {
		dst = binary.BigEndian.AppendUint16(dst, uint16(s.ID))
		dst = binary.BigEndian.AppendUint32(dst, s.Val)
	}
	return dst
}

func appendSettingsAck(dst []byte) []byte {
	return appendFrameHeader(dst, 0, http2.FrameSettings, http2.FlagSettingsAck, 0)
}

func appendWindowUpdate(dst []byte, id, inc uint32) []byte {
	return binary.BigEndian.AppendUint32(appendFrameHeader(dst, 4, http2.FrameWindowUpdate, 0, id), inc&0x7fffffff)
}

func appendPing(dst []byte, data [8]byte, ack bool) []byte {
	var flags http2.Flags
	if ack {
		flags = http2.FlagPingAck
	}
	return append(appendFrameHeader(dst, 8, http2.FramePing, flags, 0), data[:]...)
}

func appendGoAway(dst []byte, lastID uint32, code http2.ErrCode) []byte {
	dst = appendFrameHeader(dst, 8, http2.FrameGoAway, 0, 0)
	dst = binary.BigEndian.AppendUint32(dst, lastID&0x7fffffff)
	return binary.BigEndian.AppendUint32(dst, uint32(code))
}

func appendRSTStream(dst []byte, id uint32, code http2.ErrCode) []byte {
	return binary.BigEndian.AppendUint32(appendFrameHeader(dst, 4, http2.FrameRSTStream, 0, id), uint32(code))
}
