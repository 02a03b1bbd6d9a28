package minigraph_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func post(t *testing.T, srv string, body map[string]any, header http.Header) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, srv, bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

func query(t *testing.T, srv, q string, vars map[string]any) string {
	t.Helper()
	body := map[string]any{"query": q}
	if vars != nil {
		body["variables"] = vars
	}
	status, out := post(t, srv, body, nil)
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, out)
	}
	return out
}

func TestHandler_ProjectsSelectionWithAliasesFragmentsAndTypename(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `
		query {
		  boss: employee(id: 2) { ...Who manager { __typename who: name } }
		  nobody: employee(id: 42) { id }
		}
		fragment Who on Employee { __typename id ... on Node { nodeID: id } ... on Employee { name } }`, nil)
	want := `{"data":{"boss":{"__typename":"Employee","id":2,"nodeID":2,"name":"Bob","manager":{"__typename":"Employee","who":"Alice"}},"nobody":null}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHandler_ListsMapElementWiseAndFieldResolversGetArguments(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `{ employees { id tags hi: greeting bye: greeting(prefix: "Bye") } }`, nil)
	want := `{"data":{"employees":[{"id":1,"tags":["lead"],"hi":"Hello, Alice","bye":"Bye, Alice"},{"id":2,"tags":[],"hi":"Hello, Bob","bye":"Bye, Bob"}]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHandler_FragmentsOnAbstractTypesFollowTypename(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `{ search(term: "x") { __typename ... on Team { name } ... on Node { id } } }`, nil)
	want := `{"data":{"search":[{"__typename":"Team","name":"Platform"},{"__typename":"Employee","id":2}]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHandler_CoercesVariablesAndAppliesDefaults(t *testing.T) {
	_, srv, calls := newTestSubgraph(t)
	query(t, srv.URL, `query Q($id: Int!, $limit: Int = 3, $role: Role) { employee(id: $id) { id } employees(limit: $limit, filter: {role: $role}) { id } }`,
		map[string]any{"id": 1})
	first, second := <-calls, <-calls
	if got := first["employee"].(map[string]any)["id"]; got != 1 {
		t.Fatalf("employee id = %#v, want int 1", got)
	}
	args := second["employees"].(map[string]any)
	if args["limit"] != 3 {
		t.Fatalf("limit = %#v, want the variable default 3", args["limit"])
	}
	filter := args["filter"].(map[string]any)
	if _, ok := filter["role"]; ok || filter["minID"] != 0 {
		t.Fatalf("filter = %#v, want no role and the input default minID 0", filter)
	}

	query(t, srv.URL, `{ employees { id } }`, nil)
	if got := (<-calls)["employees"].(map[string]any)["limit"]; got != 10 {
		t.Fatalf("limit = %#v, want the argument default 10", got)
	}
}

func TestHandler_RejectsInvalidOperationsWithoutData(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	for name, tc := range map[string]struct {
		query string
		vars  map[string]any
		want  string
	}{
		"unknown field":        {`{ employee(id: 1) { salary } }`, nil, `Cannot query field \"salary\" on type \"Employee\".`},
		"unknown root field":   {`{ salaries }`, nil, `Cannot query field \"salaries\" on type \"Query\".`},
		"missing argument":     {`{ employee { id } }`, nil, `argument \"id\" of type \"Int!\" is required`},
		"leaf with selection":  {`{ employee(id: 1) { id { x } } }`, nil, `must not have a selection`},
		"object without":       {`{ employee(id: 1) }`, nil, `must have a selection of subfields`},
		"missing variable":     {`query ($id: Int!) { employee(id: $id) { id } }`, nil, `variable $id of required type Int! was not provided`},
		"wrong variable type":  {`query ($id: Int!) { employee(id: $id) { id } }`, map[string]any{"id": "x"}, `is not a valid Int`},
		"undeclared variable":  {`{ employee(id: $id) { id } }`, nil, `variable $id is not defined`},
		"syntax error":         {`{ employee(id: 1) { id }`, nil, `unexpected token`},
		"fragment cycle":       {`{ employee(id: 1) { ...A } } fragment A on Employee { manager { ...A } }`, nil, `fragment \"A\" spreads itself`},
		"field on union":       {`{ search(term: "x") { name } }`, nil, `Cannot query field \"name\" on type \"SearchResult\".`},
		"unknown enum value":   {`{ employees(filter: {role: CEO}) { id } }`, nil, `is not a value of enum Role`},
		"subscription on POST": {`subscription { endless { id } }`, nil, `subscriptions need`},
	} {
		t.Run(name, func(t *testing.T) {
			body := map[string]any{"query": tc.query}
			if tc.vars != nil {
				body["variables"] = tc.vars
			}
			_, got := post(t, srv.URL, body, nil)
			if !strings.HasPrefix(got, `{"errors":[{"message":`) || strings.Contains(got, `"data"`) || !strings.Contains(got, tc.want) {
				t.Fatalf("got %s, want errors without data containing %s", got, tc.want)
			}
		})
	}
}

