package resolve

import (
	"bytes"
	"context"
	"testing"

	"github.com/rs/zerolog"
	"github.com/wundergraph/astjson"

	"github.com/edgate/edgate/eventsource"
)

// The loader renders an event's representation without the engine's variable renderer
// when it can; both must print the same bytes, or the subgraph would see different
// representations with and without batching.
func TestEntityLoader_RepresentationIsTheEnginesAndPlansStepAside(t *testing.T) {
	e, _ := newEngineWith(t, Options{Log: zerolog.Nop()})
	events := []string{
		`{"__typename":"Employee","id":7}`,
		`{ "id" : 12345678901234567890 , "__typename" : "Employee" }`,
		`{"id":3}`,
	}
	for _, tc := range []struct {
		query string
		ent   bool
	}{
		{`subscription { employeeUpdated(id: 1) { id name } }`, true},
		{`subscription { e: employeeUpdated(id: 1) { __typename n: name id } }`, true},
		{`subscription { employeeUpdated(id: 1) { name } }`, true},
		{`subscription { employeeUpdated(id: 1) { id } }`, false}, // key only: no fetch
	} {
		t.Run(tc.query, func(t *testing.T) {
			g := groupOf(t, e, openStream(t, e, &Request{Query: tc.query}))
			ent := g.spec.sub.ent
			if (ent != nil) != tc.ent {
				t.Fatalf("entity loader plan: %v, want %v", ent != nil, tc.ent)
			}
			if ent == nil {
				return
			}
			if ent.rep == nil {
				t.Fatal("the representation takes the engine's renderer")
			}
			for _, ev := range events {
				initial := wrapAt(withTypename([]byte(ev), "Employee"), g.spec.sub.Trigger.PostProcessing.MergePath)
				var buf bytes.Buffer
				fast, ok := ent.representation(context.Background(), initial, &buf)
				if !ok {
					t.Fatalf("%s: no representation", ev)
				}
				slow := *ent
				slow.rep = nil
				want, ok := slow.representation(context.Background(), initial, &buf)
				if !ok || !bytes.Equal(fast, want) {
					t.Errorf("%s: representation %s, the engine's %s", ev, fast, want)
				}
			}
			// The loader takes a well-formed event in one parse (eventRepresentation and
			// renderEvent), others through eventData: both give the same request and result.
			trigger := g.spec.sub.Trigger.Source.(*eventTrigger)
			entity, err := astjson.ParseBytes([]byte(`{"__typename":"Employee","name":"Ann \u00e9","n":"Ann"}`))
			if err != nil {
				t.Fatal(err)
			}
			quick := 0
			for _, ev := range append(events, `{"__typename":"Employee","id":7,"name":"x"}`, `{"__typename":"Employee"}`, `{"id":7,}`, `{"__typename":"Product","id":7}`) {
				var buf bytes.Buffer
				rep, data, ok := g.spec.sub.ent.eventRepresentation(context.Background(), []byte(ev), trigger, &buf)
				if !ok {
					continue
				}
				quick++
				event := eventsource.Event{Data: []byte(ev)}
				initial, payload, skip := g.eventData(&event, &buf)
				if payload != nil || skip {
					t.Fatalf("%s: one parse took an event that eventData reports: %s", ev, payload)
				}
				wantRep, ok := g.spec.sub.ent.representation(context.Background(), initial, &buf)
				if !ok || !bytes.Equal(rep, wantRep) {
					t.Errorf("%s: representation %s, through eventData %s", ev, rep, wantRep)
				}
				got, ok1 := g.spec.sub.ent.renderEvent(nil, data, entity, getArena(), nil)
				want, ok2 := g.spec.sub.ent.render(nil, initial, entity, getArena(), nil)
				if !ok1 || !ok2 || !bytes.Equal(got, want) {
					t.Errorf("%s: rendered %s (%v), through eventData %s (%v)", ev, got, ok1, want, ok2)
				}
			}
			if quick != len(events) {
				t.Errorf("%d events took one parse, want the %d well-formed ones", quick, len(events))
			}
		})
	}
}

// Subscribers on subjects of their own are a group each; the groups of one plan share
// what the hub derives from it (the entity loader's plan, the fast path) instead of a
// copy per group.
func TestEntityLoader_GroupsOfOnePlanShareItsDerivedParts(t *testing.T) {
	e, _ := newEngineWith(t, Options{Log: zerolog.Nop()})
	var groups []*group
	for _, q := range []string{
		`subscription { employeeUpdated(id: 1) { id name } }`,
		`subscription { employeeUpdated(id: 2) { id name } }`,
		`subscription($id: Int!) { employeeUpdated(id: $id) { id name } }`,
	} {
		req := &Request{Query: q}
		if bytes.Contains([]byte(q), []byte("$id")) {
			req.Variables = []byte(`{"id":3}`)
		}
		groups = append(groups, groupOf(t, e, openStream(t, e, req)))
	}
	if groups[0] == groups[1] {
		t.Fatal("subscribers on different subjects share a group")
	}
	if groups[0].spec.sub.ent == nil {
		t.Fatal("no entity loader plan")
	}
	if groups[1].spec.sub != groups[0].spec.sub {
		t.Error("two groups of one plan derived it twice")
	}
	if groups[2].spec.sub.ent == nil || groups[2].spec.sub.ent.target != groups[0].spec.sub.ent.target {
		t.Error("the plans of one `_entities` fetch do not share its target")
	}
}

// An answer the loader cannot split (errors, a wrong count, no JSON) is not split at all.
func TestEntityLoader_SplitsOnlyExactAnswers(t *testing.T) {
	for _, tc := range []struct {
		out string
		n   int
		ok  bool
	}{
		{`{"data":{"_entities":[{"name":"a"},null]}}`, 2, true},
		{`{"data":{"_entities":[{"name":"a"},null]},"errors":null}`, 2, true},
		{`{"data":{"_entities":[{"name":"a"}]}}`, 2, false},
		{`{"data":{"_entities":[{"name":"a"},{"name":"b"}]},"errors":[{"message":"x"}]}`, 2, false},
		{`{"data":null,"errors":[{"message":"x"}]}`, 1, false},
		{`broken`, 1, false},
		{``, 1, false},
	} {
		if got := splitEntities(getArena(), []byte(tc.out), tc.n); (got != nil) != tc.ok {
			t.Errorf("%s: split %v, want %v", tc.out, got != nil, tc.ok)
		}
	}
}
