//go:build linux

package netpoll

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// Writer writes to sockets without waiting: what the socket does not take now is left to
// the caller (ErrWouldBlock). One Writer belongs to one goroutine at a time; its function
// value is bound once so that a write does not allocate.
type Writer struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// NewWriter returns a Writer.
func NewWriter() *Writer {
	w := &Writer{}
	w.fn = w.writeFD
	return w
}

func (w *Writer) writeFD(fd uintptr) bool {
	for {
		w.n, w.err = unix.Write(int(fd), w.b)
		if !errors.Is(w.err, unix.EINTR) {
			return true // never park in the runtime's poller
		}
	}
}

// Write sends as much of b as the socket takes now and returns how much that was; when
// that is not all of b the error is ErrWouldBlock (or the write's failure).
func (w *Writer) Write(rc syscall.RawConn, b []byte) (int, error) {
	total := 0
	for total < len(b) {
		w.b = b[total:]
		err := rc.Write(w.fn)
		w.b = nil
		if err != nil {
			return total, err
		}
		if errors.Is(w.err, unix.EAGAIN) {
			return total, ErrWouldBlock
		}
		if w.err != nil {
			return total, w.err
		}
		total += w.n
	}
	return total, nil
}

// Reader reads from sockets without waiting. Like Writer it belongs to one goroutine.
type Reader struct {
	b   []byte
	n   int
	err error
	fn  func(fd uintptr) bool
}

// NewReader returns a Reader.
func NewReader() *Reader {
	r := &Reader{}
	r.fn = r.readFD
	return r
}

func (r *Reader) readFD(fd uintptr) bool {
	for {
		r.n, r.err = unix.Read(int(fd), r.b)
		if !errors.Is(r.err, unix.EINTR) {
			return true
		}
	}
}

// Read does one read(2) into b: ErrWouldBlock when nothing is there, io.EOF when the peer
// closed its side.
func (r *Reader) Read(rc syscall.RawConn, b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	r.b = b
	err := rc.Read(r.fn)
	r.b = nil
	switch {
	case err != nil:
		return 0, err
	case errors.Is(r.err, unix.EAGAIN):
		return 0, ErrWouldBlock
	case r.err != nil:
		return 0, r.err
	case r.n == 0:
		return 0, io.EOF
	}
	return r.n, nil
}

// FD is a socket descriptor owned outright, without a net.Conn (TakeFD): as a
// syscall.RawConn it runs each function once, at once, on the calling goroutine, and
// reports ErrWouldBlock when one asks to wait (a function given to it never parks). Its
// owner must not use it after Close, nor close it while another goroutine uses it: the
// descriptor's number may be reused at once.
type FD struct{ fd int32 }

// Control implements syscall.RawConn.
func (f *FD) Control(fn func(fd uintptr)) error {
	fn(uintptr(f.fd))
	return nil
}

// Read implements syscall.RawConn.
func (f *FD) Read(fn func(fd uintptr) bool) error {
	if !fn(uintptr(f.fd)) {
		return ErrWouldBlock
	}
	return nil
}

// Write implements syscall.RawConn.
func (f *FD) Write(fn func(fd uintptr) bool) error {
	if !fn(uintptr(f.fd)) {
		return ErrWouldBlock
	}
	return nil
}

// Close closes the descriptor.
func (f *FD) Close() error { return unix.Close(int(f.fd)) }

// TakeFD duplicates the descriptor of c, a *net.TCPConn or *net.UnixConn, for a caller
// that then closes c and keeps only the descriptor: a net.Conn costs about 0.3 KiB of
// heap (its netFD and two addresses) and 0.5 KiB outside it (the runtime poller's
// record, a finaliser) for as long as it is open, which for an idle stream served
// through a Poller buys nothing. The duplicate shares c's socket, non-blocking as Go
// sets it; closing c then leaves the socket open. Wrappers are refused: their Close may
// do more than close the socket (give back a connection slot).
func TakeFD(c net.Conn) (FD, error) {
	switch c.(type) {
	case *net.TCPConn, *net.UnixConn:
	default:
		return FD{fd: -1}, fmt.Errorf("netpoll: %T is not a bare socket", c)
	}
	rc, err := RawConn(c)
	if err != nil {
		return FD{fd: -1}, err
	}
	nfd, dupErr := -1, error(nil)
	if err := rc.Control(func(fd uintptr) {
		nfd, dupErr = unix.FcntlInt(fd, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return FD{fd: -1}, fmt.Errorf("netpoll: raw conn: %w", err)
	}
	if dupErr != nil {
		return FD{fd: -1}, fmt.Errorf("netpoll: dup: %w", dupErr)
	}
	return FD{fd: int32(nfd)}, nil
}
