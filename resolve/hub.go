package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/buger/jsonparser"
	"github.com/rs/zerolog"
	"github.com/wundergraph/astjson"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/latch"
	"github.com/edgate/edgate/internal/telemetry"
)

// The hub fans events out. Subscribers with the same normalized operation, variables and
// forwarded-header scope form a group; a group holds one trigger (a broker subscription
// through the registry, which in turn shares one consumer per subject set, or an upstream
// subgraph subscription), resolves each event once and copies the resulting bytes into
// every member's bounded Stream. Nothing on this path blocks on a subscriber.
//
// A group has no goroutine of its own: most groups are idle most of the time (a subject
// per user), so the trigger's callback queues the event in the group's inbox and hands
// the group to the hub's workers (workers.go), one of which drains it. A group is with at
// most one worker at a time, which keeps its events in order.
//
// The event path, in order (each step a natural hook point): enqueue (per group, on the
// broker's goroutine) → drain (per group, on a worker) → process: resolveEvent once per
// group (fast path or the general resolver) → broadcast: Push to each member.
//
// Lock order: hub.mu, then group.mu. Stream locks are leaves.

// eventSubscriber is what the hub needs from the broker registry.
type eventSubscriber interface {
	Subscribe(ctx context.Context, providerID string, subjects []string, opts eventsource.ConsumeOptions, fn func(eventsource.Event)) (func(), error)
}

type hubOptions struct {
	queueSize int
	policy    SlowPolicy
	// inboxSize bounds the events a group has received but not yet resolved; past it
	// events are dropped for that group and its members are told (default 65536).
	inboxSize    int
	fetchTimeout time.Duration
	// entityPost lets the entity loader make its requests with h1post (entitypost.go)
	// instead of subgraphClient's.
	entityPost bool
	log        zerolog.Logger
	stats      *Stats
	metrics    *telemetry.Metrics
	upstream   *upstreamConfig // subscriptions served by subgraphs (upstream.go)
	// entityWindow is the entity loader's window (entityload.go); negative: no loader.
	entityWindow time.Duration
	// subgraphClient returns a subgraph's HTTP client for the entity loader.
	subgraphClient func(subgraph string) *http.Client
	// eventHooks are the group and subscriber event hooks; nil when there are none, and
	// then the event path does not look at hooks at all.
	eventHooks *hookSet
}

type hub struct {
	ctx      context.Context
	eventCtx context.Context // ctx, marked for entity batching: every event group's context
	resolver *engine.Resolver
	events   eventSubscriber
	opts     hubOptions

	mu     sync.Mutex
	groups map[uint64]*group
	// onEmpty runs when the last group ends (a retired engine stops then).
	onEmpty func()
	workers *workers
	// entities batches the `_entities` fetches of events across groups (entityload.go);
	// nil when batching is off.
	entities *entityLoader
}

func newHub(ctx context.Context, resolver *engine.Resolver, events eventSubscriber, opts hubOptions) *hub {
	if opts.inboxSize <= 0 {
		opts.inboxSize = 65536
	}
	if opts.fetchTimeout <= 0 {
		opts.fetchTimeout = 30 * time.Second
	}
	if opts.stats == nil {
		opts.stats = &Stats{}
	}
	h := &hub{ctx: ctx, resolver: resolver, events: events, opts: opts, groups: make(map[uint64]*group)}
	// entity fetches of events may share requests with other groups' (entitybatch.go)
	h.eventCtx = withEntityBatching(ctx)
	h.workers = newWorkers(ctx, workerLinger)
	if opts.entityWindow >= 0 {
		h.entities = newEntityLoader(ctx, opts.entityWindow, opts.fetchTimeout, opts.stats, opts.subgraphClient, opts.metrics)
		h.entities.netHTTP = !opts.entityPost
	}
	return h
}

// groupSpec is everything needed to start a group; all members share it.
type groupSpec struct {
	key       uint64
	sub       *subPlan
	variables []byte
	headers   *forwardedHeaders
	// query is what re-validating the group on a schema reload needs of the client's
	// request, with rare's operation name and variables: the query a persisted-query
	// hash stood for is in query already, and its hash was checked when the group
	// started. "": nothing to re-validate. (A copy of the request's fields was 64 bytes
	// per group, a subscriber on a subject of its own being one.)
	query string
	// rare is what only some groups have; nil for the others, such as a subscriber on a
	// subject of its own.
	rare *groupRare
}

