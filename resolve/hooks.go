package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/subjectauth"
)

// Hooks extend event-driven subscriptions and publishes with a team's own logic. Each
// hook is an optional interface: a value passed in Hooks.Handlers is called for every
// interface it implements, in order. Without hooks nothing is called and nothing is
// allocated for them.
//
// A hook runs on the goroutine of the request it concerns. It never takes the gateway
// down: an error goes to that client only, a panic is recovered and logged and counts as
// an error, and a hook that overruns Timeout is abandoned (its context ends) and counts
// as an error too.
type Hooks struct {
	// Handlers are values implementing any of SubscriptionStartHook, SnapshotHook,
	// BeforeDispatchHook, GroupEventHook, SubscriberEventHook and PublishHook.
	Handlers []any
	// Timeout bounds each hook call; 0 means DefaultHookTimeout.
	Timeout time.Duration
}

// DefaultHookTimeout bounds a hook call when Hooks.Timeout is 0.
const DefaultHookTimeout = 5 * time.Second

// SubscriptionStartHook is called before an event-driven subscription starts, after the
// operation validated and subject authorization (if any) allowed it. An error refuses the
// subscription: the client gets it (a *HookError chooses the code and HTTP status) and
// nothing is subscribed.
type SubscriptionStartHook interface {
	OnSubscriptionStart(ctx context.Context, s *SubscriptionStart) error
}

// SubscriptionStart is what a SubscriptionStartHook sees. It must not be kept after the
// call returns.
type SubscriptionStart struct {
	// Header is the client's request header (for WebSocket: the upgrade request's, with
	// connection_init's Authorization applied).
	Header http.Header
	// Claims are the verified JWT claims of the client when the field's provider has
	// authorization configured; nil otherwise.
	Claims map[string]any
	// OperationName and Query are the operation as the client sent it.
	OperationName string
	Query         string
	// Variables are the operation's variables, normalized.
	Variables json.RawMessage
	// Field is the subscription's root field, e.g. "employeeUpdated".
	Field string
	// Provider is the event provider (String: "nats/default", "kafka/events"), Subjects
	// the rendered subjects, topics or channels the subscription consumes.
	Provider eventsource.ProviderID
	Subjects []string
}

// SnapshotHook sends a new subscriber the current state before live events. It is called
// after the subscription joined its broker consumer, while live events for it are held,
// so nothing published meanwhile is lost: the snapshot goes first, then every live event
// that arrived since the join. (A snapshot read after such an event may already reflect
// it; the event is still delivered, so clients should apply events idempotently.) Each
// returned value is an event payload, resolved like a broker event (entity fields come
// from the subgraphs) and delivered to this subscriber only. An error ends the
// subscription before it is answered, like a refusal of OnSubscriptionStart.
type SnapshotHook interface {
	OnSnapshot(ctx context.Context, s *SubscriptionStart) ([][]byte, error)
}

// BeforeDispatchHook sees each batch of events a broker consumer received together (a
// Kafka fetch; a single message where the broker client hands over one at a time: see
// eventsource.Provider) once, before any subscription group does: it may rewrite or drop
// events for every subscriber of the consumer. It runs on a goroutine of the consumer's
// own, so a slow hook delays only that consumer's events (up to a bounded backlog, then
// its batches are dropped). An error or panic drops the batch, and so does a call that
// overruns the hook timeout (its context ends then); other consumers are not affected.
// Without it, events go from the broker to the groups on the provider's goroutine.
type BeforeDispatchHook interface {
	OnBeforeDispatch(ctx context.Context, b *Batch) error
}

// Batch is a broker batch as a BeforeDispatchHook sees it: the provider ("nats/default"),
// the consumer's subjects and the events, which the hook may change (see
// eventsource.Batch).
type Batch = eventsource.Batch

// GroupEventHook sees each event once per subscription group (the subscribers with the
// same operation, variables and forwarded headers), before it is resolved: it may
// replace GroupEvent.Data for all of them, or set it to nil to drop the event. It runs on
// the group's worker: its cost is added to every event of the group, and a slow hook
// delays only its group's events.
type GroupEventHook interface {
	OnGroupEvent(ctx context.Context, e *GroupEvent) error
}

