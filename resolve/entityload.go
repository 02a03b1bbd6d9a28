package resolve

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wundergraph/astjson"
	"github.com/wundergraph/go-arena"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/httpclient"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/h1post"
	"github.com/edgate/edgate/internal/telemetry"
)

// The entity loader is the hub's DataLoader for events whose subscription needs exactly
// one `_entities` fetch merged into the event's object. Such events do not go through the
// general resolver: a group takes its inbox as one round, renders each event's
// representation (as the engine would; tested), queues them here and yields, its later
// events waiting behind the round; the loader sends the queued representations of all
// groups with the same fetch and forwarded headers as one request, splits the answer,
// and the group renders each event with the fast path (fastpath.go), delivers the round
// in order and goes on with its inbox, on the loader's goroutine. No goroutine waits per
// event, and a group's backlog shares requests too.
//
// Anything the loader cannot settle with certainty (a failed request, GraphQL errors, a
// wrong number of entities, an entity the fast path cannot print) leaves that event to
// the general resolver, on a worker, which fetches it alone and reports what the subgraph
// said, exactly as without batching. So a bad answer affects only its batch, and an
// entity's error only its group.
//
// Sending: a key (subgraph, query, header scope) sends at once when nothing is in flight
// and its last request went out at least a window ago, or carried only the same group's
// events (no other group could have joined). Otherwise the representations wait for the
// window since the last request and for the request in flight, so a busy key sends one
// request per window carrying about rate × window events: each subgraph request costs the
// gateway far more (an HTTP round trip: a write, a read and goroutine hand-offs) than the
// event it serves. The price is up to one window of latency for events that come faster
// than one per window.

// entityTarget is what makes requests mergeable: the subgraph and the fetch's input
// around the representations (URL, method, static headers, query). Interned per hub, so a
// group holds a pointer, not its own copy of the query.
type entityTarget struct {
	subgraph       string
	header, footer []byte
	// client is the subgraph's HTTP client, as the engine's data source has it (metrics,
	// pool), without the HTTP-level batcher of entitybatch.go.
	client *http.Client
	// post is the loader's own HTTP/1.1 path for the request (entitypost.go); nil: client.
	post *entityPost
}

// entityPlan is a subscription plan's single `_entities` fetch.
type entityPlan struct {
	target *entityTarget
	source engine.DataSource
	item   []engine.TemplateSegment
	// rep is the representation's selection when the fast path prints it as the engine's
	// variable renderer does (checked in tests); nil: the engine's renderer runs.
	rep *engine.Object
	// repTypes are the types the representation's fields are selected on (the engine
	// prints them only for an object of one of these types); empty: any.
	repTypes []string
	// path is where the event's object sits in the response data; the entity merges into it.
	path []string
	data *engine.Object
}

// entityPlanFor returns the loader's plan for sub, or nil when its events need the
// general resolver: the plan must be exactly one entity fetch into the event's own object
// with a static request around the representation, and a response the fast path prints.
func entityPlanFor(sub *engine.GraphQLSubscription) (*entityPlan, string) {
	if sub == nil || sub.Response == nil || sub.Response.Data == nil {
		return nil, ""
	}
	if _, isEvent := sub.Trigger.Source.(*eventTrigger); !isEvent || !renderable(sub.Response.Data) {
		return nil, ""
	}
	root := sub.Response.Fetches
	if root == nil || root.Item != nil || len(root.ChildNodes) != 1 {
		return nil, ""
	}
	node := root.ChildNodes[0]
	if node.Kind != engine.FetchTreeNodeKindSingle || node.Item == nil || len(node.ChildNodes) != 0 {
		return nil, ""
	}
	fetch, ok := node.Item.Fetch.(*engine.EntityFetch)
	if !ok || fetch.Info == nil || fetch.DataSource == nil {
		return nil, ""
	}
	pp := fetch.PostProcessing
	if !slices.Equal(pp.SelectResponseDataPath, []string{"data", "_entities", "0"}) || !slices.Equal(pp.SelectResponseErrorsPath, []string{"errors"}) || len(pp.MergePath) != 0 {
		return nil, ""
	}
	if !slices.Equal(node.Item.ResponsePathElements, sub.Trigger.PostProcessing.MergePath) {
		return nil, ""
	}
	for _, p := range node.Item.FetchPath {
		if p.Kind != engine.FetchItemPathElementKindObject || len(p.TypeNames) > 0 {
			return nil, ""
		}
	}
	header, ok := staticTemplate(fetch.Input.Header)
	if !ok {
		return nil, ""
	}
	footer, ok := staticTemplate(fetch.Input.Footer)
	if !ok {
		return nil, ""
	}
	var rep *engine.Object
	var repTypes []string
	for _, s := range fetch.Input.Item.Segments {
		if s.SegmentType != engine.VariableSegmentType {
			continue
		}
		if s.VariableKind != engine.ResolvableObjectVariableKind || s.Renderer == nil {
			return nil, ""
		}
		if r, ok := s.Renderer.(*engine.GraphQLVariableResolveRenderer); ok && len(fetch.Input.Item.Segments) == 1 {
			if obj, ok := r.Node.(*engine.Object); ok && len(obj.Path) == 0 {
				rep, repTypes = flatRepresentation(obj)
			}
		}
	}
	key := fetch.Info.DataSourceName + "\x00" + string(header) + "\x00" + string(footer)
	return &entityPlan{
		target:   &entityTarget{subgraph: fetch.Info.DataSourceName, header: header, footer: footer},
		source:   fetch.DataSource,
		item:     fetch.Input.Item.Segments,
		rep:      rep,
		repTypes: repTypes,
		path:     node.Item.ResponsePathElements,
		data:     sub.Response.Data,
	}, key
}

