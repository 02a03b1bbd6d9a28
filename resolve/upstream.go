package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/resolve/internal/upstream"
)

// Subscriptions that subgraphs serve themselves. The plan's trigger carries graphql-go-tools'
// subscription input (URL, protocol, the subgraph operation); edgate runs it with its own
// client (internal/upstream) because the engine's client opens one socket per
// subscription, while edgate shares one socket among all subscriptions to a subgraph with
// the same forwarded headers and init payload.
//
// Each upstream message enters the group's inbox like a broker event, so it is resolved
// once per group (entity fields from other subgraphs included) in arrival order. When the
// subgraph completes the subscription, members end normally after the queued messages;
// when it fails, members get a `next` with the reason and then, unless the subgraph's
// retry policy re-subscribes, end with EndUpstream.

// UpstreamOptions configure subscriptions served by subgraphs.
type UpstreamOptions struct {
	// Default applies to subgraphs that have no entry in Subgraphs.
	Default UpstreamSubgraph
	// Subgraphs holds per-subgraph settings by subgraph name.
	Subgraphs map[string]UpstreamSubgraph
	// PingInterval is the gap between pings on upstream sockets (default 10s; negative
	// disables); PingTimeout is how long a pong may take before the socket counts as dead
	// (default 5s).
	PingInterval time.Duration
	PingTimeout  time.Duration
	// InitTimeout bounds connecting to a subgraph: handshake and connection_ack, or SSE
	// response headers (default 10s).
	InitTimeout time.Duration
}

// UpstreamSubgraph is the upstream subscription policy of one subgraph.
type UpstreamSubgraph struct {
	// OmitInitPayload stops forwarding the client's connection_init payload to the
	// subgraph. The zero value forwards it.
	OmitInitPayload bool
	Retry           UpstreamRetry
}

// UpstreamRetry re-subscribes after an upstream failure (refused upgrade, dropped socket,
// missing pong); an operation the subgraph rejects is never retried.
type UpstreamRetry struct {
	Enabled bool
	// MaxAttempts bounds the attempts per failure (default 20).
	MaxAttempts int
	// Interval is the wait before the first attempt (default 100ms); it doubles after each
	// failed attempt up to MaxDuration (default 2s).
	Interval    time.Duration
	MaxDuration time.Duration
}

func (r UpstreamRetry) withDefaults() UpstreamRetry {
	if r.MaxAttempts <= 0 {
		r.MaxAttempts = 20
	}
	if r.Interval <= 0 {
		r.Interval = 100 * time.Millisecond
	}
	if r.MaxDuration <= 0 {
		r.MaxDuration = 2 * time.Second
	}
	if r.MaxDuration < r.Interval {
		r.MaxDuration = r.Interval
	}
	return r
}

// upstreamConfig is the engine's upstream client and policies. Its WaitGroup owns the
// groups' re-subscribe goroutines.
type upstreamConfig struct {
	client *upstream.Client
	opts   UpstreamOptions
	log    zerolog.Logger
	wg     sync.WaitGroup
}

func newUpstreamConfig(httpClient *http.Client, opts UpstreamOptions, log zerolog.Logger) *upstreamConfig {
	return &upstreamConfig{
		client: upstream.New(upstream.Options{
			HTTPClient:   httpClient,
			PingInterval: opts.PingInterval,
			PingTimeout:  opts.PingTimeout,
			InitTimeout:  opts.InitTimeout,
			Log:          log.With().Str("component", "upstream").Logger(),
		}),
		opts: opts,
		log:  log,
	}
}

func (u *upstreamConfig) subgraph(name string) UpstreamSubgraph {
	if s, ok := u.opts.Subgraphs[name]; ok {
		return s
	}
	return u.opts.Default
}

// close runs after every group stopped: it closes the sockets and waits for the
// re-subscribe goroutines, which end with their group's context.
func (u *upstreamConfig) close() {
	u.client.Close()
	u.wg.Wait()
}

// upstreamInput is the part of graphql_datasource's GraphQLSubscriptionOptions (the
// rendered trigger input) that edgate uses.
type upstreamInput struct {
	URL           string        `json:"url"`
	Body          upstream.Body `json:"body"`
	Header        http.Header   `json:"header"`
	UseSSE        bool          `json:"use_sse"`
	SSEMethodPost bool          `json:"sse_method_post"`
	WsSubProtocol string        `json:"ws_sub_protocol"`
}

