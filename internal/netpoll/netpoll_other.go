//go:build !linux

package netpoll

import (
	"errors"
	"net"
	"syscall"
)

// Supported reports whether this platform has a Poller and raw writes.
const Supported = false

// Key identifies a registration.
type Key uint32

// Poller is not available off Linux.
type Poller struct{}

// New fails with errors.ErrUnsupported off Linux.
func New() (*Poller, error) { return nil, errors.ErrUnsupported }

func (*Poller) Add(syscall.RawConn, Event, bool, Target) (Key, error) {
	return 0, errors.ErrUnsupported
}
func (*Poller) Remove(syscall.RawConn, Key) {}
func (*Poller) Len() int                    { return 0 }
func (*Poller) Close() error                { return nil }
func (*Poller) Done() <-chan struct{}       { return nil }

// Writer is not available off Linux: Write always fails with errors.ErrUnsupported.
type Writer struct{}

func NewWriter() *Writer                                   { return &Writer{} }
func (*Writer) Write(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }

// Reader is not available off Linux: Read always fails with errors.ErrUnsupported.
type Reader struct{}

func NewReader() *Reader                                  { return &Reader{} }
func (*Reader) Read(syscall.RawConn, []byte) (int, error) { return 0, errors.ErrUnsupported }

// FD is not available off Linux.
type FD struct{}

func (*FD) Control(func(fd uintptr)) error    { return errors.ErrUnsupported }
func (*FD) Read(func(fd uintptr) bool) error  { return errors.ErrUnsupported }
func (*FD) Write(func(fd uintptr) bool) error { return errors.ErrUnsupported }
func (*FD) Close() error                      { return errors.ErrUnsupported }

// TakeFD fails with errors.ErrUnsupported off Linux.
func TakeFD(net.Conn) (FD, error) { return FD{}, errors.ErrUnsupported }