// flatRepresentation returns the representation's selection without its type conditions
// when every field has the same ones (`... on Employee { __typename id }`) and the fast
// path prints the rest; nil otherwise.
func flatRepresentation(obj *engine.Object) (*engine.Object, []string) {
	if len(obj.Fields) == 0 {
		return nil, nil
	}
	types := obj.Fields[0].OnTypeNames
	flat := *obj
	flat.Fields = make([]*engine.Field, len(obj.Fields))
	for i, f := range obj.Fields {
		if len(f.OnTypeNames) != len(types) {
			return nil, nil
		}
		for k := range types {
			if !bytes.Equal(f.OnTypeNames[k], types[k]) {
				return nil, nil
			}
		}
		c := *f
		c.OnTypeNames = nil
		flat.Fields[i] = &c
	}
	if !renderable(&flat) {
		return nil, nil
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = string(t)
	}
	return &flat, names
}

func staticTemplate(t engine.InputTemplate) ([]byte, bool) {
	var out []byte
	for _, s := range t.Segments {
		if s.SegmentType != engine.StaticSegmentType {
			return nil, false
		}
		out = append(out, s.Data...)
	}
	return out, true
}

// representation renders the fetch's representation of the event (initial: the event
// wrapped at the merge path) as the engine would; ok is false when the engine would skip
// the fetch or fail, which the general resolver then reports.
func (p *entityPlan) representation(ctx context.Context, initial []byte, buf *bytes.Buffer) ([]byte, bool) {
	a := getArena()
	defer putArena(a)
	v, err := astjson.ParseBytesWithArena(a, initial)
	if err != nil {
		return nil, false
	}
	return p.representationOf(ctx, v.Get(p.path...), buf)
}

// eventRepresentation is representation for an event as published, for the events that
// need nothing of eventData but its checks (see eventRender.renderEvent): one parse for
// the checks and the representation. ok is false when the event needs eventData; data is
// the event as render reads it (with its __typename), which may be ev's own bytes.
func (p *entityPlan) eventRepresentation(ctx context.Context, ev []byte, t *eventTrigger, buf *bytes.Buffer) (rep, data []byte, ok bool) {
	if t.fields != nil {
		return nil, nil, false
	}
	data = withTypename(ev, t.concrete)
	if checkEvent(data, t) != "" {
		return nil, nil, false
	}
	a := getArena()
	defer putArena(a)
	v, err := astjson.ParseBytesWithArena(a, data)
	if err != nil || !onlyDeclared(v, t.concrete, t.declared) {
		return nil, nil, false
	}
	// the event's object is where the entity merges in: the plan's path is the merge path
	if rep, ok = p.representationOf(ctx, v, buf); !ok {
		return nil, nil, false
	}
	return rep, data, true
}

