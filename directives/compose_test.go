package directives

import (
	"strings"
	"testing"

	"github.com/wundergraph/cosmo/composition-go"
)

// The rewritten event subgraph composes with a subgraph that owns the entity, proving it is
// a valid Federation v2 subgraph for a composer that knows nothing about event directives.
func TestRewrite_ComposesWithTheEntityOwner(t *testing.T) {
	if testing.Short() {
		t.Skip("composition starts a JavaScript VM")
	}
	owner := `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { employees: [Employee!]! }
type Employee @key(fields: "id") { id: Int! name: String! }
`
	tests := []struct {
		name string
		sdl  string
		want []string
	}{
		{"example with declared definitions", readTestdata(t, "employees_events.graphql") + eventDefinitions,
			[]string{"employeeUpdatedMany(ids: [Int!]!): Employee!", "updateEmployee(id: Int!, update: UpdateEmployeeInput!): edfs__PublishResult!", "name: String!"}},
		{"publish result and link added", `type Mutation { p(id: Int!): edfs__PublishResult! @edfs__kafkaPublish(topic: "t-{{ args.id }}") }
type Subscription { s: Employee @edfs__kafkaSubscribe(topics: ["t"]) }
extend type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
`, []string{"p(id: Int!): edfs__PublishResult!", "success: Boolean!", "s: Employee"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.sdl)
			fed, err := composition.Federate(
				&composition.Subgraph{Name: "employees", URL: "http://127.0.0.1:4001/graphql", Schema: owner},
				&composition.Subgraph{Name: "events", URL: "http://127.0.0.1:4002/graphql", Schema: r.SDL},
			)
			if err != nil {
				t.Fatalf("composition failed: %v\n%s", err, r.SDL)
			}
			for _, want := range tt.want {
				if !strings.Contains(fed.SDL, want) {
					t.Errorf("supergraph lacks %q:\n%s", want, fed.SDL)
				}
			}
		})
	}
}
