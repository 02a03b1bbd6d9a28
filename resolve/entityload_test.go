package resolve

import (
	"bytes"
	"context"
	"testing"

	"github.com/rs/zerolog"
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
			op, err := e.Prepare(context.Background(), &Request{Query: tc.query})
			if err != nil {
				t.Fatal(err)
			}
			s, err := e.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {}})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			g := groupOf(t, e, s)
			if (g.ent != nil) != tc.ent {
				t.Fatalf("entity loader plan: %v, want %v", g.ent != nil, tc.ent)
			}
			if g.ent == nil {
				return
			}
			if g.ent.rep == nil {
				t.Fatal("the representation takes the engine's renderer")
			}
			for _, ev := range events {
				initial := wrapAt(withTypename([]byte(ev), "Employee"), g.spec.sub.Trigger.PostProcessing.MergePath)
				var buf bytes.Buffer
				fast, ok := g.ent.representation(context.Background(), initial, &buf)
				if !ok {
					t.Fatalf("%s: no representation", ev)
				}
				slow := *g.ent
				slow.rep = nil
				want, ok := slow.representation(context.Background(), initial, &buf)
				if !ok || !bytes.Equal(fast, want) {
					t.Errorf("%s: representation %s, the engine's %s", ev, fast, want)
				}
			}
		})
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