// representationOf renders the representation of the event's object obj.
func (p *entityPlan) representationOf(ctx context.Context, obj *astjson.Value, buf *bytes.Buffer) ([]byte, bool) {
	if obj == nil || obj.Type() != astjson.TypeObject {
		return nil, false
	}
	if p.rep != nil && (len(p.repTypes) == 0 || slices.Contains(p.repTypes, string(obj.GetStringBytes("__typename")))) {
		out, ok := renderObject(make([]byte, 0, 64), p.rep, obj)
		if !ok || len(out) < 2 || bytes.Equal(out, []byte("{}")) {
			return nil, false
		}
		return out, true
	}
	buf.Reset()
	for _, s := range p.item {
		if s.SegmentType == engine.StaticSegmentType {
			buf.Write(s.Data)
			continue
		}
		if err := s.Renderer.RenderVariable(ctx, obj, buf); err != nil {
			return nil, false
		}
	}
	rep := buf.Bytes()
	if len(rep) < 2 || rep[0] != '{' || bytes.Equal(rep, []byte("{}")) {
		return nil, false
	}
	return bytes.Clone(rep), true
}

// render appends {"data":...} for the event with entity merged into its object, as the
// general resolver prints it; ok is false when the general resolver must decide.
//
// The event is parsed into ev, which the caller resets after the call; what the merge
// adds goes into entities, the arena the entity was parsed into (nil: the heap), which
// outlives the call.
func (p *entityPlan) render(dst, initial []byte, entity *astjson.Value, ev, entities arena.Arena) ([]byte, bool) {
	if entity == nil || entity.Type() != astjson.TypeObject {
		return dst, false
	}
	v, err := astjson.ParseBytesWithArena(ev, initial)
	if err != nil {
		return dst, false
	}
	return p.renderMerged(dst, v, v.Get(p.path...), entity, entities)
}

// renderEvent is render for an event as published (data, not wrapped at the merge path;
// see eventRepresentation).
func (p *entityPlan) renderEvent(dst, data []byte, entity *astjson.Value, ev, entities arena.Arena) ([]byte, bool) {
	if entity == nil || entity.Type() != astjson.TypeObject {
		return dst, false
	}
	obj, err := astjson.ParseBytesWithArena(ev, data)
	if err != nil {
		return dst, false
	}
	v := obj
	for i := len(p.path) - 1; i >= 0; i-- {
		wrap := astjson.ObjectValue(ev)
		wrap.Set(ev, p.path[i], v)
		v = wrap
	}
	return p.renderMerged(dst, v, obj, entity, entities)
}

// renderMerged merges entity into obj, the event's object in the response data v, and
// renders v.
func (p *entityPlan) renderMerged(dst []byte, v, obj, entity *astjson.Value, entities arena.Arena) ([]byte, bool) {
	if obj == nil || obj.Type() != astjson.TypeObject {
		return dst, false
	}
	if _, _, err := astjson.MergeValues(entities, obj, entity); err != nil {
		return dst, false
	}
	start := len(dst)
	dst = append(dst, `{"data":`...)
	dst, ok := renderObject(dst, p.data, v)
	if !ok {
		return dst[:start], false
	}
	return append(dst, '}'), true
}

// entityRound is the events a group took from its inbox at once, in order: those that
// need an entity wait in the loader together (usually in one request), and the round is
// delivered in order when the last of them is answered.
type entityRound struct {
	g    *group
	jobs []*entityJob
	next int // the first job not yet delivered
	// waiting counts the jobs the loader has not answered yet.
	waiting atomic.Int32
	started time.Time
}

// entityJob is one event of a round. Exactly one of: payload (ready to send), rep (waits
// for its entity; payload is set when it arrives), general (the general resolver decides).
type entityJob struct {
	round   *entityRound
	ev      eventsource.Event
	id      string
	payload []byte
	general bool
	rep     []byte
	initial []byte
	// event is the event as published (with its __typename) instead of initial, when
	// eventRepresentation took it.
	event []byte
}

type entityKey struct {
	target  *entityTarget
	headers uint64
}

type entityQueue struct {
	key entityKey
	// plan and headers are the first group's: every group of the key sends the same
	// request around its representations.
	plan     *entityPlan
	headers  http.Header
	jobs     []*entityJob
	inflight int
	last     time.Time // when the key's last request went out
	// lastGroup is the group whose events alone made up the last request (nil: several).
	lastGroup *group
	timer     *time.Timer
	armed     bool
}

// entityMaxInflight bounds the requests of one key in flight: one, plus one for a batch
// that filled up meanwhile.
const entityMaxInflight = 2

