package resolve

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"time"

	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/internal/subjectauth"
)

// Subject-level authorization (SPEC section 6). A provider with a policy in
// Options.Authorization admits a client only to the subjects its token allows:
//   - A subscription is checked when the client subscribes, before it joins a group, so a
//     client never rides on a group that another, authorized client started: every
//     rendered subject must be covered by one of the token's patterns.
//   - A publish or request field is checked before any field of its operation executes
//     (checkSideEffects) and again in its fetch: Execute hands the client's headers to
//     the fetch through the context.
//   - A subscription ends with UNAUTHENTICATED when the token's "exp" passes.
//
// Upstream subscriptions (served by subgraphs) are not broker subjects and are not checked.

// Error codes (extensions.code) of refused clients.
const (
	CodeUnauthenticated = "UNAUTHENTICATED"
	CodeForbidden       = "FORBIDDEN"
)

// EndUnauthenticated ends a subscription whose token expired; transports send end codes
// upper-cased as extensions.code, so clients see UNAUTHENTICATED.
const EndUnauthenticated = "unauthenticated"

func authError(code string, status int, field, msg string) *RequestError {
	return &RequestError{
		Errors: []GraphQLError{{Message: msg, Path: []any{field}, Extensions: map[string]any{"code": code}}},
		Status: status,
	}
}

// authorizeSubscription checks the client of a subscription to an event field against
// the provider's policy. It returns the client's grant (nil when the provider has no
// policy) or a *RequestError: 401 UNAUTHENTICATED, 403 FORBIDDEN, or the 400 of subjects
// that do not render.
func (e *Engine) authorizeSubscription(t *eventTrigger, sub *engine.GraphQLSubscription, variables []byte, header http.Header) (*subjectauth.Grant, error) {
	policy := e.opts.Authorization[providerOf(t.binding)]
	if policy == nil {
		return nil, nil
	}
	grant, err := policy.Authenticate(header.Get("Authorization"))
	if err != nil {
		return nil, authError(CodeUnauthenticated, http.StatusUnauthorized, t.field, fmt.Sprintf("not authenticated for %s: %v", t.field, err))
	}
	// The subjects depend on the arguments only, as in group.start; rendering them here
	// costs a template render per subscribe, on authorized providers only.
	subjects, err := e.subscriptionSubjects(t, sub, variables)
	if err != nil {
		return nil, err
	}
	for _, s := range subjects {
		if !grant.Allows(s) {
			e.opts.Log.Debug().Stringer("provider", providerOf(t.binding)).Str("subject", s).Str("token_sub", grant.Subject).
				Bool("anonymous", grant.Anonymous).Str("field", t.field).Msg("subscription refused by subject authorization")
			// The message does not name the subject: subjects are the gateway's business.
			return nil, authError(CodeForbidden, http.StatusForbidden, t.field, fmt.Sprintf("not authorized to subscribe to %s with these arguments", t.field))
		}
	}
	return grant, nil
}

// subscriptionSubjects renders the subjects an event subscription consumes, or the
// client's error for arguments that do not render.
func (e *Engine) subscriptionSubjects(t *eventTrigger, sub *engine.GraphQLSubscription, variables []byte) ([]string, error) {
	rctx := engine.NewContext(e.ctx)
	rctx.Variables = mustParseVariables(variables)
	var buf bytes.Buffer
	if err := sub.Trigger.InputTemplate.Render(rctx, nil, &buf); err != nil {
		return nil, fmt.Errorf("render subscription input: %w", err)
	}
	subjects, err := t.binding.RenderSubjects(argsOf(buf.Bytes()))
	if err != nil {
		return nil, &RequestError{Errors: []GraphQLError{{Message: err.Error(), Path: []any{t.field}}}, Status: http.StatusBadRequest}
	}
	return subjects, nil
}

// expireWith ends s with EndUnauthenticated when the grant's token expires. The timer
// stops when the stream closes, so a closed stream is not kept alive until then.
func expireWith(s *Stream, grant *subjectauth.Grant) {
	if grant == nil || grant.Expires.IsZero() {
		return
	}
	timer := time.AfterFunc(time.Until(grant.Expires), func() {
		s.Finish(End{Code: EndUnauthenticated, Reason: "the token expired: subscribe again with a fresh token"})
	})
	s.OnClose(func() { timer.Stop() })
}

// clientHeaderKey carries the client's request headers from Execute to event fetches,
// which the engine hands only the headers forwarded to subgraphs.
type clientHeaderKey struct{}

func withClientHeader(ctx context.Context, h http.Header) context.Context {
	return context.WithValue(ctx, clientHeaderKey{}, h)
}

func clientHeader(ctx context.Context) http.Header {
	h, _ := ctx.Value(clientHeaderKey{}).(http.Header)
	return h
}

// authorizeFetch checks a publish or request on subject; it returns nil when allowed, or
// the field's error.
func authorizeFetch(ctx context.Context, policy *subjectauth.Policy, field, subject string) *GraphQLError {
	if policy == nil {
		return nil
	}
	grant, err := policy.Authenticate(clientHeader(ctx).Get("Authorization"))
	if err != nil {
		return &GraphQLError{Message: fmt.Sprintf("not authenticated for %s: %v", field, err), Extensions: map[string]any{"code": CodeUnauthenticated}}
	}
	if !grant.Allows(subject) {
		return &GraphQLError{Message: fmt.Sprintf("not authorized to call %s with these arguments", field), Extensions: map[string]any{"code": CodeForbidden}}
	}
	return nil
}