// GroupEvent is an event as a group received it.
type GroupEvent struct {
	// Field is the subscription field, Provider and Subject where the event came from.
	Field    string
	Provider eventsource.ProviderID
	Subject  string
	// Variables are the group's variables; Header the request header of the subscriber
	// that started the group.
	Variables json.RawMessage
	Header    http.Header
	// Data is the event payload; replace it to rewrite the event, set nil to drop it.
	Data []byte
}

// SubscriberEventHook sees each resolved response once per subscriber, with that
// subscriber's header and claims: it may replace SubscriberEvent.Payload (redact a field
// for this user) or set it to nil to skip the event for this subscriber. It runs for every
// subscriber of every event, so it costs a call per delivery: keep it cheap. Without it,
// a group's subscribers share one payload.
type SubscriberEventHook interface {
	OnSubscriberEvent(ctx context.Context, e *SubscriberEvent) error
}

// SubscriberEvent is one response on its way to one subscriber.
type SubscriberEvent struct {
	Field  string
	Header http.Header
	Claims map[string]any
	// Payload is the complete response ({"data":...}); it is shared with the group's other
	// subscribers, so a hook must not modify it in place: assign a new slice.
	Payload []byte
}

// PublishHook is called before a publish mutation sends its message. It may replace
// Publish.Payload (the JSON of the field's arguments), set the message's broker headers
// (Publish.BrokerHeader) or refuse the publish with an error, which becomes the field's
// error (extensions.code from a *HookError, else HOOK_ERROR); nothing is sent then.
type PublishHook interface {
	OnPublish(ctx context.Context, p *Publish) error
}

// Publish is what a PublishHook sees and may change.
type Publish struct {
	// Header is the client's request header.
	Header http.Header
	// Field is the mutation field, e.g. "updateEmployee"; Provider and Subject where the
	// message goes.
	Field    string
	Provider eventsource.ProviderID
	Subject  string
	// Payload is the message; a hook may replace it (it must stay a JSON object).
	Payload []byte
	// BrokerHeader is the message's header: NATS message headers, Kafka record headers
	// (one per value, keys in sorted order). It starts empty; a hook reads what earlier
	// hooks set and may add, change or delete entries (NATS keys are case-sensitive). With
	// tracing on, the provider adds traceparent and tracestate unless a hook set a
	// traceparent. Redis pub/sub messages have no headers: there it is nil, and a hook
	// that sets one fails the publish (HOOK_ERROR; nothing is sent).
	BrokerHeader eventsource.Header
}

// HookError is an error a hook returns to choose what the client sees.
type HookError struct {
	// Code goes to extensions.code; default HOOK_ERROR.
	Code string
	// Message is the error message the client sees.
	Message string
	// Status is the HTTP status of a refused subscription over HTTP; default 403.
	Status int
}

func (e *HookError) Error() string { return e.Message }

// Error codes of hook failures.
const (
	CodeHookError   = "HOOK_ERROR"
	CodeHookTimeout = "HOOK_TIMEOUT"
)

// CheckHooks reports a value of h.Handlers that implements no hook interface.
func CheckHooks(h Hooks) error {
	_, err := newHookSet(h, zerolog.Nop())
	return err
}

// BeforeDispatch returns the registry hook (eventsource.Registry.SetBeforeDispatch) that
// runs the BeforeDispatchHooks of h in order, and the timeout of each call; nil when h has
// none.
func BeforeDispatch(h Hooks) (eventsource.BeforeDispatch, time.Duration) {
	var hooks []BeforeDispatchHook
	for _, v := range h.Handlers {
		if x, ok := v.(BeforeDispatchHook); ok {
			hooks = append(hooks, x)
		}
	}
	if len(hooks) == 0 {
		return nil, 0
	}
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHookTimeout
	}
	return func(ctx context.Context, b *eventsource.Batch) error {
		for _, x := range hooks {
			if err := x.OnBeforeDispatch(ctx, b); err != nil {
				return err
			}
			if len(b.Events) == 0 {
				return nil
			}
		}
		return nil
	}, timeout
}

// hookSet is Hooks sorted by interface once, when the engine is built. (The
// BeforeDispatchHooks run in the broker registry, which outlives engines: see
// BeforeDispatch.)
type hookSet struct {
	start      []SubscriptionStartHook
	snapshot   []SnapshotHook
	group      []GroupEventHook
	subscriber []SubscriberEventHook
	publish    []PublishHook
	timeout    time.Duration
	log        zerolog.Logger
}