type entityLoader struct {
	ctx context.Context
	// client returns a subgraph's HTTP client; nil: requests go through the data source.
	client  func(subgraph string) *http.Client
	metrics *telemetry.Metrics
	// netHTTP keeps every request on client (tests compare both paths).
	netHTTP bool
	window  time.Duration
	timeout time.Duration
	stats   *Stats

	mu      sync.Mutex
	queues  map[entityKey]*entityQueue
	targets map[string]*entityTarget
	// posts are the HTTP/1.1 clients of entityPost, one per subgraph URL.
	posts   map[string]*h1post.Client
	stopped bool
	wg      sync.WaitGroup // requests being made and answers being handed out
}

func newEntityLoader(ctx context.Context, window, timeout time.Duration, stats *Stats, client func(string) *http.Client, metrics *telemetry.Metrics) *entityLoader {
	return &entityLoader{ctx: ctx, client: client, metrics: metrics, window: window, timeout: timeout, stats: stats, queues: make(map[entityKey]*entityQueue), targets: make(map[string]*entityTarget), posts: make(map[string]*h1post.Client)}
}

// maxEntityTargets bounds the interned targets (distinct `_entities` queries); past it a
// plan keeps its own, which batches only with groups of the same plan.
const maxEntityTargets = 4096

// intern returns the shared target for key, registering t if it is the first.
func (l *entityLoader) intern(key string, t *entityTarget) *entityTarget {
	l.mu.Lock()
	defer l.mu.Unlock()
	if have, ok := l.targets[key]; ok {
		return have
	}
	if l.client != nil {
		t.client = l.client(t.subgraph)
		if !l.netHTTP && !l.stopped {
			t.post = l.newEntityPost(t)
		}
	}
	if len(l.targets) < maxEntityTargets {
		l.targets[key] = t
	}
	return t
}

// add queues the jobs of one group (same plan and headers); false when the loader has
// stopped (the engine is going away).
func (l *entityLoader) add(p *entityPlan, headers http.Header, hash uint64, jobs []*entityJob) bool {
	key := entityKey{p.target, hash}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopped {
		return false
	}
	q := l.queues[key]
	if q == nil {
		q = &entityQueue{key: key, plan: p, headers: headers}
		l.queues[key] = q
	}
	q.jobs = append(q.jobs, jobs...)
	if send := l.take(q, time.Now()); send != nil {
		go l.send(q, send)
	}
	return true
}

// take returns the jobs of q to send now (its in-flight count and l.wg raised), or nil
// after arming q's timer for when it may send; l.mu is held.
func (l *entityLoader) take(q *entityQueue, now time.Time) []*entityJob {
	if len(q.jobs) == 0 {
		if q.inflight == 0 && !q.armed {
			// forget the key once its window has passed, so a key per user leaves nothing
			l.arm(q, q.last.Add(l.window).Sub(now))
		}
		return nil
	}
	full := len(q.jobs) >= entityBatchMax
	if q.inflight > 0 && (!full || q.inflight >= entityMaxInflight) {
		return nil // the request in flight takes again when it ends
	}
	due := q.last.Add(l.window)
	// Only other groups' events can join a batch (a group's next events wait for this
	// round): a group that had the key to itself sends again at once.
	alone := q.lastGroup != nil && q.jobs[0].round.g == q.lastGroup && q.jobs[len(q.jobs)-1].round.g == q.lastGroup
	if !full && now.Before(due) && !alone {
		l.arm(q, due.Sub(now))
		return nil
	}
	jobs := q.jobs
	if full {
		// The rest stays in the same array (a copy per batch was quadratic in a backlog
		// of thousands of groups' events); the batch's capacity ends at its length, so the
		// queue's appends never touch it, and the array goes once the queue empties or
		// outgrows it.
		jobs = q.jobs[:entityBatchMax:entityBatchMax]
		q.jobs = q.jobs[entityBatchMax:]
	} else {
		q.jobs = nil
	}
	q.inflight++
	q.last = now
	q.lastGroup = jobs[0].round.g
	if jobs[len(jobs)-1].round.g != q.lastGroup {
		q.lastGroup = nil
	}
	l.wg.Add(1)
	return jobs
}

func (l *entityLoader) arm(q *entityQueue, d time.Duration) {
	if q.armed {
		return
	}
	q.armed = true
	if q.timer == nil {
		q.timer = time.AfterFunc(d, func() { l.fire(q) })
		return
	}
	q.timer.Reset(d)
}

