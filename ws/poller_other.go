//go:build !linux

package ws

import (
	"errors"
	"syscall"
)

func newPoller(*Handler) (poller, error) {
	return nil, errors.New("epoll is only used on Linux")
}

// rawWriter would write without blocking; off Linux every write takes the blocking path.
type rawWriter struct{}

func newRawWriter() *rawWriter { return &rawWriter{} }

func (*rawWriter) write(syscall.RawConn, []byte) (int, error) { return 0, errWouldBlock }
