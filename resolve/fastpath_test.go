package resolve

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
)

// groupOf returns the running group of a subscription's stream.
func groupOf(t *testing.T, e *Engine, s *Stream) *group {
	t.Helper()
	e.hub.mu.Lock()
	defer e.hub.mu.Unlock()
	for _, g := range e.hub.groups {
		g.mu.Lock()
		ok := slices.Contains(g.members, s)
		g.mu.Unlock()
		if ok {
			return g
		}
	}
	t.Fatal("no group holds the stream")
	return nil
}

// The fast path must print exactly what the general resolver prints, and step aside
// (leaving the result and its errors to the resolver) for events it does not handle.
func TestFastPath_RendersWhatTheResolverRendersAndStepsAsideOtherwise(t *testing.T) {
	e, mem := newEngineWith(t, Options{Log: zerolog.Nop()})
	events := []string{
		`{"__typename":"Employee","id":7}`,
		`{ "id" : 7 , "__typename" : "Employee" }`,
		`{"id":12345678901234567890}`,
		`{"__typename":"Employee","id":"7"}`, // wrong type: the resolver reports it
		`{"__typename":"Employee","id":null}`,
		`{"__typename":"Employee","id":7.5}`,
		`{"id":7,}`,                                   // not JSON: the event check reports it
		`{"__typename":"Employee"}`,                   // no key: likewise
		`{"__typename":"Product","id":7}`,             // not the field's type
		`{"__typename":"Employee","id":7,"name":"x"}`, // a field of another subgraph is dropped
		`{"__typename":"Employee","i\u0064":7}`,
		`{"__typename":"Employee","id":7,"id":8}`,
		`{"__typename":"Employee","id":"\u00e9\n"}`,
		`[{"__typename":"Employee","id":7}]`,
	}
	for _, tc := range []struct {
		query string
		fast  bool
	}{
		{`subscription { employeeUpdated(id: 1) { id } }`, true},
		{`subscription { employeeUpdated(id: 1) { __typename id } }`, true},
		{`subscription S { e: employeeUpdated(id: 1) { t: __typename id } }`, true},
		// the planner fetches an aliased key field from the entity's subgraph
		{`subscription { employeeUpdated(id: 1) { key: id } }`, false},
		{`subscription { employeeUpdated(id: 1) { ... on Employee { id } } }`, true},
		{`subscription { employeeUpdated(id: 1) { id name } }`, false}, // needs _entities
	} {
		t.Run(tc.query, func(t *testing.T) {
			sub := subscribeTo(t, e, tc.query)
			s, wake := sub.s, sub.wake
			g := groupOf(t, e, s)
			if (g.spec.sub.fast != nil) != tc.fast {
				t.Fatalf("fast path: %v, want %v", g.spec.sub.fast != nil, tc.fast)
			}
			if g.spec.sub.fast == nil {
				return
			}
			fast := g.spec.sub
			// a group of the same spec whose plan has no fast path: the general resolver
			slow := &group{spec: g.spec}
			slow.spec.sub = &subPlan{GraphQLSubscription: fast.GraphQLSubscription, h: fast.h}
			data := []byte(events[0])
			if fields := g.spec.sub.Trigger.Source.(*eventTrigger).fields; fields != nil {
				data, _ = project(data, fields)
			}
			if _, ok := fast.fast.render(nil, wrapAt(data, g.spec.sub.Trigger.PostProcessing.MergePath)); !ok {
				t.Error("the fast path does not render a well-formed event")
			}
			trigger := g.spec.sub.Trigger.Source.(*eventTrigger)
			if _, ok := fast.fast.renderEvent([]byte(events[0]), trigger, g.spec.sub.Trigger.PostProcessing.MergePath); !ok {
				t.Error("the one-parse path does not render a well-formed event")
			}
			var buf bytes.Buffer
			for _, data := range events {
				ev := eventsource.Event{Subject: "employeeUpdated.1", Data: []byte(data)}
				got, ok1 := g.resolveEvent(g.context(), &ev, &buf)
				want, ok2 := slow.resolveEvent(slow.context(), &ev, &buf)
				if ok1 != ok2 || !bytes.Equal(got, want) {
					t.Errorf("event %s:\n fast path %s\n resolver  %s", data, got, want)
				}
			}
			// and through the hub to a subscriber
			if err := mem.Publish(context.Background(), "employeeUpdated.1", []byte(events[0])); err != nil {
				t.Fatal(err)
			}
			got := next(t, s, wake)
			want, _ := slow.resolveEvent(slow.context(), &eventsource.Event{Data: []byte(events[0])}, &buf)
			if !bytes.Equal(got.Payload, want) {
				t.Errorf("delivered %s, want %s", got.Payload, want)
			}
		})
	}
}
