package ws

import (
	"sync"

	"github.com/edgate/edgate/resolve"
)

// closer closes streams on its own goroutine. A stream's Close runs the hub's unsubscribe,
// which for a group's last member stops the broker consumer and may wait for it; neither
// the epoll loop, which reads every connection, nor a writer shard may wait for that.
type closer struct {
	mu      sync.Mutex
	queue   []*resolve.Stream
	running bool
	signal  chan struct{}
}

// stopped is an operation removed from its connection whose context and stream still need
// ending, outside conn.mu.
type stopped struct {
	cancel func()
	stream *resolve.Stream
}

// release ends stopped operations: contexts at once, streams on the closer goroutine (or
// here when it is not running).
func (h *Handler) release(list ...stopped) {
	n := 0
	for _, st := range list {
		st.cancel()
		if st.stream != nil {
			n++
		}
	}
	if n == 0 {
		return
	}
	h.closer.mu.Lock()
	if !h.closer.running {
		h.closer.mu.Unlock()
		for _, st := range list {
			if st.stream != nil {
				st.stream.Close()
			}
		}
		return
	}
	for _, st := range list {
		if st.stream != nil {
			h.closer.queue = append(h.closer.queue, st.stream)
		}
	}
	h.closer.mu.Unlock()
	select {
	case h.closer.signal <- struct{}{}:
	default:
	}
}

func (h *Handler) startCloser() {
	h.closer.signal = make(chan struct{}, 1)
	h.closer.running = true
	h.goroutines.Add(1)
	go h.runCloser()
}

func (h *Handler) runCloser() {
	defer h.goroutines.Done()
	for {
		stop := false
		select {
		case <-h.stop:
			stop = true
		case <-h.closer.signal:
		}
		h.closer.mu.Lock()
		batch := h.closer.queue
		h.closer.queue = nil
		if stop {
			h.closer.running = false
		}
		h.closer.mu.Unlock()
		for _, s := range batch {
			s.Close()
		}
		if stop {
			return
		}
	}
}