func newHookSet(h Hooks, log zerolog.Logger) (*hookSet, error) {
	if len(h.Handlers) == 0 {
		return nil, nil
	}
	s := &hookSet{timeout: h.Timeout, log: log}
	if s.timeout <= 0 {
		s.timeout = DefaultHookTimeout
	}
	for i, v := range h.Handlers {
		used := false
		if x, ok := v.(SubscriptionStartHook); ok {
			s.start, used = append(s.start, x), true
		}
		if x, ok := v.(PublishHook); ok {
			s.publish, used = append(s.publish, x), true
		}
		if x, ok := v.(SnapshotHook); ok {
			s.snapshot, used = append(s.snapshot, x), true
		}
		if x, ok := v.(GroupEventHook); ok {
			s.group, used = append(s.group, x), true
		}
		if x, ok := v.(SubscriberEventHook); ok {
			s.subscriber, used = append(s.subscriber, x), true
		}
		if _, ok := v.(BeforeDispatchHook); ok {
			used = true
		}
		if !used {
			return nil, fmt.Errorf("hook %d (%T) implements no hook interface (SubscriptionStartHook, SnapshotHook, BeforeDispatchHook, GroupEventHook, SubscriberEventHook, PublishHook)", i, v)
		}
	}
	return s, nil
}

// call runs one hook with the timeout, turning a panic into an error. A hook that
// overruns is left to finish on its own goroutine: its context is cancelled, and its
// result is dropped.
func (s *hookSet) call(ctx context.Context, name string, f func(context.Context) error) (*GraphQLError, int) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				s.log.Error().Str("hook", name).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("hook panicked")
				done <- fmt.Errorf("hook %s failed", name)
			}
		}()
		done <- f(ctx)
	}()
	var err error
	select {
	case err = <-done:
	case <-ctx.Done():
		s.log.Warn().Str("hook", name).Dur("timeout", s.timeout).Msg("hook did not return in time")
		return &GraphQLError{Message: fmt.Sprintf("%s did not finish in time", name), Extensions: map[string]any{"code": CodeHookTimeout}}, http.StatusServiceUnavailable
	}
	if err == nil {
		return nil, 0
	}
	var he *HookError
	if errors.As(err, &he) {
		code, status := he.Code, he.Status
		if code == "" {
			code = CodeHookError
		}
		if status == 0 {
			status = http.StatusForbidden
		}
		return &GraphQLError{Message: he.Message, Extensions: map[string]any{"code": code}}, status
	}
	return &GraphQLError{Message: err.Error(), Extensions: map[string]any{"code": CodeHookError}}, http.StatusForbidden
}

// onSubscriptionStart runs the start hooks; a refusal is a *RequestError.
func (s *hookSet) onSubscriptionStart(ctx context.Context, st *SubscriptionStart) error {
	for _, h := range s.start {
		if gqlErr, status := s.call(ctx, "OnSubscriptionStart", func(ctx context.Context) error { return h.OnSubscriptionStart(ctx, st) }); gqlErr != nil {
			gqlErr.Path = []any{st.Field}
			return &RequestError{Errors: []GraphQLError{*gqlErr}, Status: status}
		}
	}
	return nil
}

// onPublish runs the publish hooks; they may change p.Payload.
func (s *hookSet) onPublish(ctx context.Context, p *Publish) *GraphQLError {
	for _, h := range s.publish {
		if gqlErr, _ := s.call(ctx, "OnPublish", func(ctx context.Context) error { return h.OnPublish(ctx, p) }); gqlErr != nil {
			return gqlErr
		}
	}
	if !json.Valid(p.Payload) || len(p.Payload) == 0 || p.Payload[0] != '{' {
		return &GraphQLError{Message: "a publish hook left a payload that is not a JSON object", Extensions: map[string]any{"code": CodeHookError}}
	}
	return nil
}

// startHooks runs the subscription start hooks for an event subscription and returns
// what they saw, for the snapshot hooks.
func (e *Engine) startHooks(ctx context.Context, t *eventTrigger, sub *engine.GraphQLSubscription, op *Operation, variables []byte, grant *subjectauth.Grant) (*SubscriptionStart, error) {
	subjects, err := e.subscriptionSubjects(t, sub, variables)
	if err != nil {
		return nil, err
	}
	st := &SubscriptionStart{
		Header:        op.Request.Header,
		OperationName: op.Request.OperationName,
		Query:         op.Request.Query,
		Variables:     variables,
		Field:         t.field,
		Provider:      providerOf(t.binding),
		Subjects:      subjects,
	}
	if grant != nil {
		st.Claims = grant.Claims
	}
	return st, e.hooks.onSubscriptionStart(ctx, st)
}