// reloadRequest returns the request a schema reload re-validates the group with; nil:
// none.
func (s *groupSpec) reloadRequest() *Request {
	if s.query == "" {
		return nil
	}
	r := &Request{Query: s.query}
	if s.rare != nil {
		r.OperationName, r.Variables = s.rare.operationName, s.rare.variables
	}
	return r
}

// groupRare is the part of a groupSpec that most groups do not have.
type groupRare struct {
	// operationName and variables are the client's, for reloadRequest.
	operationName string
	variables     json.RawMessage
	initial       []byte // connection_init payload (upstream subscriptions only)
	// resume is the stream position a resuming client saw last (Last-Event-ID); such a
	// group has a private consumer that starts after it.
	resume string
}

func (s *groupSpec) initial() []byte {
	if s.rare == nil {
		return nil
	}
	return s.rare.initial
}

func (s *groupSpec) resume() string {
	if s.rare == nil {
		return ""
	}
	return s.rare.resume
}

// subPlan is a subscription plan with what the hub derives from it for the plan's groups:
// made by the first group of a plan (Engine.subPlan) and shared by the later ones. With a
// subject per user every subscriber is a group of its own, and the entity loader's plan
// alone (a copy of the representation's fields) was about 0.5 KiB per group.
type subPlan struct {
	*engine.GraphQLSubscription
	// h is the hub the plan's groups belong to (an engine's plans and hub are one
	// engine's), so that a group need not point to it itself.
	h *hub
	// fast renders events without the general resolver when the event alone satisfies
	// the selection (fastpath.go); nil when it does not.
	fast *eventRender
	// ent sends the event's one `_entities` fetch through the hub's entity loader and
	// renders the answer with the fast path (entityload.go); nil when it cannot.
	ent *entityPlan
}

// subPlan returns the hub's part of cp's subscription plan sub, made once per plan.
func (h *hub) subPlan(cp *cachedPlan, sub *engine.GraphQLSubscription) *subPlan {
	if p := cp.sub.Load(); p != nil && p.GraphQLSubscription == sub && p.h == h {
		return p
	}
	p := h.newSubPlan(sub)
	if cp.sub.CompareAndSwap(nil, p) {
		return p
	}
	if have := cp.sub.Load(); have.GraphQLSubscription == sub && have.h == h {
		return have
	}
	return p // a plan another engine's hub derived (not the way Reloader routes them)
}

// newSubPlan derives the hub's part of sub's plan.
func (h *hub) newSubPlan(sub *engine.GraphQLSubscription) *subPlan {
	p := &subPlan{GraphQLSubscription: sub, h: h, fast: fastRenderFor(sub)}
	if h.entities != nil && h.opts.eventHooks == nil && p.fast == nil {
		if ent, key := entityPlanFor(sub); ent != nil {
			ent.target = h.entities.intern(key, ent.target)
			p.ent = ent
		}
	}
	return p
}

// group is the subscribers of one groupSpec and their trigger. Fields are ordered to
// pack: a group per subscriber is the common case (a subject per user), so its size
// counts. What only upstream groups need is in up.
type group struct {
	spec  groupSpec
	rctx  *engine.Context // nil while the fast path needs none (resolveContext)
	ready latch.Latch     // fired when start finished, with failed set or the trigger running
	// failed is why start failed, for the members that joined meanwhile; nil when the
	// trigger runs. (A pointer: an error in the group was 8 bytes more per group.)
	failed *error
	mu     sync.Mutex // guards members, snap, dirty, inbox, dropped, scheduled, again, closing
	// members is the set of subscribers, each at its Stream.member index, so joins and
	// leaves are O(1) (a slice, not a map: most groups have one member, and a map of one
	// costs ten times its pointer). snap is the slice the worker broadcasts to, rebuilt
	// from members only after a change (so thousands of joins cost no copying, and an
	// event after them one O(N) rebuild).
	members []*Stream
	snap    []*Stream
	inbox   []eventsource.Event
	dropped uint64
	dirty   bool
	// scheduled is set while the group is handed to or held by a worker; again asks that
	// worker for one more pass (the upstream run finished while it was draining).
	scheduled bool
	again     bool
	closing   bool
	stopped   atomic.Bool // closing, readable without the lock
	stop      func()

	seq uint64 // only the worker holding the group touches it
	// resume is a round of events back from the entity loader that a worker delivers
	// (one needs the general resolver, which may block); only the holder touches it.
	resume *entityRound

	// up is the upstream subscription of a group that a subgraph serves, with its
	// context; nil for event groups.
	up *upstreamRun
}

