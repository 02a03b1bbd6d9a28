// Package netpoll lets a few goroutines serve many idle sockets: a Poller reports socket
// readiness (epoll) to the owner of each registered connection, and Writer and Reader do
// one non-blocking write or read on a connection's raw descriptor without ever parking the
// calling goroutine in the runtime's poller. Transports that hold thousands of mostly idle
// streams (sse, ws) use them so that a connection costs memory, not a goroutine.
//
// Only Linux is supported; elsewhere New, Writer and Reader return errors.ErrUnsupported
// and callers keep a goroutine per connection (Supported tells them up front).
//
// A connection stays registered with the Go runtime's own poller as well: netpoll only adds
// a second, goroutine-free way to wait for it, so the net.Conn keeps working (Close,
// SetDeadline, blocking Read and Write in a fallback) and is closed the usual way. A
// caller that needs nothing of the net.Conn (a stream that only writes and discards its
// input) may take the descriptor instead (TakeFD) and close the net.Conn, which saves
// what the runtime keeps per connection.
package netpoll

import (
	"errors"
	"fmt"
	"net"
	"syscall"
)

// Event is a set of readiness conditions.
type Event uint32

const (
	// Readable: data, or the end of the stream, can be read.
	Readable Event = 1 << iota
	// Writable: the send buffer has room again.
	Writable
	// Hangup: the peer closed its side or the socket failed; a read returns the outcome.
	Hangup
)

// ErrWouldBlock reports that a socket could not take (Writer) or had nothing to give
// (Reader) without waiting.
var ErrWouldBlock = errors.New("netpoll: operation would block")

// Target receives the readiness of one registered connection.
type Target interface {
	// Ready is called from the poller's goroutine, one call at a time for the whole poller,
	// so it must not block; it may still be called once after Remove returned.
	Ready(ev Event)
}

// RawConn returns the raw descriptor access of c. Only connections that implement
// syscall.Conn qualify (*net.TCPConn, *net.UnixConn, and wrappers that forward
// SyscallConn on purpose): a wrapper that transforms bytes, such as *tls.Conn, must not
// be bypassed.
func RawConn(c net.Conn) (syscall.RawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("netpoll: %T does not expose its descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: raw conn of %T: %w", c, err)
	}
	return rc, nil
}
