// Package resolve is edgate's operation pipeline on graphql-go-tools v2: parse, normalize,
// validate and plan (with a plan cache), execute queries and mutations across subgraphs,
// and the subscription hub that resolves each event once per group of identical
// subscriptions and fans the bytes out to bounded per-client queues.
package resolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/rs/zerolog"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/subjectauth"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/schema"
)

// Broker is what the engine needs from the event source registry.
type Broker interface {
	eventSubscriber
	eventBroker
}

// Options configure an Engine. Zero values use the documented defaults.
type Options struct {
	Supergraph *schema.Supergraph
	// Events is the broker registry (eventsource.Registry).
	Events Broker
	// HTTPClient performs subgraph requests; default: a client with a 30 s timeout,
	// keep-alive connections (up to 1,024 idle per subgraph host) and HTTP/2 where a TLS
	// subgraph offers it.
	HTTPClient *http.Client
	// Headers forward client headers to subgraphs.
	Headers HeaderRules
	// EntityBatchWindow batches the `_entities` fetches of event resolution across groups
	// (entityload.go, entitybatch.go): the least time between two requests of one
	// subgraph, query and header scope; 0 means DefaultEntityBatchWindow, negative turns
	// batching off.
	EntityBatchWindow time.Duration
	// QueueSize is each subscriber's queue capacity (default DefaultQueueSize).
	QueueSize int
	// SlowPolicy applies when a subscriber's queue is full (default Disconnect).
	SlowPolicy SlowPolicy
	// MaxQueryBytes rejects longer query texts (default 0: no limit).
	MaxQueryBytes int
	// Limits bound the size and shape of an operation, checked before it is parsed
	// (default DefaultOperationLimits; a zero field turns that limit off).
	Limits *OperationLimits
	// PreparationBudget bounds the time an operation's preparation (parse, normalize,
	// validate, plan) may take; it is checked between those steps (default
	// DefaultPreparationBudget; negative: none).
	PreparationBudget time.Duration
	// PlanCacheEntries and PlanCacheBytes bound the plan cache (defaults
	// DefaultPlanCacheEntries and DefaultPlanCacheBytes; bytes are estimated from the
	// normalized operation's size).
	PlanCacheEntries int
	PlanCacheBytes   int64
	// MaxPreparedOperations and MaxPreparedBytes bound the cache of prepared operations
	// (keyed by raw text and operation name; automatic persisted queries live there too);
	// the least recently used go first. Defaults DefaultMaxPreparedOperations and
	// DefaultMaxPreparedBytes.
	MaxPreparedOperations int
	MaxPreparedBytes      int
	// Stats receives the hub counters; default: a private instance (see Engine.Stats).
	Stats *Stats
	// Upstream configures subscriptions served by subgraphs (see upstream.go).
	Upstream UpstreamOptions
	// Authorization restricts the subjects clients may use, by provider; providers without
	// a policy are open (see authz.go). Default: none.
	Authorization map[eventsource.ProviderID]*subjectauth.Policy
	// Hooks extend subscriptions and publishes (see Hooks). Default: none.
	Hooks Hooks
	// Metrics receives the latency histograms (subgraph fetches, planning, event
	// resolution); nil: none.
	Metrics *telemetry.Metrics
	Log     zerolog.Logger
}

// Engine executes GraphQL requests against one composed schema.
type Engine struct {
	// resumes numbers resumed subscriptions, each a group of its own
	resumes   atomic.Uint64
	ctx       context.Context
	cancel    context.CancelFunc
	pipeline  *pipeline
	resolver  *engine.Resolver
	hub       *hub
	headers   HeaderRules
	subgraphs []string
	opts      Options
	schema    *schema.Schema
	hooks     *hookSet // nil: none
}