// hub is the hub the group belongs to.
func (g *group) hub() *hub { return g.spec.sub.h }

// context is the group's context: an event group shares the hub's (a cancelable
// context of its own cost about 1 KiB per group, most of it in the parent's set of
// children, and nothing runs under it for longer than one fetch; close marks the group
// stopped instead); an upstream subscription's lives as long as the group.
func (g *group) context() context.Context {
	if g.up != nil {
		return g.up.ctx
	}
	return g.hub().eventCtx
}

// join adds s to the group for spec, starting the group if it is new. It returns once the
// group's trigger is running, or with the error that prevented it.
func (h *hub) join(spec groupSpec, s *Stream) (*group, error) {
	for {
		h.mu.Lock()
		if h.ctx.Err() != nil {
			h.mu.Unlock()
			return nil, errors.New("the gateway is shutting down")
		}
		g, ok := h.groups[spec.key]
		if !ok {
			g = h.newGroup(spec)
			h.groups[spec.key] = g
			g.addMember(s)
			h.mu.Unlock()
			if err := g.start(); err != nil {
				s.setGroup(nil)
				h.remove(g)
				return nil, err
			}
			h.opts.stats.Groups.Add(1)
			return g, nil
		}
		g.addMember(s)
		h.mu.Unlock()
		<-g.ready.Done()
		if g.failed != nil {
			s.setGroup(nil)
			g.removeMember(s)
			return nil, *g.failed
		}
		return g, nil
	}
}

// leave removes s; the last member stops the group and its trigger.
func (h *hub) leave(g *group, s *Stream) {
	h.opts.stats.Subscribers.Add(-1)
	h.mu.Lock()
	left := g.removeMember(s)
	last := left == 0 && h.groups[g.spec.key] == g
	var onEmpty func()
	if last {
		delete(h.groups, g.spec.key)
		if len(h.groups) == 0 {
			onEmpty = h.onEmpty
		}
	}
	h.mu.Unlock()
	if onEmpty != nil {
		defer onEmpty()
	}
	if last {
		g.close()
		h.opts.stats.Groups.Add(-1)
	}
}

func (h *hub) remove(g *group) {
	h.mu.Lock()
	var onEmpty func()
	if h.groups[g.spec.key] == g {
		delete(h.groups, g.spec.key)
		if len(h.groups) == 0 {
			onEmpty = h.onEmpty
		}
	}
	h.mu.Unlock()
	g.close()
	if onEmpty != nil {
		onEmpty()
	}
}

// shutdown ends every stream with end and stops all groups.
func (h *hub) shutdown(end End) {
	h.mu.Lock()
	groups := make([]*group, 0, len(h.groups))
	for _, g := range h.groups {
		groups = append(groups, g)
	}
	h.groups = make(map[uint64]*group)
	h.mu.Unlock()
	for _, g := range groups {
		g.close()
		for _, s := range g.snapshot() {
			s.Finish(end)
		}
	}
	h.workers.stop()
	if h.entities != nil {
		h.entities.stop()
	}
}

// groupCount returns the number of running groups.
func (h *hub) groupCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.groups)
}

func (h *hub) newGroup(spec groupSpec) *group {
	g := &group{spec: spec}
	if _, isEvent := spec.sub.Trigger.Source.(*eventTrigger); !isEvent {
		g.up = &upstreamRun{g: g}
		g.up.ctx, g.up.cancel = context.WithCancel(h.ctx)
	}
	g.rctx = g.newResolveContext()
	return g
}

