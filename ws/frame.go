package ws

import (
	"encoding/binary"
	"errors"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xA
)

// WebSocket close codes used by both protocols (RFC 6455 section 7.4.1).
const (
	closeNormal         = 1000
	closeGoingAway      = 1001
	closeServiceRestart = 1012
	closeProtocolError  = 1002
	closeInvalidData    = 1007
	closeTooBig         = 1009
)

// errFrame is a violation of RFC 6455 framing; the connection is closed with 1002.
var errFrame = errors.New("websocket protocol error")

// frameHeader is a parsed client-to-server frame header.
type frameHeader struct {
	fin    bool
	op     byte
	mask   [4]byte
	length int64 // payload length
	size   int   // header length in bytes
}

// parseFrameHeader parses the header at the start of b. ok is false when b does not yet hold
// the whole header. Clients must mask every frame and we negotiate no extensions, so RSV
// bits and unmasked frames are protocol errors.
func parseFrameHeader(b []byte) (h frameHeader, ok bool, err error) {
	if len(b) < 2 {
		return h, false, nil
	}
	if b[0]&0x70 != 0 {
		return h, false, errFrame
	}
	h.fin = b[0]&0x80 != 0
	h.op = b[0] & 0x0F
	if b[1]&0x80 == 0 {
		return h, false, errFrame
	}
	h.size = 2
	switch l := b[1] & 0x7F; l {
	case 126:
		if len(b) < 4 {
			return h, false, nil
		}
		h.length = int64(binary.BigEndian.Uint16(b[2:4]))
		h.size = 4
	case 127:
		if len(b) < 10 {
			return h, false, nil
		}
		u := binary.BigEndian.Uint64(b[2:10])
		if u>>63 != 0 {
			return h, false, errFrame
		}
		h.length = int64(u)
		h.size = 10
	default:
		h.length = int64(l)
	}
	if len(b) < h.size+4 {
		return h, false, nil
	}
	copy(h.mask[:], b[h.size:h.size+4])
	h.size += 4
	switch h.op {
	case opContinuation, opText, opBinary:
	case opClose, opPing, opPong:
		if !h.fin || h.length > 125 {
			return h, false, errFrame
		}
	default:
		return h, false, errFrame
	}
	return h, true, nil
}

// unmask reverses the client's masking of payload in place.
func unmask(payload []byte, mask [4]byte) { ws.Cipher(payload, mask, 0) }

// appendFrameHeader appends the header of an unmasked, final server-to-client frame.
func appendFrameHeader(dst []byte, op byte, n int) []byte {
	dst = append(dst, 0x80|op)
	switch {
	case n < 126:
		return append(dst, byte(n))
	case n <= 0xFFFF:
		return append(dst, 126, byte(n>>8), byte(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, 127), uint64(n))
	}
}

// appendFrame appends a whole frame carrying payload.
func appendFrame(dst []byte, op byte, payload []byte) []byte {
	return append(appendFrameHeader(dst, op, len(payload)), payload...)
}

// appendCloseFrame appends a close frame. The reason is cut to fit the 125-byte limit of
// control frames without splitting a UTF-8 sequence.
func appendCloseFrame(dst []byte, code int, reason string) []byte {
	if len(reason) > 123 {
		reason = reason[:123]
		for len(reason) > 0 && !utf8.ValidString(reason) {
			reason = reason[:len(reason)-1]
		}
	}
	dst = appendFrameHeader(dst, opClose, 2+len(reason))
	dst = binary.BigEndian.AppendUint16(dst, uint16(code))
	return append(dst, reason...)
}

// parseCloseCode reads the status code of a received close frame's payload; 1005 (no
// status) when it carries none.
func parseCloseCode(payload []byte) int {
	if len(payload) < 2 {
		return 1005
	}
	return int(binary.BigEndian.Uint16(payload))
}
