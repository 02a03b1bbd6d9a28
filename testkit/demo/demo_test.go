package demo_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

func serve(t *testing.T, sg *minigraph.Subgraph) string {
	t.Helper()
	if err := sg.SchemaError(); err != nil {
		t.Fatalf("%s schema: %v", sg.Name, err)
	}
	srv := httptest.NewServer(sg.Handler())
	t.Cleanup(srv.Close)
	return srv.URL
}

func query(t *testing.T, url, q string, vars map[string]any) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"query": q, "variables": vars})
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return string(out)
}

func TestEmployees_ServesTheRoster(t *testing.T) {
	url := serve(t, demo.Employees())
	got := query(t, url, `{ employees { id } employee(id: 3) { name role updatedAt } }`, nil)
	want := `{"data":{"employees":[{"id":1},{"id":2},{"id":3},{"id":4},{"id":5}],"employee":{"name":"Chen Wei","role":"Frontend Engineer","updatedAt":"2025-01-15T09:10:00Z"}}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	if r := demo.Roster(); len(r) != 5 || r[2].Name != "Chen Wei" {
		t.Fatalf("roster %+v", r)
	}
}

func TestEmployees_ResolvesEntitiesByIntOrStringID(t *testing.T) {
	url := serve(t, demo.Employees())
	got := query(t, url, `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Employee { id name } } }`,
		map[string]any{"r": []any{
			map[string]any{"__typename": "Employee", "id": 5},
			map[string]any{"__typename": "Employee", "id": "1"},
			map[string]any{"__typename": "Employee", "id": 6},
		}})
	want := `{"data":{"_entities":[{"id":5,"name":"Emeka Okafor"},{"id":1,"name":"Alice Johnson"},null]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestProducts_TitleNeedsTheRequiredRole(t *testing.T) {
	url := serve(t, demo.Products())
	const q = `query ($r: [_Any!]!) { _entities(representations: $r) { ... on Employee { title products { upc } } } }`
	got := query(t, url, q, map[string]any{"r": []any{
		map[string]any{"__typename": "Employee", "id": 2, "role": "Backend Engineer"},
	}})
	want := `{"data":{"_entities":[{"title":"BACKEND ENGINEER","products":[{"upc":"p-100"},{"upc":"p-200"}]}]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
	got = query(t, url, q, map[string]any{"r": []any{map[string]any{"__typename": "Employee", "id": 2}}})
	if !strings.Contains(got, `"data":null`) || !strings.Contains(got, "non-nullable") {
		t.Fatalf("without role: %s", got)
	}
}

func TestProducts_ProvidesOwnerName(t *testing.T) {
	url := serve(t, demo.Products())
	got := query(t, url, `{ topProducts(first: 2) { upc name price owner { id name } } }`, nil)
	want := `{"data":{"topProducts":[{"upc":"p-100","name":"Edge Gateway","price":4900,"owner":{"id":2,"name":"Bilal Khan"}},{"upc":"p-200","name":"Event Router","price":2900,"owner":{"id":2,"name":"Bilal Khan"}}]}}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestDemo_SubgraphsComposeIntoOneSupergraph(t *testing.T) {
	sg, err := schema.Compose([]schema.SubgraphSource{
		{Name: "employees", RoutingURL: "http://127.0.0.1:4001/graphql", SDL: demo.EmployeesSDL},
		{Name: "products", RoutingURL: "http://127.0.0.1:4002/graphql", SDL: demo.ProductsSDL},
		{Name: "events", SDL: demo.EventsSDL()},
	})
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	if len(sg.EventSubgraphs) != 1 || sg.EventSubgraphs[0] != "events" {
		t.Fatalf("event subgraphs %v", sg.EventSubgraphs)
	}
	if len(sg.Bindings) != 3 {
		t.Fatalf("bindings %+v, want 3 (two subscriptions, one publish)", sg.Bindings)
	}
	sdl := sg.Config.GetEngineConfig().GetGraphqlSchema()
	for _, want := range []string{"employeeUpdated(id: Int!): Employee!", "title: String!", "topProducts", "updatedAt: String"} {
		if !strings.Contains(sdl, want) {
			t.Errorf("supergraph schema lacks %q", want)
		}
	}
}