func (g *group) newResolveContext() *engine.Context {
	rctx := engine.NewContext(g.context())
	rctx.Variables = mustParseVariables(g.spec.variables)
	rctx.Request.Header = g.spec.headers.client
	rctx.SubgraphHeadersBuilder = g.spec.headers
	rctx.InitialPayload = g.spec.initial()
	return rctx
}

// resolveContext is the engine context of the general resolver and the filter, made
// again when the fast path released it; only the goroutine draining the group calls it.
func (g *group) resolveContext() *engine.Context {
	if g.rctx == nil {
		g.rctx = g.newResolveContext()
	}
	return g.rctx
}

func (g *group) addMember(s *Stream) {
	g.mu.Lock()
	s.member = int32(len(g.members))
	g.members = append(g.members, s)
	g.dirty = true
	g.mu.Unlock()
	s.setGroup(g)
}

func (g *group) removeMember(s *Stream) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	if i := int(s.member); i >= 0 && i < len(g.members) && g.members[i] == s {
		last := len(g.members) - 1
		g.members[i] = g.members[last]
		g.members[i].member = int32(i)
		g.members[last] = nil
		g.members = g.members[:last]
		s.member = -1
		g.dirty = true
		if len(g.members) == 0 {
			g.members = nil
		}
	}
	return len(g.members)
}

// snapshot returns the current members. The slice is shared and must not be modified;
// a later change builds a new one.
func (g *group) snapshot() []*Stream {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dirty {
		g.snap, g.dirty = append([]*Stream(nil), g.members...), false
	}
	return g.snap
}

// start opens the group's trigger; on failure it returns why and sets g.failed.
func (g *group) start() (err error) {
	defer func() {
		if err != nil {
			failed := err
			g.failed = &failed
		}
		g.ready.Fire()
	}()
	var buf bytes.Buffer
	if err := g.spec.sub.Trigger.InputTemplate.Render(g.rctx, nil, &buf); err != nil {
		return fmt.Errorf("render subscription input: %w", err)
	}
	input := buf.Bytes()
	if (g.spec.sub.fast != nil || g.spec.sub.ent != nil) && g.spec.sub.Filter == nil {
		// Events render without the engine context (a few hundred bytes with the parsed
		// variables, per group): drop it before any event can arrive; a fallback makes it
		// again.
		g.rctx = nil
	}
	switch t := g.spec.sub.Trigger.Source.(type) {
	case *eventTrigger:
		subjects, err := t.binding.RenderSubjects(argsOf(input))
		if err != nil {
			return &RequestError{Errors: []GraphQLError{{Message: err.Error(), Path: []any{t.field}}}, Status: http.StatusBadRequest}
		}
		var opts eventsource.ConsumeOptions
		if sc := t.binding.Stream; sc != nil {
			opts.Stream = &eventsource.StreamOptions{StreamName: sc.StreamName, ConsumerName: sc.ConsumerName, InactiveThreshold: time.Duration(sc.ConsumerInactiveThreshold) * time.Second}
		}
		opts.StartAfter = g.spec.resume()
		stop, err := g.hub().events.Subscribe(g.context(), providerOf(t.binding).String(), subjects, opts, g.enqueue)
		if err != nil && opts.StartAfter != "" {
			// A position the source cannot resume from (expired, from another stream, or
			// not a position at all) falls back to a live subscription.
			g.hub().opts.log.Warn().Err(err).Str("last_event_id", opts.StartAfter).Msg("cannot resume the stream; subscribing live")
			opts.StartAfter = ""
			stop, err = g.hub().events.Subscribe(g.context(), providerOf(t.binding).String(), subjects, opts, g.enqueue)
		}
		if err != nil {
			return &RequestError{Errors: []GraphQLError{{Message: fmt.Sprintf("subscribe to %s provider %q: %v", t.binding.Broker, t.binding.ProviderID, err), Path: []any{t.field}}}, Status: http.StatusInternalServerError}
		}
		g.mu.Lock()
		closed := g.closing
		g.stop = stop
		g.mu.Unlock()
		if closed {
			// the last member left while the subscription was being made
			stop()
		}
	default:
		if err := g.startUpstream(input); err != nil {
			return err
		}
	}
	return nil
}

