package resolve

import (
	"context"
	"testing"

	"github.com/rs/zerolog"
)

// A schema reload re-validates each running subscription with the client's request: its
// query, operation name and variables. A subscription that validates stays open.
func TestReloader_SwapRevalidatesWithTheClientsNameAndVariables(t *testing.T) {
	e, _ := newEngineWith(t, Options{Log: zerolog.Nop()})
	r := NewReloader(e)
	for _, req := range []*Request{
		// without its name the document is ambiguous, without its variables invalid
		{
			Query:         `subscription A($id: Int!) { employeeUpdated(id: $id) { id } } subscription B { employeeUpdated(id: 2) { id } }`,
			OperationName: "A",
			Variables:     []byte(`{"id":1}`),
		},
		{Query: `subscription { employeeUpdated(id: 3) { id } }`},
	} {
		op, err := r.Prepare(context.Background(), req)
		if err != nil {
			t.Fatal(err)
		}
		s, err := r.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
	}
	next, _ := newEngineWith(t, Options{Log: zerolog.Nop()})
	res, err := r.Swap(next)
	if err != nil {
		t.Fatal(err)
	}
	if res.Kept != 2 || res.Ended != 0 {
		t.Fatalf("reload kept %d and ended %d subscriptions, want 2 and 0", res.Kept, res.Ended)
	}
}
