package resolve

import (
	"bytes"
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// workerLinger is how long an idle worker waits for another group before it exits: long
// enough that a steady stream of events to many groups reuses workers, short enough that
// a quiet gateway holds none.
const workerLinger = time.Second

// workers drain groups that have pending events. There is no fixed pool: a group handed
// over when no worker is idle gets a new one, so a group waiting on a slow subgraph never
// holds up another, and a worker that finds nothing to do for workerLinger exits. The
// number of goroutines therefore follows the groups with work, not the groups.
type workers struct {
	// ctx is the engine's: a retired engine's workers go when it stops.
	ctx    context.Context
	linger time.Duration
	// work is unbuffered: a send succeeds only when a worker is idle and waiting.
	work chan *group
	quit chan struct{}

	mu      sync.Mutex // guards stopped and the wg.Add that goes with starting a worker
	stopped bool
	wg      sync.WaitGroup
	running atomic.Int64
}

// count is the number of workers, busy or lingering.
func (w *workers) count() int64 { return w.running.Load() }

func newWorkers(ctx context.Context, linger time.Duration) *workers {
	return &workers{ctx: ctx, linger: linger, work: make(chan *group), quit: make(chan struct{})}
}

// run hands g to an idle worker or starts one for it. The caller has marked g scheduled,
// so no other worker holds it.
func (w *workers) run(g *group) {
	select {
	case w.work <- g:
		return
	default:
	}
	w.mu.Lock()
	if w.stopped {
		w.mu.Unlock()
		return
	}
	w.wg.Add(1)
	w.running.Add(1)
	w.mu.Unlock()
	go w.loop(g)
}

func (w *workers) loop(g *group) {
	defer w.wg.Done()
	defer w.running.Add(-1)
	var buf bytes.Buffer
	t := time.NewTimer(w.linger)
	defer t.Stop()
	for {
		g.drain(&buf, false)
		if buf.Cap() > 64<<10 {
			buf = bytes.Buffer{} // one large result should not stay with an idle worker
		}
		t.Reset(w.linger)
		select {
		case g = <-w.work:
		case <-t.C:
			return
		case <-w.quit:
			return
		case <-w.ctx.Done():
			return
		}
	}
}

// stop makes idle workers exit, starts no new ones and waits for the busy ones, which
// finish their group (closed by then, so its drain ends at the next event).
func (w *workers) stop() {
	w.mu.Lock()
	if !w.stopped {
		w.stopped = true
		close(w.quit)
	}
	w.mu.Unlock()
	w.wg.Wait()
}
