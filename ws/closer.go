package ws

import (
	"context"
	"sync"

	"github.com/edgate/edgate/resolve"
)

// maxStarters bounds the goroutines that start operations (Prepare, then Subscribe), so
// that a client opening a hundred subscriptions at once, or a thousand clients doing so,
// costs a few goroutine stacks instead of one per operation, whose memory the process would
// keep long after the burst.
const maxStarters = 32

// startJob is an operation waiting for a starter.
type startJob struct {
	c   *conn
	s   *subscription
	req *resolve.Request
	ctx context.Context
}

// starters runs queued operation starts on at most maxStarters goroutines, in order.
type starters struct {
	mu      sync.Mutex
	queue   []startJob
	head    int
	running int
}

func (q *starters) enqueue(h *Handler, j startJob) {
	q.mu.Lock()
	if q.running >= maxStarters {
		q.queue = append(q.queue, j)
		q.mu.Unlock()
		return
	}
	q.running++
	h.goroutines.Add(1)
	q.mu.Unlock()
	go q.run(h, j)
}

func (q *starters) run(h *Handler, j startJob) {
	defer h.goroutines.Done()
	for {
		j.c.run(j.ctx, j.s, j.req)
		q.mu.Lock()
		if q.head == len(q.queue) {
			q.queue, q.head = q.queue[:0], 0
			if cap(q.queue) > 1024 {
				q.queue = nil
			}
			q.running--
			q.mu.Unlock()
			return
		}
		j = q.queue[q.head]
		q.queue[q.head] = startJob{}
		q.head++
		q.mu.Unlock()
	}
}

// stopped is an operation removed from its connection whose context and stream still need
// ending, outside conn.mu.
type stopped struct {
	cancel func()
	stream *resolve.Stream
}

// release ends stopped operations: contexts at once, streams on the writer pool's closer
// goroutine. A stream's Close runs the hub's unsubscribe, which for a group's last member
// stops the broker consumer and may wait for it; neither the epoll loop, which reads
// every connection, nor a writer shard may wait for that.
func (h *Handler) release(list ...stopped) {
	for _, st := range list {
		if st.cancel != nil {
			st.cancel()
		}
		if st.stream != nil {
			h.writer.CloseLater(st.stream)
		}
	}
}