// enqueue is the broker callback: it never blocks.
func (g *group) enqueue(ev eventsource.Event) {
	g.hub().opts.stats.EventsReceived.Add(1)
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return
	}
	if len(g.inbox) >= g.hub().opts.inboxSize {
		g.dropped++
		g.mu.Unlock()
		g.hub().opts.stats.GroupDrops.Add(1)
		return
	}
	run := !g.scheduled
	g.scheduled = true
	// A lone subscriber's event that the fast path renders costs less than handing it to
	// a worker (a goroutine wake-up): it is delivered on the broker's goroutine. Groups
	// with many members, or whose events need the general resolver, go to a worker.
	// An event that waits for its entity in the loader (ent) costs the broker's goroutine
	// only its representation, whatever the group's size.
	inline := run && g.hub().opts.eventHooks == nil && (g.spec.sub.ent != nil && !telemetry.TracingOn() || g.spec.sub.fast != nil && len(g.members) <= inlineMembers)
	// Nothing waits before a fast-path event delivered inline (the group was idle, and
	// an inbox is only ever left empty): it skips the inbox, whose slice would be made
	// for this one event.
	direct := inline && g.spec.sub.fast != nil && len(g.inbox) == 0 && g.dropped == 0
	if !direct {
		g.inbox = append(g.inbox, ev)
	}
	g.mu.Unlock()
	switch {
	case inline:
		buf := scratchBuffers.Get().(*bytes.Buffer)
		if direct && !g.done() {
			g.process(&ev, buf, true)
		}
		// events that came in meanwhile; it releases the group
		g.drain(buf, true)
		if buf.Cap() <= maxKeptScratch {
			buf.Reset()
			scratchBuffers.Put(buf)
		}
	case run:
		g.hub().workers.run(g)
	}
}

// scratchBuffers are the general resolver's output buffers of events delivered on a
// broker's goroutine; a fast-path event does not use its buffer.
var scratchBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxKeptScratch = 64 << 10

// inlineMembers is the most members a group may have for its fast-path events to be
// delivered on the broker's goroutine.
const inlineMembers = 4

// schedule has a worker look at the group even without new events (an upstream
// subscription ended and its members are to be finished).
func (g *group) schedule() {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return
	}
	if g.scheduled {
		g.again = true
		g.mu.Unlock()
		return
	}
	g.scheduled = true
	g.mu.Unlock()
	g.hub().workers.run(g)
}

func (g *group) close() {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return
	}
	g.closing = true
	g.stopped.Store(true)
	stop := g.stop
	g.mu.Unlock()
	if stop != nil {
		stop()
	}
	if g.up != nil {
		g.up.cancel()
	}
}

// done reports whether the group was closed or the engine stopped.
func (g *group) done() bool { return g.stopped.Load() || g.context().Err() != nil }

// drain runs on a worker, or inline on the broker's goroutine for a group of few members
// (see enqueue): it processes the inbox until it is empty, then releases the group. The
// inbox is taken whole, so an idle group keeps no event buffer.
func (g *group) drain(buf *bytes.Buffer, inline bool) {
	if r := g.resume; r != nil {
		// on a worker (entityRoundDone hands the group over)
		g.resume = nil
		if !g.deliverRound(r, true, buf) {
			return
		}
	}
	for {
		g.mu.Lock()
		batch := g.inbox
		g.inbox = nil
		dropped := g.dropped
		g.dropped = 0
		g.again = false
		g.mu.Unlock()
		if dropped > 0 {
			g.hub().opts.log.Warn().Uint64("dropped", dropped).Uint64("group", g.spec.key).Msg("subscription group fell behind; events dropped for its members")
			g.broadcast(Message{ID: g.nextID(""), Payload: graphQLErrorResponse(fmt.Sprintf("%d events were dropped because the gateway could not resolve them fast enough", dropped))}, false)
		}
		if g.spec.sub.ent != nil && !telemetry.TracingOn() {
			// the events wait for their entities together, and are delivered in order
			if len(batch) > 0 && !g.entityRound(batch, buf, inline) {
				return // the loader or a worker goes on with the group
			}
			batch = nil
		} else if g.spec.sub.ent != nil && inline {
			// tracing was turned on: events take the general resolver, which blocks
			g.putBack(batch)
			g.hub().workers.run(g)
			return
		}
		for i := range batch {
			if g.done() {
				break
			}
			g.process(&batch[i], buf, inline)
			batch[i] = eventsource.Event{}
		}
		if g.upstreamFinished() {
			return
		}
		g.mu.Lock()
		if g.done() || (len(g.inbox) == 0 && g.dropped == 0 && !g.again) {
			g.scheduled = false
			g.mu.Unlock()
			return
		}
		g.mu.Unlock()
	}
}

