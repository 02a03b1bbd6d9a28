package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/gobwas/ws"
)

const wsSubprotocol = "graphql-transport-ws"

// errWSClosed ends the read loop when the server sends a close frame.
type errWSClosed struct {
	code   uint16
	reason string
}

func (e errWSClosed) Error() string { return fmt.Sprintf("websocket close %d %s", e.code, e.reason) }

// runWS opens one graphql-transport-ws connection carrying len(subs) subscriptions
// (ids "1".."n") and reads it until the pool closes or the server ends it.
func (p *Pool) runWS(conn int, subs []*Sub, opened func()) {
	nd := p.dialer(conn)
	d := ws.Dialer{
		Protocols:       []string{wsSubprotocol},
		ReadBufferSize:  p.cfg.ReadBuffer,
		WriteBufferSize: p.cfg.ReadBuffer,
		Timeout:         30 * time.Second,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return nd.DialContext(ctx, network, addr)
		},
	}
	u := *p.target
	u.Scheme = "ws"
	c, br, hs, err := d.Dial(p.ctx, u.String())
	failAll := func(reason string) {
		for _, s := range subs {
			s.Failed(reason)
		}
	}
	if err != nil {
		failAll(p.failReason(err))
		return
	}
	defer c.Close()
	stop := context.AfterFunc(p.ctx, func() { _ = c.Close() })
	defer stop()
	if hs.Protocol != wsSubprotocol {
		failAll(fmt.Sprintf("the gateway chose subprotocol %q", hs.Protocol))
		return
	}
	if br == nil {
		br = bufio.NewReaderSize(c, p.cfg.ReadBuffer)
	}
	r := wsReader{br: br, w: c}
	if err := writeWSText(c, []byte(`{"type":"connection_init","payload":{}}`)); err != nil {
		failAll(p.failReason(err))
		return
	}
	if err := r.awaitAck(); err != nil {
		failAll(p.failReason(err))
		return
	}
	// all subscribe messages go out in one write
	var batch bytes.Buffer
	for i, s := range subs {
		msg, _ := json.Marshal(map[string]any{
			"id": strconv.Itoa(i + 1), "type": "subscribe", "payload": p.payload(s),
		})
		_ = ws.WriteFrame(&batch, ws.MaskFrameInPlace(ws.NewTextFrame(msg)))
	}
	if _, err := c.Write(batch.Bytes()); err != nil {
		failAll(p.failReason(err))
		return
	}
	for _, s := range subs {
		s.Opened()
	}
	opened()
	err = r.loop(func(msg []byte, now int64) {
		p.wsMessage(subs, msg, now)
	})
	reason := p.endReason(err)
	var ce errWSClosed
	if errors.As(err, &ce) && p.ctx.Err() == nil {
		reason = ce.Error()
	}
	for _, s := range subs {
		s.End(reason)
	}
}

var (
	typeKey = []byte(`"type":"`)
	idKey   = []byte(`"id":"`)
)

// wsMessage routes one graphql-transport-ws message to its subscription.
func (p *Pool) wsMessage(subs []*Sub, msg []byte, now int64) {
	typ := stringField(msg, typeKey)
	switch string(typ) {
	case "ping":
		// answered in the read loop, which owns the connection's writes
		return
	case "next", "error", "complete":
	default:
		return
	}
	n, err := strconv.Atoi(string(stringField(msg, idKey)))
	if err != nil || n < 1 || n > len(subs) {
		return
	}
	sub := subs[n-1]
	switch string(typ) {
	case "next":
		payload := msg
		if i := bytes.Index(msg, payloadKey); i >= 0 {
			payload = msg[i+len(payloadKey):]
		}
		p.accountResult(sub, payload, now, p.seq.FromResult)
	case "error":
		sub.Error(msg)
		sub.End("error message")
	case "complete":
		sub.End("complete")
	}
}