// New builds the plan configuration for opts.Supergraph and starts the resolver.
func New(ctx context.Context, opts Options) (*Engine, error) {
	if opts.Supergraph == nil {
		return nil, errors.New("resolve: no supergraph")
	}
	if opts.Events == nil {
		return nil, errors.New("resolve: no event registry")
	}
	// the entity loader's own HTTP/1.1 client (entitypost.go) stands in for the default
	// client only: a client given here is used as it is
	ownClient := opts.HTTPClient == nil
	if ownClient {
		opts.HTTPClient = defaultHTTPClient()
	}
	if opts.QueueSize <= 0 {
		opts.QueueSize = DefaultQueueSize
	}
	if opts.Stats == nil {
		opts.Stats = &Stats{}
	}
	switch {
	case opts.PreparationBudget == 0:
		opts.PreparationBudget = DefaultPreparationBudget
	case opts.PreparationBudget < 0:
		opts.PreparationBudget = 0
	}
	hooks, err := newHookSet(opts.Hooks, opts.Log)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	e := &Engine{ctx: ctx, cancel: cancel, headers: opts.Headers, opts: opts, hooks: hooks}

	e.resolver = engine.New(ctx, engine.ResolverOptions{
		MaxConcurrency:               1024,
		PropagateSubgraphErrors:      true,
		PropagateSubgraphStatusCodes: false,
		SubgraphErrorPropagationMode: engine.SubgraphErrorPropagationModePassThrough,
		RewriteSubgraphErrorPaths:    true,
		AsyncErrorWriter:             &asyncErrorLogger{log: opts.Log},
		ResolvableOptions:            engine.ResolvableOptions{},
		AllowedErrorExtensionFields:  []string{"code"},
		AllowedSubgraphErrorFields:   []string{"extensions"},
	})

	streaming := &http.Client{Transport: opts.HTTPClient.Transport}
	fetchClient := opts.HTTPClient
	if window := entityWindow(opts.EntityBatchWindow); window >= 0 {
		c := *opts.HTTPClient
		c.Transport = newEntityBatcher(opts.HTTPClient.Transport, window, 30*time.Second, opts.Stats)
		fetchClient = &c
	}
	subClient := graphql_datasource.NewGraphQLSubscriptionClient(opts.HTTPClient, streaming, ctx)
	events := &eventFactory{ctx: ctx, broker: opts.Events, log: opts.Log, authz: opts.Authorization, hooks: hooks}
	built, err := opts.Supergraph.Build(schema.BuildOptions{
		GraphQLFactory: func(subgraph string) (plan.PlannerFactory[graphql_datasource.Configuration], error) {
			return graphql_datasource.NewFactory(ctx, subgraphClient(fetchClient, subgraph, opts.Metrics), subClient)
		},
		EventFactory: func(id, name string, md *plan.DataSourceMetadata, bindings []directives.Binding) (plan.DataSource, error) {
			return newEventDataSource(events, id, name, md, bindings)
		},
		ForwardedHeaders: func(subgraph string) ([]string, []*regexp.Regexp) {
			return opts.Headers.propagated(subgraph)
		},
	})
	if err != nil {
		cancel()
		return nil, err
	}
	e.schema = built
	for _, sg := range opts.Supergraph.Config.GetSubgraphs() {
		e.subgraphs = append(e.subgraphs, sg.GetName())
	}
	limits := DefaultOperationLimits
	if opts.Limits != nil {
		limits = *opts.Limits
	}
	e.pipeline = &pipeline{
		definition:       built.Definition,
		clientDefinition: built.ClientDefinition,
		config:           built.Plan,
		cache:            newPlanCache(opts.PlanCacheEntries, opts.PlanCacheBytes),
		budget:           opts.PreparationBudget,
		planSem:          make(chan struct{}, 1),
		prepared:         newPreparedCache(opts.MaxPreparedOperations, opts.MaxPreparedBytes, opts.Stats),
		stats:            opts.Stats,
		kits:             sync.Pool{New: newVariablesKit},
		maxQueryBytes:    opts.MaxQueryBytes,
		metrics:          opts.Metrics,
		limits:           limits,
	}
	var eventHooks *hookSet
	if hooks != nil && (len(hooks.group) > 0 || len(hooks.subscriber) > 0) {
		eventHooks = hooks
	}
	e.hub = newHub(ctx, e.resolver, opts.Events, hubOptions{
		queueSize:  opts.QueueSize,
		policy:     opts.SlowPolicy,
		log:        opts.Log,
		stats:      opts.Stats,
		upstream:   newUpstreamConfig(opts.HTTPClient, opts.Upstream, opts.Log),
		eventHooks: eventHooks,
		metrics:    opts.Metrics,
		// the same window as the HTTP batcher's: the loader takes the events it can
		// resolve itself, the batcher the fetches of the general resolver
		entityWindow: entityWindow(opts.EntityBatchWindow),
		entityPost:   ownClient,
		subgraphClient: func(subgraph string) *http.Client {
			return subgraphClient(opts.HTTPClient, subgraph, opts.Metrics)
		},
	})
	return e, nil
}

