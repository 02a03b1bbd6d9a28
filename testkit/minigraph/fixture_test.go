package minigraph_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/edgate/edgate/testkit/minigraph"
)

const testSDL = `
extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])

type Query {
  employee(id: Int!): Employee
  employees(limit: Int = 10, filter: EmployeeFilter): [Employee!]!
  search(term: String!): [SearchResult!]!
  fail: String
  viewer: String
}

type Mutation {
  rename(id: Int!, name: String!): Employee!
}

type Subscription {
  count(to: Int!): Employee!
  endless: Employee!
}

input EmployeeFilter {
  role: Role
  minID: Int = 0
}

enum Role { ENGINEER MANAGER }

interface Node { id: Int! }

type Employee implements Node @key(fields: "id") {
  id: Int!
  name: String!
  role: Role!
  tags: [String!]!
  manager: Employee
  greeting(prefix: String = "Hello"): String!
}

type Team { name: String! }

union SearchResult = Employee | Team
`

func testEmployees() []map[string]any {
	alice := map[string]any{"id": 1, "name": "Alice", "role": "MANAGER", "tags": []string{"lead"}}
	bob := map[string]any{"id": 2, "name": "Bob", "role": "ENGINEER", "tags": []string{}, "manager": alice}
	for _, e := range []map[string]any{alice, bob} {
		name := e["name"]
		e["greeting"] = minigraph.Resolver(func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
			return fmt.Sprintf("%s, %s", args["prefix"], name), nil
		})
	}
	return []map[string]any{alice, bob}
}

func employeeByID(id any) map[string]any {
	for _, e := range testEmployees() {
		if fmt.Sprint(e["id"]) == fmt.Sprint(id) {
			return e
		}
	}
	return nil
}

// newTestSubgraph serves the test schema. calls receives the arguments of every root
// resolver call, keyed by field name.
func newTestSubgraph(t *testing.T) (*minigraph.Subgraph, *httptest.Server, chan map[string]any) {
	t.Helper()
	calls := make(chan map[string]any, 100)
	sg := &minigraph.Subgraph{
		Name: "test",
		SDL:  testSDL,
		Query: map[string]minigraph.Resolver{
			"employee": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				calls <- map[string]any{"employee": args}
				if e := employeeByID(args["id"]); e != nil {
					return e, nil
				}
				return nil, nil
			},
			"employees": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				calls <- map[string]any{"employees": args}
				return testEmployees(), nil
			},
			"search": func(context.Context, map[string]any, http.Header) (any, error) {
				return []any{
					map[string]any{"__typename": "Team", "name": "Platform"},
					map[string]any{"__typename": "Employee", "id": 2, "name": "Bob", "role": "ENGINEER", "tags": []any{}},
				}, nil
			},
			"viewer": func(_ context.Context, _ map[string]any, h http.Header) (any, error) {
				return h.Get("Authorization"), nil
			},
			"fail": func(context.Context, map[string]any, http.Header) (any, error) {
				return nil, errors.New("database is down")
			},
		},
		Mutation: map[string]minigraph.Resolver{
			"rename": func(_ context.Context, args map[string]any, _ http.Header) (any, error) {
				e := employeeByID(args["id"])
				e["name"] = args["name"]
				return e, nil
			},
		},
		Entities: func(_ context.Context, rep map[string]any, _ http.Header) (map[string]any, error) {
			return employeeByID(rep["id"]), nil
		},
		Subscription: map[string]func(context.Context, map[string]any, http.Header) (<-chan any, error){
			"count": func(ctx context.Context, args map[string]any, _ http.Header) (<-chan any, error) {
				to := args["to"].(int)
				ch := make(chan any)
				go func() {
					defer close(ch)
					for i := 1; i <= to; i++ {
						select {
						case ch <- map[string]any{"id": i, "name": fmt.Sprintf("E%d", i), "role": "ENGINEER", "tags": []any{}}:
						case <-ctx.Done():
							return
						}
					}
				}()
				return ch, nil
			},
			"endless": func(ctx context.Context, _ map[string]any, _ http.Header) (<-chan any, error) {
				ch := make(chan any)
				go func() {
					defer close(ch)
					select {
					case ch <- map[string]any{"id": 1, "name": "Alice", "role": "MANAGER", "tags": []any{}}:
					case <-ctx.Done():
						return
					}
					<-ctx.Done()
				}()
				return ch, nil
			},
		},
	}
	if err := sg.SchemaError(); err != nil {
		t.Fatalf("schema: %v", err)
	}
	srv := httptest.NewServer(sg.Handler())
	t.Cleanup(srv.Close)
	return sg, srv, calls
}

func newBare(sdl string) *minigraph.Subgraph { return &minigraph.Subgraph{SDL: sdl} }