func (l *entityLoader) fire(q *entityQueue) {
	l.mu.Lock()
	q.armed = false
	if l.stopped {
		l.mu.Unlock()
		return
	}
	if len(q.jobs) == 0 && q.inflight == 0 {
		if l.queues[q.key] == q {
			delete(l.queues, q.key)
		}
		l.mu.Unlock()
		return
	}
	send := l.take(q, time.Now())
	l.mu.Unlock()
	if send != nil {
		// the timer's goroutine makes the request: no second hand-off
		l.send(q, send)
	}
}

// send makes one request for jobs and hands each its entity; the caller raised q's
// in-flight count and l.wg.
func (l *entityLoader) send(q *entityQueue, jobs []*entityJob) {
	defer l.wg.Done()
	t := q.plan.target
	var out []byte
	var err error
	if t.post != nil && !telemetry.TracingOn() {
		// spans need the RoundTripper of t.client
		out, err = l.post(t, q.headers, jobs)
	} else {
		out, err = l.fetch(q, jobs)
	}
	l.stats.EntityFetches.Add(uint64(len(jobs)))
	l.stats.EntityRequests.Add(1)
	l.answer(q, jobs, out, err)
}

// joinRepresentations is the request of jobs: their representations, comma-separated,
// between the request's text before and after the representations list.
func joinRepresentations(before, after []byte, jobs []*entityJob) []byte {
	n := len(before) + len(after)
	for _, j := range jobs {
		n += len(j.rep) + 1
	}
	out := make([]byte, 0, n)
	out = append(out, before...)
	for i, j := range jobs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, j.rep...)
	}
	return append(out, after...)
}

// fetch makes the request of jobs through the subgraph's net/http client, or the data
// source when the loader has none.
func (l *entityLoader) fetch(q *entityQueue, jobs []*entityJob) ([]byte, error) {
	t := q.plan.target
	input := joinRepresentations(t.header, t.footer, jobs)
	ctx, cancel := context.WithTimeout(l.ctx, l.timeout)
	defer cancel()
	if t.client != nil {
		// The data source's Load would compact the variables and drop undefined ones
		// first: the loader's are compact and never undefined. httpclient adds its own
		// headers to the map it is given, and the forwarded headers are the group's:
		// each request gets a copy.
		return httpclient.Do(t.client, ctx, q.headers.Clone(), input)
	}
	return q.plan.source.Load(ctx, q.headers.Clone(), input)
}

// answer hands each job its entity from out (or to the general resolver), lets q send
// again, and delivers the rounds whose last entity this was.
func (l *entityLoader) answer(q *entityQueue, jobs []*entityJob, out []byte, err error) {
	l.mu.Lock()
	q.inflight--
	var next []*entityJob
	if !l.stopped {
		next = l.take(q, time.Now())
	}
	l.mu.Unlock()
	if next != nil {
		go l.send(q, next)
	}

	// The answer's values and each event's live in arenas: parsed into the heap they
	// were a dozen allocations per event. The answer's arena holds the entities until
	// every event is rendered; an event's is reset after its render.
	answerArena, eventArena := getAnswerArena(), getArena()
	defer putAnswerArena(answerArena)
	defer putArena(eventArena)
	var entities []*astjson.Value
	if err == nil {
		entities = splitEntities(answerArena, out, len(jobs))
	}
	for i, j := range jobs {
		ok := false
		if entities != nil {
			if j.event != nil {
				j.payload, ok = j.round.g.spec.sub.ent.renderEvent(make([]byte, 0, len(j.event)+64), j.event, entities[i], eventArena, answerArena)
			} else {
				j.payload, ok = j.round.g.spec.sub.ent.render(make([]byte, 0, len(j.initial)+64), j.initial, entities[i], eventArena, answerArena)
			}
			eventArena.Reset()
		}
		// without an entity the fast path prints, the general resolver fetches it alone
		// and reports what the subgraph says
		j.general = !ok
		j.rep, j.initial, j.event = nil, nil, nil
	}
	var buf bytes.Buffer
	for _, j := range jobs {
		if j.round.waiting.Add(-1) == 0 {
			j.round.g.entityRoundDone(j.round, &buf)
		}
	}
}

// splitEntities returns the n entities of an answer, or nil when the answer is not
// exactly n entities without errors.
func splitEntities(a arena.Arena, out []byte, n int) []*astjson.Value {
	v, err := astjson.ParseBytesWithArena(a, out)
	if err != nil || v.Type() != astjson.TypeObject {
		return nil
	}
	if e := v.Get("errors"); e != nil && e.Type() != astjson.TypeNull {
		return nil
	}
	arr, err := v.Get("data", "_entities").Array()
	if err != nil || len(arr) != n {
		return nil
	}
	return arr
}

