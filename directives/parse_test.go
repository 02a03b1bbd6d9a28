package directives

import (
	"os"
	"reflect"
	"strings"
	"testing"
)

// The declarations Cosmo users paste into their subgraphs; Parse must work with and without them.
const eventDefinitions = `
directive @edfs__natsSubscribe(subjects: [String!]!, providerId: String! = "default", streamConfiguration: edfs__NatsStreamConfiguration) on FIELD_DEFINITION
directive @edfs__natsPublish(subject: String!, providerId: String! = "default") on FIELD_DEFINITION
directive @edfs__natsRequest(subject: String!, providerId: String! = "default") on FIELD_DEFINITION
directive @edfs__kafkaSubscribe(topics: [String!]!, providerId: String! = "default") on FIELD_DEFINITION
directive @edfs__kafkaPublish(topic: String!, providerId: String! = "default") on FIELD_DEFINITION
directive @edfs__redisSubscribe(channels: [String!]!, providerId: String! = "default") on FIELD_DEFINITION
directive @edfs__redisPublish(channel: String!, providerId: String! = "default") on FIELD_DEFINITION
"""
Filters the events of a subscription.
"""
directive @openfed__subscriptionFilter(
  condition: openfed__SubscriptionFilterCondition!
) on FIELD_DEFINITION

input edfs__NatsStreamConfiguration {
  consumerName: String!
  streamName: String!
  consumerInactiveThreshold: Int! = 30
}

input openfed__SubscriptionFilterCondition {
  AND: [openfed__SubscriptionFilterCondition!]
  IN: openfed__SubscriptionFieldCondition
  NOT: openfed__SubscriptionFilterCondition
  OR: [openfed__SubscriptionFilterCondition!]
}

input openfed__SubscriptionFieldCondition {
  fieldPath: String!
  values: [openfed__SubscriptionFilterValue]!
}

"a filter value: a string, number, boolean or null"
scalar openfed__SubscriptionFilterValue
`

func readTestdata(t testing.TB, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mustParse(t testing.TB, sdl string) *Result {
	t.Helper()
	r, err := Parse(Source{Subgraph: "events", File: "events.graphql", SDL: sdl})
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return r
}

func templates(t testing.TB, ss ...string) []Template {
	out := make([]Template, len(ss))
	for i, s := range ss {
		out[i] = mustTemplate(t, s)
	}
	return out
}

func TestParse_ExampleSubgraphBindsEveryEventField(t *testing.T) {
	r := mustParse(t, readTestdata(t, "employees_events.graphql"))
	if !r.Events {
		t.Fatal("Events = false for an event subgraph")
	}
	b := func(typ, field string, a Action, br Broker, provider string, line int, subjects ...string) Binding {
		return Binding{Subgraph: "events", TypeName: typ, FieldName: field, Action: a, Broker: br,
			ProviderID: provider, Subjects: templates(t, subjects...), Line: line}
	}
	many := b("Subscription", "employeeUpdatedMany", Subscribe, NATS, "default", 6, "employeeUpdated.*")
	many.Filter = &Filter{In: &FilterIn{FieldPath: []string{"id"}, Values: []string{`"{{ args.ids }}"`}}}
	want := []Binding{
		b("Query", "employeeFromEvent", Request, NATS, "default", 1, "getEmployee.{{ args.id }}"),
		b("Mutation", "updateEmployee", Publish, NATS, "default", 2, "updateEmployee.{{ args.id }}"),
		b("Subscription", "employeeUpdated", Subscribe, NATS, "default", 5, "employeeUpdated.{{ args.id }}"),
		many,
		b("Subscription", "employeeUpdatedTwo", Subscribe, NATS, "default", 7, "employeeUpdated.1", "employeeUpdated.2"),
		b("Subscription", "kafkaEmployee", Subscribe, Kafka, "my-kafka", 8, "employees"),
		b("Subscription", "redisEmployee", Subscribe, Redis, "my-redis", 9, "employee.{{ args.id }}"),
	}
	assertBindings(t, r.Bindings, want)

	sub, ok := r.Binding("Subscription", "employeeUpdated")
	if !ok {
		t.Fatal("Binding(Subscription, employeeUpdated) not found")
	}
	if got, err := sub.RenderSubjects([]byte(`{"id":1}`)); err != nil || len(got) != 1 || got[0] != "employeeUpdated.1" {
		t.Errorf("RenderSubjects = %v, %v", got, err)
	}
	_, err := sub.RenderSubjects([]byte(`{"id":"a.>"}`))
	const msg = `invalid value for argument "id" in subject "employeeUpdated.{{ args.id }}": "a.>" contains '.', which would change the subject`
	if err == nil || err.Error() != msg {
		t.Errorf("RenderSubjects error = %v, want %s", err, msg)
	}
	if _, ok := r.Binding("Subscription", "nope"); ok {
		t.Error("Binding found a field without a binding")
	}
}

func assertBindings(t *testing.T, got, want []Binding) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d bindings, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if !reflect.DeepEqual(got[i], want[i]) {
			t.Errorf("binding %d:\n got %+v (filter %s, stream %+v)\nwant %+v (filter %s, stream %+v)",
				i, got[i], filterString(got[i].Filter), got[i].Stream, want[i], filterString(want[i].Filter), want[i].Stream)
		}
	}
}