// putBack returns events taken from the inbox to its front, in order.
func (g *group) putBack(events []eventsource.Event) {
	if len(events) == 0 {
		return
	}
	g.mu.Lock()
	g.inbox = slices.Insert(g.inbox, 0, events...)
	g.mu.Unlock()
}

func (g *group) nextID(position string) string {
	g.seq++
	if position != "" {
		return position
	}
	return strconv.FormatUint(g.seq, 10)
}

// process resolves one event once and hands the bytes to every member; inline says it
// runs on the broker's goroutine for a group of few members.
func (g *group) process(ev *eventsource.Event, buf *bytes.Buffer, inline bool) {
	started := time.Now()
	id := g.nextID(ev.Position)
	if hooks := g.hub().opts.eventHooks; hooks != nil && len(hooks.group) > 0 {
		if t, isEvent := g.spec.sub.Trigger.Source.(*eventTrigger); isEvent {
			ge := &GroupEvent{Field: t.field, Provider: providerOf(t.binding), Subject: ev.Subject, Variables: g.spec.variables, Header: g.spec.headers.client, Data: ev.Data}
			if ev.Data = hooks.onGroupEvent(ge); ev.Data == nil {
				return
			}
		}
	}
	ctx := g.context()
	var span *telemetry.EventSpan
	if telemetry.TracingOn() {
		span = telemetry.StartEvent(ctx, g.source(), ev.Subject, ev.TraceParent, ev.TraceState)
		ctx = span.Context
	}
	payload, ok := g.resolveEvent(ctx, ev, buf)
	if !ok {
		span.Queued(0, nil)
		return
	}
	g.hub().opts.stats.observeResolve(time.Since(started))
	g.hub().opts.metrics.ObserveResolved(ctx, ev.Received, telemetry.Now())
	// The transports write on this goroutine only while no events wait behind this one:
	// under a backlog the writer shards batch the writes (several events to one
	// WebSocket in one write) and the broker's goroutine goes on to the next event.
	now := inline && !ev.Backlog
	if span == nil {
		g.broadcast(Message{ID: id, Payload: payload, Received: ev.Received}, now)
		return
	}
	members := g.broadcast(Message{ID: id, Payload: payload, Received: ev.Received, Trace: span.Sampled()}, now)
	span.Queued(members, nil)
}

// broadcast queues m to every member and returns how many there were. With inline (the
// broker's goroutine, few members) the members' transports may write m before Push
// returns: the event reaches the socket without a hand-off to a writer goroutine.
func (g *group) broadcast(m Message, inline bool) int {
	members := g.snapshot()
	stats := g.hub().opts.stats
	var perSubscriber *hookSet
	var scratch *SubscriberEvent
	if hooks := g.hub().opts.eventHooks; hooks != nil && len(hooks.subscriber) > 0 {
		perSubscriber, scratch = hooks, new(SubscriberEvent)
	}
	for _, s := range members {
		m := m
		if info := s.info(); perSubscriber != nil && info != nil {
			if m.Payload = perSubscriber.onSubscriberEvent(info, m.Payload, scratch); m.Payload == nil {
				continue
			}
		}
		queued, dropped := s.push(m, inline)
		if queued {
			stats.MessagesQueued.Add(1)
		}
		if dropped {
			stats.SlowDrops.Add(1)
			if !queued {
				g.hub().opts.log.Warn().Uint64("group", g.spec.key).Msg("disconnecting a subscriber that did not keep up")
			}
		}
	}
	return len(members)
}

// source names the group's event source in its spans: the provider's registry id, or "upstream"
// for subscriptions served by a subgraph.
func (g *group) source() string {
	if t, ok := g.spec.sub.Trigger.Source.(*eventTrigger); ok {
		return providerOf(t.binding).String()
	}
	return "upstream"
}