// Schema returns the built schema (client SDL, bindings).
func (e *Engine) Schema() *schema.Schema { return e.schema }

// Stats returns the live hub counters.
func (e *Engine) Stats() *Stats { return e.opts.Stats }

// Groups returns the number of running subscription groups.
func (e *Engine) Groups() int { return e.hub.groupCount() }

// Prepare parses, normalizes, validates and plans a request. A client error is a
// *RequestError.
//
// Preparation stops before its next step when ctx ends (the client left) or when the
// preparation budget is spent (a *RequestError with code MAX_PREPARATION_TIME_EXCEEDED).
func (e *Engine) Prepare(ctx context.Context, req *Request) (*Operation, error) {
	_, span := telemetry.Start(ctx, "graphql.prepare")
	op, err := e.pipeline.prepare(ctx, req)
	if span != nil && op != nil {
		span.SetAttributes(attribute.String("graphql.operation.type", op.Kind.String()), attribute.String("graphql.operation.name", op.Name))
	}
	telemetry.End(span, err)
	return op, err
}

// Execute runs a query or mutation and writes the complete JSON result to w.
func (e *Engine) Execute(ctx context.Context, op *Operation, w io.Writer) (err error) {
	// the attributes only when tracing is on: passed on to the tracer, they would cost an
	// allocation per request even with tracing off
	var span trace.Span
	if telemetry.TracingOn() {
		ctx, span = telemetry.Start(ctx, "graphql.execute", attribute.String("graphql.operation.type", op.Kind.String()), attribute.String("graphql.operation.name", op.Name))
	}
	defer func() { telemetry.End(span, err) }()
	sp, ok := op.prepared.plan.plan.(*plan.SynchronousResponsePlan)
	if !ok {
		return NewRequestError("subscriptions must be requested over SSE, multipart or WebSocket")
	}
	// An operation without fetches and without variables of its own ({ __typename }, what
	// load balancers and clients send as a health check) has one result per prepared
	// entry: only its text and the schema (one engine, one cache) decide it. It is
	// resolved once, unless it is too large to keep beside its entry.
	var constant *preparedEntry
	if ent := op.prepared.entry; ent != nil && ent.stage1 == "" && !hasFetches(sp.Response.Fetches) {
		if r := ent.constant.Load(); r != nil {
			_, err = w.Write(*r)
			return err
		}
		constant = ent
	}
	if len(e.opts.Authorization) > 0 || e.hooks != nil {
		ctx = withClientHeader(ctx, op.Request.Header)
	}
	rctx := engine.NewContext(ctx)
	rctx.Variables = mustParseVariables(op.prepared.variables)
	rctx.Request.Header = op.Request.Header
	rctx.Request.ID = op.prepared.plan.key
	rctx.VariablesHash = xxhash.Sum64(op.prepared.variables)
	fh := e.headers.forward(op.Request.Header, e.subgraphs)
	rctx.SubgraphHeadersBuilder = fh
	rctx.InitialPayload = op.Request.InitPayload
	if refused, err := checkSideEffects(ctx, rctx, sp.Response); err != nil {
		return fmt.Errorf("execute %s %q: %w", op.Kind, op.Name, err)
	} else if refused != nil {
		_, err := w.Write(refused)
		return err
	}
	// The transports pass a buffer, which the result is resolved into without a copy; a
	// failed resolve leaves it to them to discard. Other writers get the result only once
	// it is complete.
	buf, direct := w.(*bytes.Buffer)
	if !direct {
		buf = new(bytes.Buffer)
	}
	start := buf.Len()
	if _, err := e.resolver.ResolveGraphQLResponse(rctx, sp.Response, nil, buf); err != nil {
		return fmt.Errorf("execute %s %q: %w", op.Kind, op.Name, err)
	}
	if constant != nil && buf.Len()-start <= maxConstantResult {
		r := bytes.Clone(buf.Bytes()[start:])
		constant.constant.Store(&r)
	}
	if direct {
		return nil
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// maxConstantResult bounds the constant result a prepared entry keeps, so that it stays
// within the entry's overhead allowance of the cache's byte bound.
const maxConstantResult = entryOverhead

// hasFetches reports whether a fetch tree has a fetch.
func hasFetches(n *engine.FetchTreeNode) bool {
	if n == nil {
		return false
	}
	if n.Item != nil && n.Item.Fetch != nil {
		return true
	}
	for _, c := range n.ChildNodes {
		if hasFetches(c) {
			return true
		}
	}
	return false
}

// Subscribe starts a subscription. The returned stream receives one Message per event;
// the caller pulls when opts.Wake fires and must Close the stream when the client leaves.
func (e *Engine) Subscribe(ctx context.Context, op *Operation, opts SubscribeOptions) (_ *Stream, err error) {
	var span trace.Span
	if telemetry.TracingOn() { // see Execute
		_, span = telemetry.Start(ctx, "graphql.subscribe", attribute.String("graphql.operation.name", op.Name))
	}
	defer func() { telemetry.End(span, err) }()
	sp, ok := op.prepared.plan.plan.(*plan.SubscriptionResponsePlan)
	if !ok {
		return nil, NewRequestError(fmt.Sprintf("operation %q is a %s, not a subscription", op.Name, op.Kind))
	}
	variables := canonicalJSON(op.prepared.variables)
	var grant *subjectauth.Grant
	var start *SubscriptionStart // for the hooks; nil without them
	if t, isEvent := sp.Response.Trigger.Source.(*eventTrigger); isEvent {
		var err error
		if grant, err = e.authorizeSubscription(t, sp.Response, variables, op.Request.Header); err != nil {
			return nil, err
		}
		if e.hooks != nil && (len(e.hooks.start) > 0 || len(e.hooks.snapshot) > 0) {
			if start, err = e.startHooks(ctx, t, sp.Response, op, variables, grant); err != nil {
				return nil, err
			}
		}
	}
	fh := e.headers.forward(op.Request.Header, e.subgraphs)

	d := xxhash.New()
	var b [8]byte
	putUint64(b[:], op.prepared.plan.key)
	_, _ = d.Write(b[:])
	_, _ = d.Write(variables)
	putUint64(b[:], fh.HashAll())
	_, _ = d.Write(b[:])
	var initial []byte
	if _, isEvent := sp.Response.Trigger.Source.(*eventTrigger); !isEvent {
		// Upstream subscriptions carry the client's init payload, so it scopes the group.
		initial = op.Request.InitPayload
		_, _ = d.Write(initial)
	}
	var resume string
	if t, isEvent := sp.Response.Trigger.Source.(*eventTrigger); isEvent && opts.LastEventID != "" && resumable(t.binding) {
		resume = opts.LastEventID
		// A resumed subscription is a group of its own: a group that another client
		// started from the same position earlier has moved on, and joining it would skip
		// what it delivered before (the clients of a failed instance reconnect with the
		// same position at slightly different times).
		_, _ = d.WriteString("\x00resume\x00" + resume + "\x00" + strconv.FormatUint(e.resumes.Add(1), 10))
	}
	if _, isEvent := sp.Response.Trigger.Source.(*eventTrigger); isEvent && e.headers.empty() && (e.hooks == nil || len(e.hooks.group) == 0) {
		// Without forwarding rules or group hooks nothing in an event group reads the
		// client's headers (authorization and the start hooks ran above), so the group
		// keeps none: for a subscriber on a subject of its own they were 0.75 KiB of its
		// 3.7 KiB of heap.
		fh = noForwardedHeaders
	}
	// The group keeps the query for reloads: the prepared entry's copy when it has the
	// same text, so that groups of one text with different variables (a subject per
	// user from a variable) share one instead of each keeping its request's.
	query, opName := op.Request.Query, op.Request.OperationName
	if en := op.prepared.entry; en != nil && !en.apq && en.query == query && en.opName == opName {
		query, opName = en.query, en.opName
	}
	spec := groupSpec{key: d.Sum64(), sub: e.hub.subPlan(op.prepared.plan, sp.Response), variables: variables, headers: fh, query: query}
	if initial != nil || resume != "" || opName != "" || len(op.Request.Variables) > 0 {
		spec.rare = &groupRare{operationName: opName, variables: op.Request.Variables, initial: initial, resume: resume}
	}

	s := NewStreamFor(e.opts.QueueSize, e.opts.SlowPolicy, opts)
	if e.hooks != nil && len(e.hooks.subscriber) > 0 {
		info := &subscriberInfo{header: op.Request.Header}
		if t, isEvent := sp.Response.Trigger.Source.(*eventTrigger); isEvent {
			info.field = t.field
		}
		if grant != nil {
			info.claims = grant.Claims
		}
		s.rareLocked().info = info
	}
	g, err := e.hub.join(spec, s)
	if err != nil {
		return nil, err
	}
	if start != nil && len(e.hooks.snapshot) > 0 {
		if err := e.snapshot(ctx, g, s, start); err != nil {
			s.Close()
			return nil, err
		}
	}
	// Set before the transport has the stream, which alone closes it from now on.
	if tr := telemetry.StartSubscription(ctx, op.Name); tr != nil {
		s.mu.Lock()
		s.rareLocked().trace = tr
		s.mu.Unlock()
	}
	expireWith(s, grant)
	e.opts.Stats.Subscribers.Add(1)
	return s, nil
}

// resumable reports whether a binding's events carry stream positions a client can resume
// from: JetStream (streamConfiguration) and Kafka.
func resumable(b *directives.Binding) bool {
	return b.Broker == directives.Kafka || (b.Broker == directives.NATS && b.Stream != nil)
}

// Shutdown ends every subscription with end (e.g. EndShutdown) and stops the engine.
func (e *Engine) Shutdown(end End) {
	e.hub.shutdown(end)
	e.hub.opts.upstream.close()
	e.cancel()
}

func defaultHTTPClient() *http.Client {
	tr := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		// Queries keep one connection per request in flight to a subgraph; under load that
		// is hundreds, and a smaller idle pool closes and redials them all the time.
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   1024,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}
}

// subgraphClient is the client of one subgraph's fetches: c, timed per subgraph when
// metrics are on.
func subgraphClient(c *http.Client, subgraph string, m *telemetry.Metrics) *http.Client {
	if m == nil {
		return c
	}
	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	out := *c
	out.Transport = m.Subgraph(subgraph, rt)
	return &out
}

func mustParseVariables(b []byte) *astjson.Value {
	if len(b) == 0 {
		b = []byte("{}")
	}
	v, err := astjson.ParseBytes(b)
	if err != nil {
		v, _ = astjson.ParseBytes([]byte("{}"))
	}
	return v
}

// canonicalJSON re-encodes a JSON document without insignificant whitespace so that equal
// variables give equal group keys.
func canonicalJSON(b []byte) []byte {
	v, err := astjson.ParseBytes(b)
	if err != nil {
		return b
	}
	return v.MarshalTo(nil)
}

func putUint64(b []byte, v uint64) {
	for i := 0; i < 8; i++ {
		b[i] = byte(v >> (8 * i))
	}
}

// appendJSONString appends s as a JSON string literal.
func appendJSONString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			dst = append(dst, '\\', c)
		case c == '\n':
			dst = append(dst, '\\', 'n')
		case c == '\r':
			dst = append(dst, '\\', 'r')
		case c == '\t':
			dst = append(dst, '\\', 't')
		case c < 0x20:
			dst = append(dst, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '"')
}