// filterString prints a filter tree compactly for failure messages.
func filterString(f *Filter) string {
	if f == nil {
		return "<nil>"
	}
	list := func(op string, fs []Filter) string {
		parts := make([]string, len(fs))
		for i := range fs {
			parts[i] = filterString(&fs[i])
		}
		return op + "(" + strings.Join(parts, ", ") + ")"
	}
	switch {
	case f.And != nil:
		return list("AND", f.And)
	case f.Or != nil:
		return list("OR", f.Or)
	case f.Not != nil:
		return "NOT(" + filterString(f.Not) + ")"
	case f.In != nil:
		return "IN(" + strings.Join(f.In.FieldPath, ".") + ": " + strings.Join(f.In.Values, " ") + ")"
	}
	return "EMPTY"
}

const entitySDL = `
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
input UpdateEmployeeInput { id: ID!, name: String, nested: NestedInput }
input NestedInput { key: String! }
type edfs__PublishResult { success: Boolean! }
`

func TestParse_EachDirectiveGivesItsBinding(t *testing.T) {
	tests := []struct {
		name  string
		field string // a root field with its directive, placed in the given type
		typ   string
		want  Binding
	}{
		{
			name:  "nats subscribe with defaults",
			typ:   "Subscription",
			field: `e(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["e.{{ args.id }}"])`,
			want:  Binding{Action: Subscribe, Broker: NATS, ProviderID: "default", Subjects: templates(t, "e.{{ args.id }}")},
		},
		{
			name:  "nats subscribe with provider and stream",
			typ:   "Subscription",
			field: `e: Employee! @edfs__natsSubscribe(subjects: ["a.>", "b.*.c"], providerId: "js", streamConfiguration: {consumerName: "c1", streamName: "s1", consumerInactiveThreshold: 60})`,
			want: Binding{Action: Subscribe, Broker: NATS, ProviderID: "js", Subjects: templates(t, "a.>", "b.*.c"),
				Stream: &StreamConfig{ConsumerName: "c1", StreamName: "s1", ConsumerInactiveThreshold: 60}},
		},
		{
			name:  "nats stream threshold defaults to 30",
			typ:   "Subscription",
			field: `e: Employee! @edfs__natsSubscribe(subjects: "a", streamConfiguration: {streamName: "s", consumerName: "c"})`,
			want: Binding{Action: Subscribe, Broker: NATS, ProviderID: "default", Subjects: templates(t, "a"),
				Stream: &StreamConfig{ConsumerName: "c", StreamName: "s", ConsumerInactiveThreshold: 30}},
		},
		{
			name:  "nats stream null means core nats",
			typ:   "Subscription",
			field: `e: Employee! @edfs__natsSubscribe(subjects: ["a"], streamConfiguration: null)`,
			want:  Binding{Action: Subscribe, Broker: NATS, ProviderID: "default", Subjects: templates(t, "a")},
		},
		{
			name:  "nats publish",
			typ:   "Mutation",
			field: `p(input: UpdateEmployeeInput!): edfs__PublishResult! @edfs__natsPublish(subject: "upd.{{ args.input.id }}", providerId: "p2")`,
			want:  Binding{Action: Publish, Broker: NATS, ProviderID: "p2", Subjects: templates(t, "upd.{{ args.input.id }}")},
		},
		{
			name:  "nats publish deeply nested argument",
			typ:   "Mutation",
			field: `p(input: UpdateEmployeeInput!): edfs__PublishResult! @edfs__natsPublish(subject: "upd.{{args.input.nested.key}}")`,
			want:  Binding{Action: Publish, Broker: NATS, ProviderID: "default", Subjects: templates(t, "upd.{{args.input.nested.key}}")},
		},
		{
			name:  "nats request",
			typ:   "Query",
			field: `r(id: ID!): Employee @edfs__natsRequest(subject: "get.{{ args.id }}")`,
			want:  Binding{Action: Request, Broker: NATS, ProviderID: "default", Subjects: templates(t, "get.{{ args.id }}")},
		},
		{
			name:  "kafka subscribe",
			typ:   "Subscription",
			field: `k: [Employee!]! @edfs__kafkaSubscribe(topics: ["employees", "more-employees"], providerId: "my-kafka")`,
			want:  Binding{Action: Subscribe, Broker: Kafka, ProviderID: "my-kafka", Subjects: templates(t, "employees", "more-employees")},
		},
		{
			name:  "kafka publish",
			typ:   "Mutation",
			field: `k(id: Int!): edfs__PublishResult! @edfs__kafkaPublish(topic: "employee-{{ args.id }}")`,
			want:  Binding{Action: Publish, Broker: Kafka, ProviderID: "default", Subjects: templates(t, "employee-{{ args.id }}")},
		},
		{
			name:  "redis subscribe",
			typ:   "Subscription",
			field: `r(id: Int!): Employee! @edfs__redisSubscribe(channels: ["employee.{{ args.id }}", "all*"], providerId: "my-redis")`,
			want:  Binding{Action: Subscribe, Broker: Redis, ProviderID: "my-redis", Subjects: templates(t, "employee.{{ args.id }}", "all*")},
		},
		{
			name:  "redis publish",
			typ:   "Mutation",
			field: `r(id: Int!): edfs__PublishResult! @edfs__redisPublish(channel: "employee.{{ args.id }}")`,
			want:  Binding{Action: Publish, Broker: Redis, ProviderID: "default", Subjects: templates(t, "employee.{{ args.id }}")},
		},
		{
			name:  "escaped string and block string",
			typ:   "Subscription",
			field: `e: Employee! @edfs__redisSubscribe(channels: ["a\u00e9\"b", """raw"""])`,
			want:  Binding{Action: Subscribe, Broker: Redis, ProviderID: "default", Subjects: templates(t, `aé"b`, "raw")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, defs := range []struct {
				name string
				sdl  string
			}{{"definitions omitted", ""}, {"definitions declared", eventDefinitions}} {
				sdl := "type " + tt.typ + " {\n  " + tt.field + "\n}\n" + entitySDL + defs.sdl
				r := mustParse(t, sdl)
				want := tt.want
				want.Subgraph, want.TypeName, want.Line = "events", tt.typ, 2
				want.FieldName = tt.field[:strings.IndexAny(tt.field, "(:")]
				assertBindings(t, r.Bindings, []Binding{want})
			}
		})
	}
}

