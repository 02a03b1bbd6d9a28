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

// Key identifies a registration; Remove takes it back. It is a slot of the poller's
// table and the slot's generation, which changes each time the slot is reused, so that an
// event of a removed registration (one epoll_wait returned before Remove) never reaches
// the slot's next Target.
type Key uint32

// wakeKey is the poller's own eventfd: Close writes it to end the loop.
const wakeKey Key = 0

// keyGenBits is how much of a Key is the generation; the rest is the slot + 1 (so no
// registration's Key is wakeKey).
const keyGenBits = 8

func (k Key) slot() int   { return int(k>>keyGenBits) - 1 }
func (k Key) gen() uint32 { return uint32(k) & (1<<keyGenBits - 1) }

type registration struct {
	t   Target // nil while the slot is free
	gen uint32
}

// Poller is one epoll set waited on by one goroutine. Registrations carry a Key rather
// than the descriptor, so a descriptor number reused after a close never reaches the
// wrong Target.
type Poller struct {
	epfd   int
	wakefd int

	// targets[k.slot()] is the registration k when its generation matches; free lists
	// the unused slots. A slice and a free list, not a map: a registration per idle
	// stream made the map's ≈ 44 bytes a slot 20.
	mu      sync.Mutex
	targets []registration
	free    []uint32
	n       int

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
	p := &Poller{epfd: epfd, wakefd: wakefd, done: make(chan struct{})}
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
	k, err := p.addLocked(t)
	p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	var ctlErr error
	err = rc.Control(func(fd uintptr) {
		ctlErr = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_ADD, int(fd), &unix.EpollEvent{Events: ev, Fd: int32(k)})
	})
	if err == nil {
		err = ctlErr
	}
	if err != nil {
		p.mu.Lock()
		p.removeLocked(k)
		p.mu.Unlock()
		return 0, fmt.Errorf("netpoll: epoll add: %w", err)
	}
	return k, nil
}

// maxSlots is how many registrations a Key can tell apart.
const maxSlots = 1<<(32-keyGenBits) - 1

func (p *Poller) addLocked(t Target) (Key, error) {
	var slot uint32
	if n := len(p.free); n > 0 {
		slot = p.free[n-1]
		p.free = p.free[:n-1]
	} else {
		if len(p.targets) >= maxSlots {
			return 0, fmt.Errorf("netpoll: more than %d registrations", maxSlots)
		}
		slot = uint32(len(p.targets))
		p.targets = append(p.targets, registration{})
	}
	r := &p.targets[slot]
	r.t = t
	p.n++
	return Key((slot+1)<<keyGenBits | r.gen), nil
}

// removeLocked frees k's slot, unless k is stale.
func (p *Poller) removeLocked(k Key) {
	i := k.slot()
	if i < 0 || i >= len(p.targets) {
		return
	}
	r := &p.targets[i]
	if r.t == nil || r.gen != k.gen() {
		return
	}
	r.t = nil
	r.gen = (r.gen + 1) & (1<<keyGenBits - 1)
	p.n--
	p.free = append(p.free, uint32(i))
}

// target is k's Target, nil when k was removed.
func (p *Poller) targetLocked(k Key) Target {
	i := k.slot()
	if i < 0 || i >= len(p.targets) {
		return nil
	}
	if r := &p.targets[i]; r.gen == k.gen() {
		return r.t
	}
	return nil
}

// Remove ends the registration k of rc. Call it before closing the connection: epoll
// forgets a descriptor only when its last duplicate is closed.
func (p *Poller) Remove(rc syscall.RawConn, k Key) {
	_ = rc.Control(func(fd uintptr) {
		_ = unix.EpollCtl(p.epfd, unix.EPOLL_CTL_DEL, int(fd), nil)
	})
	p.mu.Lock()
	p.removeLocked(k)
	p.mu.Unlock()
}

// Len is the number of registrations.
func (p *Poller) Len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
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
			t := p.targetLocked(k)
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