// upstreamRun is a group's upstream subscription, across re-subscribes.
type upstreamRun struct {
	g *group
	// ctx is the group's context (group.context); cancel ends it when the group closes.
	ctx    context.Context
	cancel context.CancelFunc
	// set by startUpstream before the first event
	cfg      *upstreamConfig
	subgraph string
	req      upstream.Request
	retry    UpstreamRetry

	mu      sync.Mutex
	cur     *upstreamAttempt
	stopped bool
	final   *End // set when the members are to end once the inbox is drained
}

// upstreamAttempt is one upstream subscription of a run.
type upstreamAttempt struct {
	sub   *upstream.Subscription // nil until Subscribe returned
	ended bool                   // Done was called
}

// startUpstream starts a subscription that a subgraph serves itself.
func (g *group) startUpstream(input []byte) error {
	cfg := g.hub().opts.upstream
	if cfg == nil {
		return &RequestError{Errors: []GraphQLError{{Message: "subscriptions served by subgraphs are not configured"}}, Status: http.StatusNotImplemented}
	}
	var in upstreamInput
	if err := json.Unmarshal(input, &in); err != nil {
		return fmt.Errorf("upstream subscription input: %w", err)
	}
	name := g.spec.sub.Trigger.SourceName
	settings := cfg.subgraph(name)
	header := http.Header{}
	for k, vs := range in.Header {
		for _, v := range vs {
			header.Add(k, v)
		}
	}
	if fwd, _ := g.spec.headers.shared(name); fwd != nil {
		for k, vs := range fwd {
			header[k] = append([]string(nil), vs...)
		}
	}
	req := upstream.Request{URL: in.URL, Protocol: upstream.ProtocolWS, Subprotocol: in.WsSubProtocol, Header: header, Body: in.Body}
	if in.UseSSE {
		req.Protocol = upstream.ProtocolSSE
		if in.SSEMethodPost {
			req.Protocol = upstream.ProtocolSSEPost
		}
	} else if initial := g.spec.initial(); !settings.OmitInitPayload && len(initial) > 0 {
		req.InitPayload = initial
	}
	r := g.up
	r.cfg, r.subgraph, r.req, r.retry = cfg, name, req, settings.Retry.withDefaults()
	a := &upstreamAttempt{}
	sub, err := cfg.client.Subscribe(r.ctx, req, r.handler(a))
	if err != nil {
		g.hub().opts.stats.UpstreamErrors.Add(1)
		msg := r.describe(err)
		cfg.log.Warn().Str("subgraph", name).Err(err).Msg("upstream subscription failed to start")
		return &RequestError{Errors: []GraphQLError{{Message: msg, Extensions: map[string]any{"code": "UPSTREAM_ERROR"}}}, Status: http.StatusBadGateway}
	}
	r.attach(a, sub)
	// Under g.mu: a worker may close the group meanwhile (the upstream finished at once).
	g.mu.Lock()
	g.stop = r.stop
	g.mu.Unlock()
	// The group may be stopped before g.stop is in place (shutdown during start); its
	// context ends in every case.
	context.AfterFunc(r.ctx, r.stop)
	return nil
}

func (r *upstreamRun) handler(a *upstreamAttempt) upstream.Handler {
	return upstream.Handler{
		Next: func(payload []byte) { r.g.enqueue(eventsource.Event{Data: payload}) },
		Done: func(err error) { r.ended(a, err) },
	}
}

// attach makes a the current attempt, unless the run stopped or a already ended.
func (r *upstreamRun) attach(a *upstreamAttempt, sub *upstream.Subscription) bool {
	r.mu.Lock()
	a.sub = sub
	if r.stopped || a.ended {
		r.mu.Unlock()
		sub.Stop()
		return false
	}
	r.cur = a
	r.mu.Unlock()
	return true
}

// stop is the group's trigger stop: it ends the current upstream subscription and any
// re-subscribing.
func (r *upstreamRun) stop() {
	r.mu.Lock()
	r.stopped = true
	var sub *upstream.Subscription
	if r.cur != nil {
		sub = r.cur.sub
	}
	r.cur = nil
	r.mu.Unlock()
	if sub != nil {
		sub.Stop()
	}
}