func TestParse_ExtendTypeSubscriptionAndRenamedRootTypes(t *testing.T) {
	sdl := `
schema { query: Q subscription: S }
type Q { employee(id: ID!): Employee @edfs__natsRequest(subject: "get.{{ args.id }}") }
extend type S {
  updated: Employee! @edfs__natsSubscribe(subjects: ["u"])
}
` + entitySDL
	r := mustParse(t, sdl)
	if len(r.Bindings) != 2 || r.Bindings[0].TypeName != "Q" || r.Bindings[1].TypeName != "S" || r.Bindings[1].Line != 5 {
		t.Fatalf("bindings = %+v", r.Bindings)
	}
}

func TestParse_SubscriptionFilterTree(t *testing.T) {
	in := func(path string, values ...string) Filter {
		return Filter{In: &FilterIn{FieldPath: strings.Split(path, "."), Values: values}}
	}
	tests := []struct {
		name      string
		condition string
		want      Filter
	}{
		{
			name:      "IN with template",
			condition: `{ IN: { fieldPath: "id", values: ["{{ args.ids }}"] } }`,
			want:      in("id", `"{{ args.ids }}"`),
		},
		{
			name:      "IN with literals of every kind",
			condition: `{ IN: { fieldPath: "employee.details.id", values: ["a", 1, -2, 3.5, -1e3, true, false, null, "q\"<>&", "{{args.id}}-x"] } }`,
			want:      in("employee.details.id", `"a"`, "1", "-2", "3.5", "-1e3", "true", "false", "null", `"q\"<>&"`, `"{{args.id}}-x"`),
		},
		{
			name:      "IN with a single value coerced to a list",
			condition: `{ IN: { fieldPath: "id", values: 1 } }`,
			want:      in("id", "1"),
		},
		{
			name:      "AND OR NOT nested",
			condition: `{ AND: [ { NOT: { IN: { fieldPath: "id", values: [1] } } }, { OR: [ { IN: { fieldPath: "a", values: ["x"] } }, { IN: { fieldPath: "b", values: ["{{ args.id }}"] } } ] } ] }`,
			want: Filter{And: []Filter{
				{Not: &Filter{In: &FilterIn{FieldPath: []string{"id"}, Values: []string{"1"}}}},
				{Or: []Filter{in("a", `"x"`), in("b", `"{{ args.id }}"`)}},
			}},
		},
		{
			name:      "OR with a single condition coerced to a list",
			condition: `{ OR: { IN: { fieldPath: "id", values: [2] } } }`,
			want:      Filter{Or: []Filter{in("id", "2")}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, defs := range []string{"", eventDefinitions} {
				sdl := "type Subscription {\n  e(id: Int!, ids: [Int!]!): Employee! @edfs__natsSubscribe(subjects: [\"e\"])\n    @openfed__subscriptionFilter(condition: " +
					tt.condition + ")\n}\n" + entitySDL + defs
				r := mustParse(t, sdl)
				if len(r.Bindings) != 1 {
					t.Fatalf("bindings = %+v", r.Bindings)
				}
				if got := r.Bindings[0].Filter; !reflect.DeepEqual(got, &tt.want) {
					t.Fatalf("filter = %s, want %s", filterString(got), filterString(&tt.want))
				}
			}
		})
	}
}

func TestParse_SubgraphWithoutEventDirectivesIsNotAnEventSubgraph(t *testing.T) {
	sdl := `extend schema @link(url: "https://specs.apollo.dev/federation/v2.3", import: ["@key"])
type Query { employees: [Employee!]! }
type Employee @key(fields: "id") { id: Int! name: String! }
`
	r := mustParse(t, sdl)
	if r.Events || len(r.Bindings) != 0 {
		t.Fatalf("Events = %v, bindings = %v", r.Events, r.Bindings)
	}
	if r.SDL != sdl {
		t.Fatalf("SDL changed:\n%s", r.SDL)
	}
}

func TestParse_UsesSubgraphNameWhenFileIsEmpty(t *testing.T) {
	_, err := Parse(Source{Subgraph: "inventory", SDL: "type Query { a: Int @edfs__nope }"})
	if err == nil || !strings.HasPrefix(err.Error(), "inventory:1: unknown event directive @edfs__nope") {
		t.Fatalf("error = %v", err)
	}
}
