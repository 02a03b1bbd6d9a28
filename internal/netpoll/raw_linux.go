//go:build linux

package netpoll

import (
	"errors"
	"io"
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