// ended handles the end of attempt a. It runs in the client's goroutine, inside the
// Handler's Done: it must not block and must not call the subscription's Stop.
func (r *upstreamRun) ended(a *upstreamAttempt, err error) {
	r.mu.Lock()
	if r.stopped || a.ended {
		r.mu.Unlock()
		return
	}
	a.ended = true
	r.mu.Unlock()
	if err == nil {
		r.finish(End{})
		return
	}
	r.g.hub().opts.stats.UpstreamErrors.Add(1)
	msg := r.describe(err)
	var ue *upstream.Error
	retryable := !errors.As(err, &ue) || ue.Retryable()
	if !r.retry.Enabled || !retryable {
		r.cfg.log.Warn().Str("subgraph", r.subgraph).Err(err).Msg("upstream subscription ended")
		r.g.enqueue(eventsource.Event{Data: upstreamErrorPayload(err, msg)})
		r.finish(End{Code: EndUpstream, Reason: msg})
		return
	}
	r.cfg.log.Warn().Str("subgraph", r.subgraph).Err(err).Msg("upstream subscription failed; re-subscribing")
	r.g.enqueue(eventsource.Event{Data: upstreamErrorPayload(err, msg+"; re-subscribing")})
	r.mu.Lock()
	if r.stopped {
		r.mu.Unlock()
		return
	}
	r.cfg.wg.Add(1)
	r.mu.Unlock()
	go r.resubscribe(a)
}

// resubscribe replaces the failed attempt a, with backoff, until an attempt succeeds,
// the attempts run out or the group stops.
func (r *upstreamRun) resubscribe(a *upstreamAttempt) {
	defer r.cfg.wg.Done()
	r.mu.Lock()
	if r.cur == a {
		r.cur = nil
	}
	old := a.sub
	r.mu.Unlock()
	if old != nil {
		old.Stop()
	}
	ctx := r.ctx
	delay := r.retry.Interval
	var last error
	attempts := 0
	for attempts < r.retry.MaxAttempts {
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
		attempts++
		na := &upstreamAttempt{}
		sub, err := r.cfg.client.Subscribe(ctx, r.req, r.handler(na))
		if err == nil {
			if r.attach(na, sub) {
				r.cfg.log.Info().Str("subgraph", r.subgraph).Int("attempts", attempts).Msg("upstream subscription resumed")
			}
			return
		}
		if ctx.Err() != nil {
			return
		}
		last = err
		var ue *upstream.Error
		if errors.As(err, &ue) && !ue.Retryable() {
			break
		}
		delay = min(2*delay, r.retry.MaxDuration)
	}
	msg := fmt.Sprintf("%s (gave up after %d attempts)", r.describe(last), attempts)
	r.cfg.log.Warn().Str("subgraph", r.subgraph).Err(last).Int("attempts", attempts).Msg("upstream subscription not resumed")
	r.g.enqueue(eventsource.Event{Data: upstreamErrorPayload(last, msg)})
	r.finish(End{Code: EndUpstream, Reason: msg})
}

// finish asks the group's worker to end every member with end once the messages queued
// before it are delivered.
func (r *upstreamRun) finish(end End) {
	r.mu.Lock()
	if r.final == nil {
		r.final = &end
	}
	r.mu.Unlock()
	r.g.schedule()
}

// upstreamFinished is called by the worker draining the group after each batch: when the upstream
// subscription is over and the inbox is drained, it takes the group out of the hub (new
// subscribers start a fresh one), stops it and ends its members. It reports whether the
// worker should stop.
func (g *group) upstreamFinished() bool {
	r := g.up
	if r == nil {
		return false
	}
	r.mu.Lock()
	end := r.final
	r.mu.Unlock()
	if end == nil {
		return false
	}
	g.mu.Lock()
	pending := len(g.inbox) > 0
	g.mu.Unlock()
	if pending {
		return false
	}
	h := g.hub()
	h.mu.Lock()
	removed := h.groups[g.spec.key] == g
	if removed {
		delete(h.groups, g.spec.key)
	}
	h.mu.Unlock()
	if removed {
		h.opts.stats.Groups.Add(-1)
	}
	g.close()
	for _, s := range g.snapshot() {
		s.Finish(*end)
	}
	return true
}

func (r *upstreamRun) describe(err error) string {
	return fmt.Sprintf("subscription from subgraph %q failed: %v", r.subgraph, err)
}

// upstreamErrorPayload is the upstream message that tells members about a failure: the
// subgraph's own GraphQL errors when it sent some, otherwise msg.
func upstreamErrorPayload(err error, msg string) []byte {
	var ue *upstream.Error
	if errors.As(err, &ue) && len(ue.GraphQLErrors) > 0 {
		out := append([]byte(`{"errors":`), ue.GraphQLErrors...)
		return append(out, '}')
	}
	b := []byte(`{"errors":[{"message":`)
	b = appendJSONString(b, msg)
	return append(b, `,"extensions":{"code":"UPSTREAM_ERROR"}}]}`...)
}
