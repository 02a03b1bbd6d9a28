//go:build linux

package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// readBufferSize is the epoll loop's read buffer, shared by every connection it serves;
// a frame that spans reads is kept on its connection until complete.
const readBufferSize = 64 << 10

// epoller is one level-triggered epoll set read by one goroutine. Its event data carries a
// connection id rather than the fd, so a descriptor number reused after a close never
// reaches the wrong connection.
type epoller struct {
	h      *Handler
	epfd   int
	wakefd int // an eventfd with id 0: close writes it to end the loop

	mu    sync.Mutex
	conns map[uint32]*conn
	next  uint32

	// Used only by the loop goroutine; readFn is bound once so reads do not allocate.
	buf    []byte
	n      int
	err    error
	readFn func(fd uintptr) bool
}

func newPoller(h *Handler) (poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: 0}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("epoll add eventfd: %w", err)
	}
	p := &epoller{h: h, epfd: epfd, wakefd: wakefd, conns: make(map[uint32]*conn), buf: make([]byte, readBufferSize)}
	p.readFn = p.readFD
	h.goroutines.Add(1)
	go p.loop()
	return p, nil
}

func (p *epoller) add(c *conn) error {
	p.mu.Lock()
	p.next++
	if p.next == 0 { // 0 is the eventfd
		p.next++
	}
	id := p.next
	c.pollID = id
	p.conns[id] = c
	p.mu.Unlock()
	var ctlErr error
	err := c.rc.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd),
			&unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(id)})
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		p.mu.Lock()
		delete(p.conns, id)
		p.mu.Unlock()
		return fmt.Errorf("epoll add: %w", err)
	}
	// A teardown that ran before the registration found nothing to remove.
	c.mu.Lock()
	closed := c.state == stateClosed
	c.mu.Unlock()
	if closed {
		p.remove(c)
	}
	return nil
}

func (p *epoller) remove(c *conn) {
	_ = c.rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Lock()
	delete(p.conns, c.pollID)
	p.mu.Unlock()
}

func (p *epoller) close() {
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	_, _ = unix.Write(p.wakefd, one[:])
}

func (p *epoller) loop() {
	defer p.h.goroutines.Done()
	defer func() {
		_ = unix.Close(p.epfd)
		_ = unix.Close(p.wakefd)
	}()
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.h.log.Error().Err(err).Msg("epoll_wait failed: WebSocket reads stopped")
			return
		}
		for i := range n {
			id := uint32(events[i].Fd)
			if id == 0 {
				return
			}
			p.mu.Lock()
			c := p.conns[id]
			p.mu.Unlock()
			if c != nil {
				p.read(c)
			}
		}
	}
}

// read takes what the socket holds (the loop comes back for the rest: level-triggered).
func (p *epoller) read(c *conn) {
	if err := c.rc.Read(p.readFn); err != nil {
		c.teardown() // the socket was closed meanwhile
		return
	}
	n, err := p.n, p.err
	switch {
	case errors.Is(err, unix.EAGAIN), errors.Is(err, unix.EINTR):
	case err != nil, n == 0:
		c.teardown()
	default:
		c.feed(p.buf[:n])
	}
}

func (p *epoller) readFD(fd uintptr) bool {
	p.n, p.err = unix.Read(int(fd), p.buf)
	return true // never wait in the runtime's poller: we come back on the next event
}

// rawWriter writes to a socket without blocking; a writer shard binds one.
type rawWriter struct {
	b       []byte
	n       int
	err     error
	writeFn func(fd uintptr) bool
}

func newRawWriter() *rawWriter {
	w := &rawWriter{}
	w.writeFn = w.writeFD
	return w
}

func (w *rawWriter) writeFD(fd uintptr) bool {
	for {
		w.n, w.err = unix.Write(int(fd), w.b)
		if !errors.Is(w.err, unix.EINTR) {
			return true
		}
	}
}

// write sends as much of b as the socket takes now; errWouldBlock reports the rest.
func (w *rawWriter) write(rc syscall.RawConn, b []byte) (int, error) {
	total := 0
	for total < len(b) {
		w.b = b[total:]
		err := rc.Write(w.writeFn)
		w.b = nil
		if err != nil {
			return total, err
		}
		if errors.Is(w.err, unix.EAGAIN) {
			return total, errWouldBlock
		}
		if w.err != nil {
			return total, w.err
		}
		total += w.n
	}
	return total, nil
}