// resolveEvent returns the execution result for one event, or ok=false when the event is
// filtered out.
func (g *group) resolveEvent(ctx context.Context, ev *eventsource.Event, buf *bytes.Buffer) (payload []byte, ok bool) {
	if g.spec.sub.fast != nil && g.spec.sub.Filter == nil {
		if t, isEvent := g.spec.sub.Trigger.Source.(*eventTrigger); isEvent {
			if out, ok := g.spec.sub.fast.renderEvent(ev.Data, t, g.spec.sub.Trigger.PostProcessing.MergePath); ok {
				return out, true
			}
		}
	}
	initial, payload, skip := g.eventData(ev, buf)
	switch {
	case skip:
		return nil, false
	case payload != nil:
		return payload, true
	}
	if fast := g.spec.sub.fast; fast != nil {
		if out, ok := fast.render(make([]byte, 0, len(initial)+16), initial); ok {
			return out, true
		}
	}
	ctx, cancel := context.WithTimeout(ctx, g.hub().opts.fetchTimeout)
	defer cancel()
	buf.Reset()
	if _, err := g.hub().resolver.ResolveGraphQLResponse(g.resolveContext().WithContext(ctx), g.spec.sub.Response, initial, buf); err != nil {
		return graphQLErrorResponse("resolve event: " + err.Error()), true
	}
	return bytes.Clone(buf.Bytes()), true
}

// eventData returns the event as the resolver gets it (checked, filtered, projected and
// wrapped at the merge path), or a payload to send instead (a malformed event), or skip
// when the filter drops it.
func (g *group) eventData(ev *eventsource.Event, buf *bytes.Buffer) (initial, payload []byte, skip bool) {
	data := ev.Data
	t, isEvent := g.spec.sub.Trigger.Source.(*eventTrigger)
	if isEvent {
		data = withTypename(data, t.concrete)
		if msg := checkEvent(data, t); msg != "" {
			g.hub().opts.log.Warn().Str("subject", ev.Subject).Str("reason", msg).Msg("malformed event")
			return nil, graphQLErrorResponse(msg), false
		}
	} else {
		var errPayload []byte
		data, errPayload = selectUpstream(data, g.spec.sub.Trigger.PostProcessing)
		if errPayload != nil {
			return nil, errPayload, false
		}
	}
	merge := g.spec.sub.Trigger.PostProcessing.MergePath
	// The filter reads the event as published (its fieldPaths name schema fields).
	if f := g.spec.sub.Filter; f != nil {
		buf.Reset()
		skip, err := f.SkipEvent(g.resolveContext(), data, buf)
		if err != nil {
			return nil, graphQLErrorResponse("subscription filter: " + err.Error()), false
		}
		if skip {
			return nil, nil, true
		}
	}
	if isEvent {
		data = keepDeclared(data, t.concrete, t.declared)
		if t.fields != nil {
			projected, err := project(data, t.fields)
			if err != nil {
				return nil, graphQLErrorResponse(fmt.Sprintf("invalid event on %s: %v", t.field, err)), false
			}
			data = projected
		}
	}
	return wrapAt(data, merge), nil, false
}

// withTypename adds "__typename": concrete to an event object that has none.
func withTypename(data []byte, concrete string) []byte {
	if concrete == "" {
		return data
	}
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) < 2 || trimmed[0] != '{' {
		return data
	}
	if _, _, _, err := jsonparser.Get(trimmed, "__typename"); err == nil {
		return data
	}
	out := make([]byte, 0, len(trimmed)+len(concrete)+16)
	out = append(out, `{"__typename":`...)
	out = appendJSONString(out, concrete)
	rest := bytes.TrimSpace(trimmed[1:])
	if len(rest) > 0 && rest[0] != '}' {
		out = append(out, ',')
	}
	return append(out, rest...)
}

