package gateway

import (
	"time"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/resolve"
)

// An Option changes how New builds a gateway beyond its configuration file.
type Option func(*Gateway)

// WithHooks adds Go hooks to event-driven subscriptions and publishes. Each value may
// implement any of SubscriptionStartHook (authorize), SnapshotHook (send the current state
// first), BeforeDispatchHook (rewrite or drop a broker batch's events for everyone),
// GroupEventHook (rewrite or drop an event for a group), SubscriberEventHook
// (redact or skip per subscriber) and PublishHook (rewrite or refuse a publish); New fails
// for a value that implements none. Hooks run in the order given and survive reloads.
// Without hooks, none of this costs anything.
//
//	type onlyOwnTeam struct{}
//
//	func (onlyOwnTeam) OnSubscriptionStart(ctx context.Context, s *gateway.SubscriptionStart) error {
//		if s.Claims["team"] != "payments" {
//			return &gateway.HookError{Code: "FORBIDDEN", Message: "payments only"}
//		}
//		return nil
//	}
//
//	gw, err := gateway.New(ctx, cfg, log, gateway.WithHooks(onlyOwnTeam{}))
func WithHooks(hooks ...any) Option {
	return func(g *Gateway) { g.hooks.Handlers = append(g.hooks.Handlers, hooks...) }
}

// WithHookTimeout bounds each hook call (default 5s): a start, snapshot or publish hook
// that overruns is abandoned and its subscription or publish fails with HOOK_TIMEOUT; a
// BeforeDispatchHook call that overruns drops its batch; event hooks that overrun are
// logged.
func WithHookTimeout(d time.Duration) Option {
	return func(g *Gateway) { g.hooks.Timeout = d }
}

// The hook types, so that a binary with hooks needs only this package.
type (
	// SubscriptionStartHook is called before an event-driven subscription starts; an
	// error refuses it.
	SubscriptionStartHook = resolve.SubscriptionStartHook
	// SubscriptionStart is what a SubscriptionStartHook sees: headers, claims, the
	// operation and the subjects.
	SubscriptionStart = resolve.SubscriptionStart
	// PublishHook is called before a publish mutation sends; it may rewrite the payload
	// or refuse.
	PublishHook = resolve.PublishHook
	// Publish is what a PublishHook sees and may change.
	Publish = resolve.Publish
	// ProviderID identifies an event provider: Kind ("nats", "kafka", "redis") and ID;
	// String is "kind/id", e.g. "nats/default".
	ProviderID = eventsource.ProviderID
	// BrokerHeader is a broker message's header (NATS headers, Kafka record headers), as
	// a PublishHook sets it in Publish.BrokerHeader.
	BrokerHeader = eventsource.Header
	// HookError is an error a hook returns to choose the client's extensions.code.
	HookError = resolve.HookError
	// SnapshotHook sends a new subscriber events of its own (the current state) before
	// live events, with nothing lost in between.
	SnapshotHook = resolve.SnapshotHook
	// BeforeDispatchHook sees each batch a broker consumer received, once, before any
	// group: it may rewrite or drop events for everyone.
	BeforeDispatchHook = resolve.BeforeDispatchHook
	// Batch is a broker batch as a BeforeDispatchHook sees it.
	Batch = resolve.Batch
	// Event is one broker message of a Batch.
	Event = eventsource.Event
	// GroupEventHook sees each event once per group of identical subscriptions.
	GroupEventHook = resolve.GroupEventHook
	// GroupEvent is an event as a group received it.
	GroupEvent = resolve.GroupEvent
	// SubscriberEventHook sees each response once per subscriber, with its claims.
	SubscriberEventHook = resolve.SubscriberEventHook
	// SubscriberEvent is one response on its way to one subscriber.
	SubscriberEvent = resolve.SubscriberEvent
)
