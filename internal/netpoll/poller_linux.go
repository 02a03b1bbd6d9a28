//go:build linux

package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Supported reports whether this platform has a Poller and raw writes.
const Supported = true

// Key identifies a registration; Remove takes it back.
type Key uint32

// wakeKey is the poller's own eventfd: Close writes it to end the loop.
const wakeKey Key = 0

// Poller is one epoll set waited on by one goroutine. Registrations carry a Key rather
// than the descriptor, so a descriptor number reused after a close never reaches the
// wrong Target.
type Poller struct {
	epfd   int
	wakefd int

	mu      sync.Mutex
	targets map[Key]Target
	next    Key

	closeOnce sync.Once
	done      chan struct{}
	err       error // why the loop stopped before Close; set before done is closed
}

// New starts a poller and its goroutine; Close stops it.
func New() (*Poller, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wakeKey)}); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wakefd)
		return nil, fmt.Errorf("netpoll: epoll add eventfd: %w", err)
	}
	p := &Poller{epfd: epfd, wakefd: wakefd, targets: make(map[Key]Target), done: make(chan struct{})}
	go p.loop()
	return p, nil
}

// Add reports the conditions in interest (Readable, Writable; Hangup is always reported)
// of rc to t until Remove. With edge set, a condition is reported once each time it
// arises (a Writable after a write that found the buffer full, a Readable when data
// arrives) instead of for as long as it lasts, so the Target must read until ErrWouldBlock;
// a condition already present at registration is reported once either way.
func (p *Poller) Add(rc syscall.RawConn, interest Event, edge bool, t Target) (Key, error) {
	var ev uint32 = unix.EPOLLRDHUP
	if interest&Readable != 0 {
		ev |= unix.EPOLLIN
	}
	if interest&Writable != 0 {
		ev |= unix.EPOLLOUT
	}
	if edge {
		ev |= unix.EPOLLET
	}
	p.mu.Lock()
	p.next++
	if p.next == wakeKey {
		p.next++
	}
	k := p.next
	p.targets[k] = t
	p.mu.Unlock()
	var ctlErr error
	err := rc.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: ev, Fd: int32(k)})
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		p.mu.Lock()
		delete(p.targets, k)
		p.mu.Unlock()
		return 0, fmt.Errorf("netpoll: epoll add: %w", err)
	}
	return k, nil
}

// Remove ends the registration k of rc. Call it before closing the connection: epoll
// forgets a descriptor only when its last duplicate is closed.
func (p *Poller) Remove(rc syscall.RawConn, k Key) {
	_ = rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Lock()
	delete(p.targets, k)
	p.mu.Unlock()
}

// Len is the number of registrations.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.targets)
}

// Close stops the poller's goroutine and waits for it. It returns the error that stopped
// the loop earlier, if any. Registered connections are not closed.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1)
		_, _ = unix.Write(p.wakefd, one[:])
	})
	<-p.done
	return p.err
}

// Done is closed when the loop has stopped: after Close, or when epoll_wait failed (Close
// then reports why).
func (p *Poller) Done() <-chan struct{} { return p.done }

func (p *Poller) loop() {
	defer close(p.done)
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
			p.err = fmt.Errorf("netpoll: epoll_wait: %w", err)
			return
		}
		for i := range n {
			k := Key(events[i].Fd)
			if k == wakeKey {
				return
			}
			p.mu.Lock()
			t := p.targets[k]
			p.mu.Unlock()
			if t != nil {
				t.Ready(toEvent(events[i].Events))
			}
		}
	}
}

func toEvent(e uint32) Event {
	var ev Event
	if e&unix.EPOLLIN != 0 {
		ev |= Readable
	}
	if e&unix.EPOLLOUT != 0 {
		ev |= Writable
	}
	if e&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		ev |= Hangup
	}
	return ev
}