// snapshot runs the snapshot hooks for a subscriber that just joined g, resolves what
// they return like broker events and queues it before the live events that s holds.
func (e *Engine) snapshot(ctx context.Context, g *group, s *Stream, st *SubscriptionStart) error {
	var msgs []Message
	var buf bytes.Buffer
	for _, h := range e.hooks.snapshot {
		var events [][]byte
		gqlErr, status := e.hooks.call(ctx, "OnSnapshot", func(ctx context.Context) error {
			var err error
			events, err = h.OnSnapshot(ctx, st)
			return err
		})
		if gqlErr != nil {
			gqlErr.Path = []any{st.Field}
			return &RequestError{Errors: []GraphQLError{*gqlErr}, Status: status}
		}
		for _, data := range events {
			ev := eventsource.Event{Data: data}
			payload, ok := g.resolveEvent(g.context(), &ev, &buf)
			if ok && s.info() != nil && len(e.hooks.subscriber) > 0 {
				// The snapshot is this subscriber's delivery like any other.
				payload = e.hooks.onSubscriberEvent(s.info(), payload, new(SubscriberEvent))
			}
			if ok && payload != nil {
				msgs = append(msgs, Message{Payload: payload})
			}
		}
	}
	s.prepend(msgs)
	return nil
}

// direct runs an event hook on the calling goroutine, turning a panic into an error; a
// call slower than the timeout is logged. Event hooks run per event (and per subscriber),
// where a goroutine and a timer per call would cost more than most hooks.
func (s *hookSet) direct(name string, f func(context.Context) error) (err error) {
	started := time.Now()
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Str("hook", name).Interface("panic", r).Bytes("stack", debug.Stack()).Msg("hook panicked")
			err = fmt.Errorf("hook %s failed", name)
		}
		if d := time.Since(started); d > s.timeout {
			s.log.Warn().Str("hook", name).Dur("took", d).Msg("hook is slower than the hook timeout")
		}
	}()
	return f(context.Background())
}

// subscriberInfo is what a SubscriberEventHook needs of one subscriber; streams carry it
// only when such a hook is registered.
type subscriberInfo struct {
	field  string
	header http.Header
	claims map[string]any
}

// onGroupEvent runs the group hooks on one event; it returns the data to resolve, nil to
// drop the event. An error (or panic) drops it too, with a log line.
func (s *hookSet) onGroupEvent(e *GroupEvent) []byte {
	for _, h := range s.group {
		if err := s.direct("OnGroupEvent", func(ctx context.Context) error { return h.OnGroupEvent(ctx, e) }); err != nil {
			s.log.Warn().Err(err).Str("field", e.Field).Str("subject", e.Subject).Msg("group event hook failed; event dropped for the group")
			return nil
		}
		if e.Data == nil {
			return nil
		}
	}
	return e.Data
}

// onSubscriberEvent runs the subscriber hooks; nil skips the event for this subscriber.
// An error (or panic) sends the subscriber an error in place of the event. e is scratch
// space reused across the subscribers of one event (hooks must not keep it), so that a
// delivery allocates nothing for the hook.
func (s *hookSet) onSubscriberEvent(info *subscriberInfo, payload []byte, e *SubscriberEvent) []byte {
	*e = SubscriberEvent{Field: info.field, Header: info.header, Claims: info.claims, Payload: payload}
	for _, h := range s.subscriber {
		if err := s.callSubscriber(h, e); err != nil {
			s.log.Warn().Err(err).Str("field", info.field).Msg("subscriber event hook failed")
			return graphQLErrorResponse("the event could not be delivered: a gateway hook failed")
		}
		if e.Payload == nil {
			return nil
		}
	}
	return e.Payload
}

// callSubscriber is direct for the per-delivery hook, without a closure per call.
func (s *hookSet) callSubscriber(h SubscriberEventHook, e *SubscriberEvent) (err error) {
	defer func() {
		if r := recover(); r != nil {
			s.log.Error().Str("hook", "OnSubscriberEvent").Interface("panic", r).Bytes("stack", debug.Stack()).Msg("hook panicked")
			err = errors.New("hook OnSubscriberEvent failed")
		}
	}()
	return h.OnSubscriberEvent(context.Background(), e)
}