// stop sends nothing more and waits for the requests in flight (the engine's context
// ends them); queued events are dropped with their closing groups.
func (l *entityLoader) stop() {
	l.mu.Lock()
	l.stopped = true
	for _, q := range l.queues {
		if q.timer != nil {
			q.timer.Stop()
		}
	}
	l.queues = make(map[entityKey]*entityQueue)
	posts := l.posts
	l.posts = nil
	l.mu.Unlock()
	l.wg.Wait()
	for _, c := range posts {
		c.Close()
	}
}

// entityRound resolves the events of batch, taken from the inbox, through the loader.
// It returns true when they were delivered (go on with the inbox), false when the loader
// or a worker will deliver them and go on. inline: the caller must not block.
func (g *group) entityRound(batch []eventsource.Event, buf *bytes.Buffer, inline bool) bool {
	r := &entityRound{g: g, jobs: make([]*entityJob, 0, len(batch)), started: time.Now()}
	var waiting []*entityJob
	trigger, _ := g.spec.sub.Trigger.Source.(*eventTrigger)
	quick := trigger != nil && g.spec.sub.Filter == nil
	for i := range batch {
		ev := &batch[i]
		if quick {
			if rep, data, ok := g.spec.sub.ent.eventRepresentation(g.context(), ev.Data, trigger, buf); ok {
				j := &entityJob{round: r, ev: *ev, id: g.nextID(ev.Position), rep: rep, event: data}
				waiting = append(waiting, j)
				r.jobs = append(r.jobs, j)
				continue
			}
		}
		initial, payload, skip := g.eventData(ev, buf)
		if skip {
			continue
		}
		j := &entityJob{round: r, ev: *ev, id: g.nextID(ev.Position), payload: payload}
		if payload == nil {
			if rep, ok := g.spec.sub.ent.representation(g.context(), initial, buf); ok {
				j.rep, j.initial = rep, initial
				if len(g.spec.sub.Trigger.PostProcessing.MergePath) == 0 {
					// not a copy eventData made (wrapAt): it may be the event's own bytes
					j.initial = bytes.Clone(initial)
				}
				waiting = append(waiting, j)
			} else {
				j.general = true
			}
		}
		r.jobs = append(r.jobs, j)
	}
	if len(waiting) > 0 {
		r.waiting.Store(int32(len(waiting)))
		headers, hash := g.spec.headers.shared(g.spec.sub.ent.target.subgraph)
		if g.hub().entities.add(g.spec.sub.ent, headers, hash, waiting) {
			return false
		}
		for _, j := range waiting {
			j.general, j.rep, j.initial, j.event = true, nil, nil, nil
		}
	}
	if !g.deliverRound(r, !inline, buf) {
		return false
	}
	return true
}

// entityRoundDone runs on the loader's goroutine when every entity of r is answered: it
// delivers r and goes on with the group's inbox, or hands both to a worker when an event
// of r needs the general resolver.
func (g *group) entityRoundDone(r *entityRound, buf *bytes.Buffer) {
	if g.deliverRound(r, false, buf) {
		g.drain(buf, true)
	}
}

// deliverRound sends r's events from r.next on, in order. An event for the general
// resolver needs a goroutine that may block: without one (canBlock false) the group
// goes to a worker, which resumes r (drain), and deliverRound returns false.
func (g *group) deliverRound(r *entityRound, canBlock bool, buf *bytes.Buffer) bool {
	// A few members are written to on this goroutine, as on the broker's for the fast
	// path; a worker leaves the writes to the writer shards.
	inline := !canBlock && len(g.snapshot()) <= inlineMembers
	stats := g.hub().opts.stats
	for ; r.next < len(r.jobs); r.next++ {
		if g.done() {
			return true
		}
		j := r.jobs[r.next]
		payload := j.payload
		if j.general {
			if !canBlock {
				g.resume = r
				g.hub().workers.run(g)
				return false
			}
			var ok bool
			if payload, ok = g.resolveEvent(g.context(), &j.ev, buf); !ok {
				continue
			}
		}
		stats.observeResolve(time.Since(r.started))
		g.hub().opts.metrics.ObserveResolved(g.context(), j.ev.Received, telemetry.Now())
		g.broadcast(Message{ID: j.id, Payload: payload, Received: j.ev.Received}, inline)
		r.jobs[r.next] = nil
	}
	return true
}