// checkEvent explains why an event cannot be resolved, or returns "".
func checkEvent(data []byte, t *eventTrigger) string {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return fmt.Sprintf("invalid event on %s: the payload is not a JSON object", t.field)
	}
	// jsonparser reads only what it looks up: without this, a payload such as
	// {"id":1,} would reach the rendering fast path and go out to clients as is.
	if err := astjson.ValidateBytes(data); err != nil {
		return fmt.Sprintf("invalid event on %s: the payload is not valid JSON: %v", t.field, err)
	}
	typeName, err := typenameOf(data)
	if err != nil {
		if errors.Is(err, jsonparser.KeyPathNotFoundError) {
			return fmt.Sprintf("invalid event on %s: the payload has no \"__typename\"", t.field)
		}
		return fmt.Sprintf("invalid event on %s: the payload is not valid JSON: %v", t.field, err)
	}
	if t.concrete != "" && string(typeName) != t.concrete {
		return fmt.Sprintf("invalid event on %s: __typename %q is not the field's type %s", t.field, typeName, t.concrete)
	}
	keySets, ok := t.keys[string(typeName)]
	if !ok {
		return fmt.Sprintf("invalid event on %s: __typename %q is not an entity of the event subgraph", t.field, typeName)
	}
	var missing string
	for _, fields := range keySets {
		missing = ""
		for _, f := range fields {
			if _, _, _, err := jsonparser.Get(data, f); err != nil {
				missing = f
				break
			}
		}
		if missing == "" {
			return ""
		}
	}
	return fmt.Sprintf("invalid event on %s: the %s entity is missing its key field %q", t.field, typeName, missing)
}

// typenameOf is jsonparser.GetString(data, "__typename") without the string's
// allocation in the common case, a name without escapes; the bytes are data's.
func typenameOf(data []byte) ([]byte, error) {
	raw, typ, _, err := jsonparser.Get(data, "__typename")
	if err == nil && typ == jsonparser.String && bytes.IndexByte(raw, '\\') < 0 {
		return raw, nil
	}
	s, err := jsonparser.GetString(data, "__typename")
	return []byte(s), err
}

// selectUpstream applies the post-processing of an upstream subscription message.
func selectUpstream(msg []byte, pp engine.PostProcessingConfiguration) (data []byte, errPayload []byte) {
	if len(pp.SelectResponseErrorsPath) > 0 {
		if errs, typ, _, err := jsonparser.Get(msg, pp.SelectResponseErrorsPath...); err == nil && typ == jsonparser.Array {
			out := append([]byte(`{"errors":`), errs...)
			return nil, append(out, '}')
		}
	}
	if len(pp.SelectResponseDataPath) == 0 {
		return msg, nil
	}
	d, _, _, err := jsonparser.Get(msg, pp.SelectResponseDataPath...)
	if err != nil {
		return nil, graphQLErrorResponse("upstream message has no data")
	}
	return d, nil
}

// wrapAt nests data under path: wrapAt(d, ["a","b"]) = {"a":{"b":d}}.
func wrapAt(data []byte, path []string) []byte {
	if len(path) == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+16*len(path))
	for _, p := range path {
		out = append(out, '{')
		out = appendJSONString(out, p)
		out = append(out, ':')
	}
	out = append(out, data...)
	for range path {
		out = append(out, '}')
	}
	return out
}

// Stats are the hub's counters; the metrics endpoint reads them.
type Stats struct {
	Groups         atomic.Int64
	Subscribers    atomic.Int64
	EventsReceived atomic.Uint64
	MessagesQueued atomic.Uint64
	SlowDrops      atomic.Uint64
	GroupDrops     atomic.Uint64
	ResolveCount   atomic.Uint64
	ResolveNanos   atomic.Uint64
	UpstreamErrors atomic.Uint64
	// EntityFetches counts the `_entities` fetches of event resolution; EntityRequests the
	// subgraph requests that served them (fewer when fetches were batched).
	EntityFetches  atomic.Uint64
	EntityRequests atomic.Uint64
	// Prepared operations: requests served from the cache, requests prepared anew (parsed,
	// normalized, validated, planned) and entries evicted by its bounds.
	PreparedHits      atomic.Uint64
	PreparedMisses    atomic.Uint64
	PreparedEvictions atomic.Uint64
}

func (s *Stats) observeResolve(d time.Duration) {
	s.ResolveCount.Add(1)
	s.ResolveNanos.Add(uint64(d))
}