// asyncErrorLogger satisfies the engine's requirement for an AsyncErrorWriter; edgate does
// not use the engine's asynchronous subscriptions, so anything arriving here is logged.
type asyncErrorLogger struct{ log zerolog.Logger }

func (a *asyncErrorLogger) WriteError(_ *engine.Context, err error, _ *engine.GraphQLResponse, _ io.Writer) {
	a.log.Error().Err(err).Msg("engine subscription error")
}

// propagated lists the header names and patterns forwarded to a subgraph, for the
// engine's upstream subscription client.
func (r *HeaderRules) propagated(subgraph string) (names []string, patterns []*regexp.Regexp) {
	for _, rules := range [][]HeaderRule{r.All, r.Subgraphs[subgraph]} {
		for _, rule := range rules {
			if rule.Op == "set" {
				continue
			}
			if rule.Named != "" {
				names = append(names, http.CanonicalHeaderKey(rule.Named))
			}
			if rule.Matching != nil {
				patterns = append(patterns, rule.Matching)
			}
		}
	}
	return names, patterns
}

var _ eventSubscriber = (*eventsource.Registry)(nil)

// entityWindow is the batch window of Options.EntityBatchWindow: 0 is the default,
// negative is off.
func entityWindow(w time.Duration) time.Duration {
	if w == 0 {
		return DefaultEntityBatchWindow
	}
	return w
}