func TestHandler_ResolverErrorNullsDataWithPath(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `{ employee(id: 1) { id } oops: fail }`, nil)
	want := `{"errors":[{"message":"database is down","path":["oops"]}],"data":null}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestHandler_EntitiesKeepRepresentationOrder(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `query ($r: [_Any!]!) { _entities(representations: $r) { __typename ... on Employee { id name } } }`,
		map[string]any{"r": []any{
			map[string]any{"__typename": "Employee", "id": 2},
			map[string]any{"__typename": "Employee", "id": "1"},
			map[string]any{"__typename": "Employee", "id": 99},
		}})
	want := `{"data":{"_entities":[{"__typename":"Employee","id":2,"name":"Bob"},{"__typename":"Employee","id":1,"name":"Alice"},null]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	query(t, srv.URL, `{ employee(id: 1) { id } }`, nil)
	if n := sg.CountEntitiesRequests(); n != 1 {
		t.Fatalf("CountEntitiesRequests = %d, want 1", n)
	}
}

func TestHandler_EntitiesRejectNonEntityTypename(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `{ _entities(representations: [{__typename: "Team", name: "x"}]) { __typename } }`, nil)
	if !strings.Contains(got, `no __typename of an entity type`) || !strings.Contains(got, `"data":null`) {
		t.Fatalf("got %s", got)
	}
}

func TestHandler_ServiceReturnsTheSDL(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	var resp struct {
		Data struct {
			Service struct{ SDL string } `json:"_service"`
		}
	}
	if err := json.Unmarshal([]byte(query(t, srv.URL, `{ _service { sdl } }`, nil)), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.Data.Service.SDL != testSDL {
		t.Fatalf("sdl = %q", resp.Data.Service.SDL)
	}
}

func TestHandler_MutationRunsResolver(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `mutation { rename(id: 2, name: "Robert") { id name } }`, nil)
	if want := `{"data":{"rename":{"id":2,"name":"Robert"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestHandler_GETRunsQueriesButNotMutations(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	q := url.Values{"query": {`query ($id: Int!) { employee(id: $id) { name } }`}, "variables": {`{"id":2}`}}
	resp, err := http.Get(srv.URL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := `{"data":{"employee":{"name":"Bob"}}}`; string(body) != want {
		t.Fatalf("got %s, want %s", body, want)
	}
	q = url.Values{"query": {`mutation { rename(id: 2, name: "X") { id } }`}}
	resp, err = http.Get(srv.URL + "?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("mutation over GET: status %d, want 405", resp.StatusCode)
	}
}

func TestHandler_SelectsNamedOperation(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	doc := `query A { employee(id: 1) { name } } query B { employee(id: 2) { name } }`
	_, got := post(t, srv.URL, map[string]any{"query": doc, "operationName": "B"}, nil)
	if want := `{"data":{"employee":{"name":"Bob"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	_, got = post(t, srv.URL, map[string]any{"query": doc}, nil)
	if !strings.Contains(got, "operationName is required") {
		t.Fatalf("got %s", got)
	}
}

func TestHandler_SkipAndInclude(t *testing.T) {
	_, srv, _ := newTestSubgraph(t)
	got := query(t, srv.URL, `query ($yes: Boolean!) { employee(id: 1) { id @skip(if: $yes) name @include(if: $yes) role @include(if: false) } }`,
		map[string]any{"yes": true})
	if want := `{"data":{"employee":{"name":"Alice"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestSubgraph_RecordsRequestsWithHeaders(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	_, _ = post(t, srv.URL, map[string]any{
		"query": `query Who($id: Int!) { employee(id: $id) { id } }`, "operationName": "Who", "variables": map[string]any{"id": 1},
	}, http.Header{"Authorization": {"Bearer t"}})
	reqs := sg.Requests()
	if len(reqs) != 1 {
		t.Fatalf("recorded %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.OperationName != "Who" || r.Variables["id"] != 1 || r.Headers.Get("Authorization") != "Bearer t" ||
		r.Transport != "http" || r.SelectsEntities || !strings.Contains(r.Query, "employee(id: $id)") {
		t.Fatalf("recorded %+v", r)
	}
	sg.ResetRequests()
	if n := len(sg.Requests()); n != 0 {
		t.Fatalf("after reset: %d requests", n)
	}
}

func TestSubgraph_InvalidSDLIsReported(t *testing.T) {
	for _, sdl := range []string{`type Query { a: Missing }`, `type Query {`} {
		sg := newBare(sdl)
		if sg.SchemaError() == nil {
			t.Fatalf("SDL %q: no error", sdl)
		}
	}
}

func TestHandler_ResolversSeeRequestHeadersConcurrently(t *testing.T) {
	sg, srv, _ := newTestSubgraph(t)
	const n = 20
	done := make(chan string, n)
	for i := range n {
		go func() {
			b, _ := json.Marshal(map[string]any{"query": `{ viewer }`})
			req, _ := http.NewRequest(http.MethodPost, srv.URL, bytes.NewReader(b))
			req.Header.Set("Authorization", "Bearer "+strconv.Itoa(i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				done <- err.Error()
				return
			}
			defer resp.Body.Close()
			out, _ := io.ReadAll(resp.Body)
			_ = sg.Requests()
			if want := `{"data":{"viewer":"Bearer ` + strconv.Itoa(i) + `"}}`; string(out) != want {
				done <- string(out) + " != " + want
				return
			}
			done <- ""
		}()
	}
	for range n {
		if msg := <-done; msg != "" {
			t.Error(msg)
		}
	}
	if got := len(sg.Requests()); got != n {
		t.Fatalf("recorded %d requests, want %d", got, n)
	}
}