// stringField returns the string value after key (which ends in the opening quote); it
// does not unescape, which ids and message types never need.
func stringField(msg, key []byte) []byte {
	i := bytes.Index(msg, key)
	if i < 0 {
		return nil
	}
	rest := msg[i+len(key):]
	j := bytes.IndexByte(rest, '"')
	if j < 0 {
		return nil
	}
	return rest[:j]
}

// wsReader reads server frames from br without allocating per frame; control frames are
// answered on w.
type wsReader struct {
	br  *bufio.Reader
	w   io.Writer
	buf []byte // the current message, reused
}

var pingType = []byte(`"type":"ping"`)

// awaitAck reads until connection_ack.
func (r *wsReader) awaitAck() error { return r.read(nil, true) }

// loop reads messages and hands each text message to fn until an error. Protocol pings
// are answered with pongs here.
func (r *wsReader) loop(fn func(msg []byte, now int64)) error {
	return r.read(fn, false)
}

func (r *wsReader) read(fn func(msg []byte, now int64), untilAck bool) error {
	var hdr [14]byte
	for {
		h, err := readWSHeader(r.br, hdr[:])
		if err != nil {
			return err
		}
		now := time.Now().UnixNano()
		if h.length > 16<<20 {
			return fmt.Errorf("websocket frame of %d bytes", h.length)
		}
		if h.op >= 0x8 {
			payload := make([]byte, h.length)
			if _, err := io.ReadFull(r.br, payload); err != nil {
				return err
			}
			switch h.op {
			case 0x8:
				ce := errWSClosed{}
				if len(payload) >= 2 {
					ce.code = binary.BigEndian.Uint16(payload)
					ce.reason = string(payload[2:])
				}
				_ = ws.WriteFrame(r.w, ws.MaskFrameInPlace(ws.NewCloseFrame(payload)))
				return ce
			case 0x9:
				if err := ws.WriteFrame(r.w, ws.MaskFrameInPlace(ws.NewPongFrame(payload))); err != nil {
					return err
				}
			}
			continue
		}
		if h.op != 0x0 { // a new message; continuation frames append
			r.buf = r.buf[:0]
		}
		start := len(r.buf)
		r.buf = slices.Grow(r.buf, int(h.length))[:start+int(h.length)]
		if _, err := io.ReadFull(r.br, r.buf[start:]); err != nil {
			return err
		}
		if !h.fin {
			continue
		}
		msg := r.buf
		if bytes.Contains(msg, pingType) {
			if err := writeWSText(r.w, []byte(`{"type":"pong"}`)); err != nil {
				return err
			}
		}
		if untilAck {
			if string(stringField(msg, typeKey)) == "connection_ack" {
				return nil
			}
			continue
		}
		fn(msg, now)
		if cap(r.buf) > 64<<10 {
			r.buf = nil
		}
	}
}

type wsHeader struct {
	fin    bool
	op     byte
	length int64
}

// readWSHeader reads a server frame header; servers do not mask, so a mask is an error.
func readWSHeader(br *bufio.Reader, scratch []byte) (wsHeader, error) {
	if _, err := io.ReadFull(br, scratch[:2]); err != nil {
		return wsHeader{}, err
	}
	h := wsHeader{fin: scratch[0]&0x80 != 0, op: scratch[0] & 0x0F}
	if scratch[1]&0x80 != 0 {
		return h, errors.New("masked frame from the server")
	}
	switch l := scratch[1] & 0x7F; l {
	case 126:
		if _, err := io.ReadFull(br, scratch[:2]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint16(scratch))
	case 127:
		if _, err := io.ReadFull(br, scratch[:8]); err != nil {
			return h, err
		}
		h.length = int64(binary.BigEndian.Uint64(scratch) & (1<<63 - 1))
	default:
		h.length = int64(l)
	}
	return h, nil
}

// writeWSText writes one masked text frame (clients must mask).
func writeWSText(w io.Writer, p []byte) error {
	return ws.WriteFrame(w, ws.MaskFrameInPlace(ws.NewTextFrame(append([]byte(nil), p...))))
}
