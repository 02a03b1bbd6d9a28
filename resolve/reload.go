package resolve

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
)

// Reloader serves requests with the current engine and lets a reload install a new one
// without dropping subscriptions (SPEC section 6). A reload composes the new schema into
// a new Engine beside the old; Swap then
//   - sends every new request to the new engine;
//   - re-validates each running subscription against the new schema: those that no longer
//     validate end with their errors and EndReload, the rest keep running on the engine
//     (and so the broker consumers) they started on, with no event lost or repeated;
//   - stops an old engine once its last subscription has ended.
//
// Both engines share one broker registry, so a subscription opened on the new engine for
// the same subjects joins the consumer the old one holds.
type Reloader struct {
	cur atomic.Pointer[Engine]

	mu      sync.Mutex
	retired []*Engine // old engines still serving subscriptions
	closed  bool
}

// NewReloader starts with e as the current engine.
func NewReloader(e *Engine) *Reloader {
	r := &Reloader{}
	r.cur.Store(e)
	return r
}

// Current returns the engine serving new requests.
func (r *Reloader) Current() *Engine { return r.cur.Load() }

// Prepare prepares req on the current engine.
func (r *Reloader) Prepare(ctx context.Context, req *Request) (*Operation, error) {
	e := r.cur.Load()
	op, err := e.Prepare(ctx, req)
	if op != nil {
		op.prepared.engine = e
	}
	return op, err
}

// Execute runs op on the engine that prepared it.
func (r *Reloader) Execute(ctx context.Context, op *Operation, w io.Writer) error {
	return r.engineOf(op).Execute(ctx, op, w)
}

// Subscribe starts op on the engine that prepared it.
func (r *Reloader) Subscribe(ctx context.Context, op *Operation, opts SubscribeOptions) (*Stream, error) {
	return r.engineOf(op).Subscribe(ctx, op, opts)
}

func (r *Reloader) engineOf(op *Operation) *Engine {
	if op.prepared != nil && op.prepared.engine != nil {
		return op.prepared.engine
	}
	return r.cur.Load()
}

// ReloadResult counts what a Swap did to running subscriptions.
type ReloadResult struct {
	// Kept subscriptions still validate and stay open on their engine.
	Kept int
	// Ended subscriptions no longer validate; each got its errors and EndReload.
	Ended int
}

// Swap makes next the current engine and re-validates the previous engines' running
// subscriptions against it.
func (r *Reloader) Swap(next *Engine) (ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return ReloadResult{}, errors.New("reload after shutdown")
	}
	prev := r.cur.Swap(next)
	r.retired = append(r.retired, prev)
	var res ReloadResult
	live := r.retired[:0]
	for _, old := range r.retired {
		kept, ended := old.hub.revalidate(next)
		res.Kept += kept
		res.Ended += ended
		if old.retire() {
			continue
		}
		live = append(live, old)
	}
	r.retired = live
	return res, nil
}

// Shutdown ends every subscription of every engine with end.
func (r *Reloader) Shutdown(end End) {
	r.mu.Lock()
	r.closed = true
	engines := append([]*Engine{r.cur.Load()}, r.retired...)
	r.retired = nil
	r.mu.Unlock()
	for _, e := range engines {
		e.Shutdown(end)
	}
}

// Engines returns how many engines are running (the current one plus retiring ones).
func (r *Reloader) Engines() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 1
	for _, e := range r.retired {
		if e.ctx.Err() == nil {
			n++
		}
	}
	return n
}

// retire marks e as no longer current: it stops as soon as it has no subscription. It
// reports whether e has stopped already.
func (e *Engine) retire() bool {
	e.hub.mu.Lock()
	e.hub.onEmpty = e.cancel
	empty := len(e.hub.groups) == 0
	e.hub.mu.Unlock()
	if empty {
		e.cancel()
	}
	return empty
}

// revalidate prepares every group's operation on next; groups whose operation fails are
// ended with the errors. It returns the subscribers kept and ended.
func (h *hub) revalidate(next *Engine) (kept, ended int) {
	h.mu.Lock()
	groups := make([]*group, 0, len(h.groups))
	for _, g := range h.groups {
		groups = append(groups, g)
	}
	h.mu.Unlock()
	for _, g := range groups {
		members := g.snapshot()
		req := g.spec.reloadRequest()
		if req == nil {
			kept += len(members)
			continue
		}
		op, err := next.Prepare(context.Background(), req)
		if err == nil && op.Kind == Subscription {
			kept += len(members)
			continue
		}
		var payload []byte
		var reason string
		var re *RequestError
		switch {
		case errors.As(err, &re):
			payload, reason = re.JSON(), "the schema changed and the subscription no longer validates: "+re.Error()
		case err != nil:
			payload, reason = graphQLErrorResponse(err.Error()), "the schema changed: "+err.Error()
		default:
			reason = fmt.Sprintf("the schema changed: the operation is now a %s", op.Kind)
			payload = graphQLErrorResponse(reason)
		}
		h.remove(g)
		for _, s := range members {
			s.PushFinal(&Message{Payload: payload}, End{Code: EndReload, Reason: reason})
		}
		ended += len(members)
	}
	return kept, ended
}
