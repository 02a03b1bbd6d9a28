package resolve

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

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
	// Handlers are values implementing SubscriptionStartHook and/or PublishHook.
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
	// Provider is the event provider ("nats/default", "kafka/events"), Subjects the
	// rendered subjects, topics or channels the subscription consumes.
	Provider string
	Subjects []string
}

// PublishHook is called before a publish mutation sends its message. It may replace
// Publish.Payload (the JSON of the field's arguments) or refuse the publish with an
// error, which becomes the field's error (extensions.code from a *HookError, else
// HOOK_ERROR); nothing is sent then.
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
	Provider string
	Subject  string
	// Payload is the message; a hook may replace it (it must stay a JSON object).
	Payload []byte
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

// hookSet is Hooks sorted by interface once, when the engine is built.
type hookSet struct {
	start   []SubscriptionStartHook
	publish []PublishHook
	timeout time.Duration
	log     zerolog.Logger
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
		if !used {
			return nil, fmt.Errorf("hook %d (%T) implements no hook interface (SubscriptionStartHook, PublishHook)", i, v)
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

// startHooks runs the subscription start hooks for an event subscription.
func (e *Engine) startHooks(ctx context.Context, t *eventTrigger, sub *engine.GraphQLSubscription, op *Operation, variables []byte, grant *subjectauth.Grant) error {
	subjects, err := e.subscriptionSubjects(t, sub, variables)
	if err != nil {
		return err
	}
	st := &SubscriptionStart{
		Header:        op.Request.Header,
		OperationName: op.Request.OperationName,
		Query:         op.Request.Query,
		Variables:     variables,
		Field:         t.field,
		Provider:      ProviderKey(t.binding),
		Subjects:      subjects,
	}
	if grant != nil {
		st.Claims = grant.Claims
	}
	return e.hooks.onSubscriptionStart(ctx, st)
}
