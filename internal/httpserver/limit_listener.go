package httpserver

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/rs/zerolog"
)

// limitListener closes connections beyond max instead of queueing them: a client that
// cannot be served is told so at once (its connection is reset) rather than hanging.
type limitListener struct {
	net.Listener
	max    int64
	active atomic.Int64
	log    zerolog.Logger
}

func newLimitListener(ln net.Listener, max int, log zerolog.Logger) *limitListener {
	return &limitListener{Listener: ln, max: int64(max), log: log}
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if n := l.active.Add(1); n > l.max {
			l.active.Add(-1)
			l.log.Warn().Str("remote", c.RemoteAddr().String()).Int64("max_connections", l.max).
				Msg("connection refused: the server is at its connection limit")
			_ = c.Close()
			continue
		}
		return &limitedConn{Conn: c, release: func() { l.active.Add(-1) }}, nil
	}
}

// limitedConn gives its slot back once, however often it is closed.
type limitedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

func (c *limitedConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(c.release)
	return err
}

// SyscallConn exposes the socket so that transports which read through epoll (ws, sse)
// keep working when a connection limit is configured.
func (c *limitedConn) SyscallConn() (syscall.RawConn, error) {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return nil, errors.New("connection has no raw socket")
	}
	return sc.SyscallConn()
}
