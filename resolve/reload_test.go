package resolve

import (
	"testing"
	"unsafe"

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
		openStream(t, r, req)
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

// Groups of one operation text with different variables (a subject per user from a
// variable) keep one copy of the text for reloads, the prepared operation's, not each
// its request's.
func TestEngine_GroupsOfOneTextShareItsCopy(t *testing.T) {
	e, _ := newEngineWith(t, Options{Log: zerolog.Nop()})
	const query = `subscription S($id: Int!) { employeeUpdated(id: $id) { id } }`
	var groups []*group
	for _, id := range []string{"1", "2"} {
		// a text of its own per request, as a transport decodes it
		req := &Request{Query: string([]byte(query)), OperationName: string([]byte("S")), Variables: []byte(`{"id":` + id + `}`)}
		groups = append(groups, groupOf(t, e, openStream(t, e, req)))
	}
	a, b := groups[0].spec, groups[1].spec
	if groups[0] == groups[1] {
		t.Fatal("subscribers with different variables share a group")
	}
	if a.query != query || unsafe.StringData(a.query) != unsafe.StringData(b.query) {
		t.Error("the groups keep copies of the query of their own")
	}
	if a.rare == nil || b.rare == nil || a.rare.operationName != "S" || unsafe.StringData(a.rare.operationName) != unsafe.StringData(b.rare.operationName) {
		t.Error("the groups keep copies of the operation name of their own")
	}
	if string(a.rare.variables) != `{"id":1}` || string(b.rare.variables) != `{"id":2}` {
		t.Errorf("variables %s and %s, want each group's own", a.rare.variables, b.rare.variables)
	}
}
