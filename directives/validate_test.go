package directives

import (
	"errors"
	"strconv"
	"strings"
	"testing"
)

// Entities and inputs the validation cases refer to; appended after each case's own lines so
// that the line numbers in the cases count from their first line.
const validationTypes = `
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
type Department @key(fields: "id", resolvable: false) { id: Int! @external }
type Address { street: String }
union Entities = Employee | Department
union Mixed = Employee | Address
interface Node { id: Int! }
type Team implements Node @key(fields: "id", resolvable: false) { id: Int! @external }
interface Named { name: String }
type Pet implements Named { name: String }
enum Color { RED }
input UpdateEmployeeInput { id: ID!, name: String, tags: [String!], nested: NestedInput }
input NestedInput { key: String! }
type edfs__PublishResult { success: Boolean! }
`

func TestParse_ReportsInvalidEventDirectivesWithFileAndLine(t *testing.T) {
	tests := []struct {
		name string
		sdl  string
		want string // "events.graphql:LINE: " + a substring of the message
	}{
		// Placement.
		{"subscribe on Query", `type Query { e: Employee @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: @edfs__natsSubscribe is only allowed on fields of type Subscription, not on Query.e"},
		{"kafka subscribe on Mutation", "\ntype Mutation { e: Employee @edfs__kafkaSubscribe(topics: [\"e\"]) }",
			"events.graphql:2: @edfs__kafkaSubscribe is only allowed on fields of type Subscription, not on Mutation.e"},
		{"redis subscribe on an entity field", `type Subscription { a: Employee } type X { e: Employee @edfs__redisSubscribe(channels: ["e"]) }`,
			"events.graphql:1: @edfs__redisSubscribe is only allowed on fields of type Subscription, not on X.e"},
		{"publish on Subscription", `type Subscription { p: edfs__PublishResult! @edfs__natsPublish(subject: "e") }`,
			"events.graphql:1: @edfs__natsPublish is only allowed on fields of type Mutation, not on Subscription.p"},
		{"kafka publish on Query", `type Query { p: edfs__PublishResult! @edfs__kafkaPublish(topic: "e") }`,
			"events.graphql:1: @edfs__kafkaPublish is only allowed on fields of type Mutation"},
		{"redis publish on Query", `type Query { p: edfs__PublishResult! @edfs__redisPublish(channel: "e") }`,
			"events.graphql:1: @edfs__redisPublish is only allowed on fields of type Mutation"},
		{"request on Mutation", `type Mutation { r: Employee @edfs__natsRequest(subject: "e") }`,
			"events.graphql:1: @edfs__natsRequest is only allowed on fields of type Query, not on Mutation.r"},
		{"request on Subscription", `type Subscription { r: Employee @edfs__natsRequest(subject: "e") }`,
			"events.graphql:1: @edfs__natsRequest is only allowed on fields of type Query"},
		{"subscribe on an interface field", `interface I { e: Employee @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: @edfs__natsSubscribe is only allowed on fields of type Subscription"},
		{"subscribe on a type", `type Subscription @edfs__natsSubscribe(subjects: ["e"]) { e: Employee }`,
			"events.graphql:1: @edfs__natsSubscribe is only allowed on fields of type Subscription"},
		{"subscribe under a renamed root", "schema { subscription: Events }\ntype Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"e\"]) }",
			"events.graphql:2: @edfs__natsSubscribe is only allowed on fields of type Events, not on Subscription.e"},
		{"two event directives", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"])
  @edfs__kafkaSubscribe(topics: ["e"]) }`,
			"events.graphql:2: Subscription.e has more than one event directive (@edfs__natsSubscribe and @edfs__kafkaSubscribe)"},
		{"unknown edfs directive", `type Subscription { e: Employee @edfs__mqttSubscribe(topics: ["e"]) }`,
			"events.graphql:1: unknown event directive @edfs__mqttSubscribe (known: @edfs__kafkaPublish"},
		{"unknown edfs directive on a type", `type Employee2 @edfs__natsSubscribe2 { id: Int }`,
			"events.graphql:1: unknown event directive @edfs__natsSubscribe2"},

		// Arguments.
		{"missing subjects", `type Subscription { e: Employee @edfs__natsSubscribe(providerId: "x") }`,
			`events.graphql:1: @edfs__natsSubscribe needs the argument "subjects"`},
		{"missing topic", `type Mutation { p: edfs__PublishResult! @edfs__kafkaPublish }`,
			`events.graphql:1: @edfs__kafkaPublish needs the argument "topic"`},
		{"wrong argument name", `type Subscription { e: Employee @edfs__natsSubscribe(subject: "e") }`,
			`events.graphql:1: @edfs__natsSubscribe has no argument "subject" (want subjects, providerId, streamConfiguration)`},
		{"stream configuration on kafka", `type Subscription { e: Employee @edfs__kafkaSubscribe(topics: ["e"], streamConfiguration: {consumerName: "c", streamName: "s"}) }`,
			`events.graphql:1: @edfs__kafkaSubscribe has no argument "streamConfiguration"`},
		{"duplicate argument", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], subjects: ["f"]) }`,
			`events.graphql:1: @edfs__natsSubscribe has argument "subjects" more than once`},
		{"empty subject list", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: []) }`,
			"events.graphql:1: @edfs__natsSubscribe(subjects:) must name at least one subject"},
		{"null subject list", `type Subscription { e: Employee @edfs__redisSubscribe(channels: null) }`,
			"events.graphql:1: @edfs__redisSubscribe(channels:) must name at least one channel"},
		{"empty subject", "type Subscription {\n e: Employee @edfs__natsSubscribe(subjects: [\"a\", \"\"]) }",
			"events.graphql:2: @edfs__natsSubscribe(subjects:) has an empty subject"},
		{"empty publish subject", `type Mutation { p: edfs__PublishResult! @edfs__natsPublish(subject: "") }`,
			"events.graphql:1: @edfs__natsPublish(subject:) has an empty subject"},
		{"empty topic", `type Subscription { e: Employee @edfs__kafkaSubscribe(topics: [""]) }`,
			"events.graphql:1: @edfs__kafkaSubscribe(topics:) has an empty topic"},
		{"subject not a string", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: [1]) }`,
			"events.graphql:1: @edfs__natsSubscribe(subjects:) must hold strings, not an integer"},
		{"subject from a variable", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: [$s]) }`,
			"events.graphql:1: @edfs__natsSubscribe(subjects:) must hold strings, not a variable"},
		{"empty provider", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], providerId: "") }`,
			"events.graphql:1: @edfs__natsSubscribe(providerId:) must not be empty"},
		{"provider not a string", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], providerId: 1) }`,
			"events.graphql:1: @edfs__natsSubscribe(providerId:) must be a string, not an integer"},
		{"stream without consumer", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], streamConfiguration: {streamName: "s"}) }`,
			"events.graphql:1: @edfs__natsSubscribe(streamConfiguration:) needs consumerName"},
		{"stream without stream name", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], streamConfiguration: {consumerName: "c"}) }`,
			"events.graphql:1: @edfs__natsSubscribe(streamConfiguration:) needs streamName"},
		{"stream negative threshold", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], streamConfiguration: {consumerName: "c", streamName: "s", consumerInactiveThreshold: -1}) }`,
			"events.graphql:1: @edfs__natsSubscribe(streamConfiguration: {consumerInactiveThreshold}) must be between 0 and"},
		{"stream unknown field", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], streamConfiguration: {consumerName: "c", streamName: "s", durable: true}) }`,
			`events.graphql:1: @edfs__natsSubscribe(streamConfiguration:) has no field "durable"`},
		{"stream not an object", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"], streamConfiguration: "s") }`,
			"events.graphql:1: @edfs__natsSubscribe(streamConfiguration:) must be an object, not a string"},

		// Subject text.
		{"unclosed template", `type Subscription { e(id: Int!): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.id"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): template "e.{{ args.id" has "{{" without a matching "}}"`},
		{"template without args", `type Subscription { e(id: Int!): Employee @edfs__natsSubscribe(subjects: ["e.{{ id }}"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): template "e.{{ id }}": invalid placeholder`},
		{"template names a missing argument", `type Subscription { e(id: Int!): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.nope }}"]) }`,
			`events.graphql:1: subject "e.{{ args.nope }}" uses {{ args.nope }}, but Subscription.e has no argument "nope"`},
		{"template on a field without arguments", `type Mutation { p: edfs__PublishResult! @edfs__kafkaPublish(topic: "t-{{ args.id }}") }`,
			`events.graphql:1: topic "t-{{ args.id }}" uses {{ args.id }}, but Mutation.p has no argument "id"`},
		{"nested template names a missing input field", `type Mutation { p(input: UpdateEmployeeInput!): edfs__PublishResult! @edfs__natsPublish(subject: "e.{{ args.input.nope }}") }`,
			`events.graphql:1: subject "e.{{ args.input.nope }}" uses {{ args.input.nope }}, but input type UpdateEmployeeInput has no field "nope"`},
		{"nested template through a scalar", `type Subscription { e(id: Int!): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.id.x }}"]) }`,
			`events.graphql:1: subject "e.{{ args.id.x }}" uses {{ args.id.x }}, but args.id is of type Int, which is not an input object type of this subgraph`},
		{"nested template through a list", `type Subscription { e(input: [UpdateEmployeeInput!]): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.input.id }}"]) }`,
			`events.graphql:1: subject "e.{{ args.input.id }}" uses {{ args.input.id }}, but args.input is a list ([UpdateEmployeeInput!])`},
		{"template names an input object", `type Subscription { e(input: UpdateEmployeeInput!): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.input }}"]) }`,
			`events.graphql:1: subject "e.{{ args.input }}" uses {{ args.input }}, which is an input object (UpdateEmployeeInput!)`},
		{"template names a list", `type Subscription { e(ids: [Int!]!): Employee @edfs__natsSubscribe(subjects: ["e.{{ args.ids }}"]) }`,
			`events.graphql:1: subject "e.{{ args.ids }}" uses {{ args.ids }}, which is a list ([Int!]!)`},
		{"template names a nested list", `type Mutation { p(input: UpdateEmployeeInput!): edfs__PublishResult! @edfs__natsPublish(subject: "e.{{ args.input.tags }}") }`,
			`events.graphql:1: subject "e.{{ args.input.tags }}" uses {{ args.input.tags }}, which is a list`},
		{"nats publish to a wildcard", `type Mutation { p: edfs__PublishResult! @edfs__natsPublish(subject: "e.*") }`,
			`events.graphql:1: @edfs__natsPublish(subject:): subject "e.*" contains a wildcard ('*' or '>'), which only subscriptions may use`},
		{"nats request to a wildcard", `type Query { r: Employee @edfs__natsRequest(subject: "e.>") }`,
			`events.graphql:1: @edfs__natsRequest(subject:): subject "e.>" contains a wildcard`},
		{"nats empty token", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e..f"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): subject "e..f" has an empty token`},
		{"nats gt not last", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e.>.f"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): subject "e.>.f" has '>' before the last token`},
		{"nats wildcard inside a token", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e.a*"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): subject "e.a*" has a wildcard inside a token`},
		{"nats whitespace", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e f"]) }`,
			`events.graphql:1: @edfs__natsSubscribe(subjects:): subject "e f" contains whitespace`},
		{"kafka bad topic", `type Subscription { e: Employee @edfs__kafkaSubscribe(topics: ["a/b"]) }`,
			`events.graphql:1: @edfs__kafkaSubscribe(topics:): topic "a/b" contains '/'`},

		// Return types.
		{"publish returns Boolean", `type Mutation { p: Boolean! @edfs__natsPublish(subject: "e") }`,
			"events.graphql:1: Mutation.p uses @edfs__natsPublish and must return edfs__PublishResult!, not Boolean!"},
		{"publish returns nullable result", `type Mutation { p: edfs__PublishResult @edfs__kafkaPublish(topic: "e") }`,
			"events.graphql:1: Mutation.p uses @edfs__kafkaPublish and must return edfs__PublishResult!, not edfs__PublishResult"},
		{"publish returns a list", `type Mutation { p: [edfs__PublishResult!]! @edfs__redisPublish(channel: "e") }`,
			"events.graphql:1: Mutation.p uses @edfs__redisPublish and must return edfs__PublishResult!, not [edfs__PublishResult!]!"},
		{"subscribe returns a scalar", `type Subscription { e: String @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__natsSubscribe and returns String: String is a scalar or enum"},
		{"subscribe returns an enum", `type Subscription { e: [Color] @edfs__kafkaSubscribe(topics: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__kafkaSubscribe and returns [Color]: Color is a scalar or enum"},
		{"subscribe returns a plain object", `type Subscription { e: Address @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__natsSubscribe and returns Address: Address has no @key"},
		{"subscribe returns a mixed union", `type Subscription { e: Mixed @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__natsSubscribe and returns Mixed: union Mixed has members that are not entities (Address)"},
		{"subscribe returns an interface of non-entities", `type Subscription { e: Named @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__natsSubscribe and returns Named: interface Named is implemented by types that are not entities (Pet)"},
		{"subscribe returns an undefined type", `type Subscription { e: Ghost! @edfs__natsSubscribe(subjects: ["e"]) }`,
			"events.graphql:1: Subscription.e uses @edfs__natsSubscribe and returns Ghost!: type Ghost is not defined in this subgraph"},
		{"request returns an input", `type Query { r: UpdateEmployeeInput @edfs__natsRequest(subject: "e") }`,
			"events.graphql:1: Query.r uses @edfs__natsRequest and returns UpdateEmployeeInput: UpdateEmployeeInput is an input type"},

		// Subscription filter.
		{"filter without subscribe", `type Subscription { e: Employee @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1]}}) }`,
			"events.graphql:1: @openfed__subscriptionFilter on Subscription.e needs a subscribe directive on the same field"},
		{"filter on a publish field", `type Mutation { p: edfs__PublishResult! @edfs__natsPublish(subject: "e") @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1]}}) }`,
			"events.graphql:1: @openfed__subscriptionFilter on Mutation.p needs a subscribe directive on the same field"},
		{"filter on a type", `type Employee2 @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1]}}) { id: Int }`,
			"events.graphql:1: @openfed__subscriptionFilter is only allowed on fields of type Subscription that have a subscribe directive"},
		{"filter twice", "type Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"e\"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: \"id\", values: [1]}})\n @openfed__subscriptionFilter(condition: {IN: {fieldPath: \"id\", values: [2]}}) }",
			"events.graphql:2: Subscription.e has @openfed__subscriptionFilter more than once"},
		{"filter without condition", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter }`,
			`events.graphql:1: @openfed__subscriptionFilter needs the argument "condition"`},
		{"filter with two operators", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1]}, NOT: {IN: {fieldPath: "id", values: [2]}}}) }`,
			"events.graphql:1: subscription filter condition must set exactly one of AND, OR, NOT, IN (it sets 2)"},
		{"filter with no operator", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {}) }`,
			"events.graphql:1: subscription filter condition must set exactly one of AND, OR, NOT, IN (it sets 0)"},
		{"filter unknown operator", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {EQ: {fieldPath: "id", values: [1]}}) }`,
			`events.graphql:1: subscription filter condition has no field "EQ" (want AND, OR, NOT or IN)`},
		{"filter condition not an object", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: "id") }`,
			"events.graphql:1: subscription filter condition must be an object with one of AND, OR, NOT, IN, not a string"},
		{"filter empty AND", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {AND: []}) }`,
			"events.graphql:1: subscription filter condition AND must hold at least one condition"},
		{"filter bad nested condition", "type Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"e\"]) @openfed__subscriptionFilter(condition: {OR: [\n{IN: {fieldPath: \"id\", values: [1]}},\n {NOT: 1}]}) }",
			"events.graphql:3: subscription filter condition must be an object with one of AND, OR, NOT, IN, not an integer"},
		{"filter empty fieldPath", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "", values: [1]}}) }`,
			`events.graphql:1: subscription filter IN fieldPath "" must be field names joined by dots`},
		{"filter fieldPath with empty segment", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "a..b", values: [1]}}) }`,
			`events.graphql:1: subscription filter IN fieldPath "a..b" must be field names joined by dots`},
		{"filter missing fieldPath", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {values: [1]}}) }`,
			"events.graphql:1: subscription filter IN needs fieldPath"},
		{"filter missing values", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id"}}) }`,
			"events.graphql:1: subscription filter IN needs values"},
		{"filter empty values", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: []}}) }`,
			"events.graphql:1: subscription filter IN values must hold at least one value"},
		{"filter enum value", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [RED]}}) }`,
			"events.graphql:1: subscription filter values must be strings, numbers, booleans or null, not an enum value"},
		{"filter object value", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [{a: 1}]}}) }`,
			"events.graphql:1: subscription filter values must be strings, numbers, booleans or null, not an object"},
		{"filter unknown IN field", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1], op: "eq"}}) }`,
			`events.graphql:1: subscription filter IN has no field "op"`},
		{"filter template names a missing argument", `type Subscription { e(ids: [Int!]): Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: ["{{ args.id }}"]}}) }`,
			`events.graphql:1: subscription filter value "{{ args.id }}" uses {{ args.id }}, but Subscription.e has no argument "id"`},
		{"filter malformed template", `type Subscription { e(ids: [Int!]): Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: ["{{ args.ids"]}}) }`,
			`events.graphql:1: subscription filter value: template "{{ args.ids" has "{{" without a matching "}}"`},
		{"filter unknown argument", `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {IN: {fieldPath: "id", values: [1]}}, when: true) }`,
			`events.graphql:1: @openfed__subscriptionFilter has no argument "when" (want condition)`},

		// Syntax.
		{"syntax error", "type Subscription {\n e: Employee @edfs__natsSubscribe(subjects: [\"e\"]\n}",
			"events.graphql:3: syntax error:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse(Source{Subgraph: "events", File: "events.graphql", SDL: tt.sdl + "\n" + validationTypes})
			assertHasError(t, err, tt.want)
		})
	}
}

func TestParse_EventSubgraphKeysMustBeExternalAndUnresolvable(t *testing.T) {
	tests := []struct {
		name string
		sdl  string
		want string
	}{
		{"key without resolvable", `type Employee @key(fields: "id") { id: Int! @external }`,
			`events.graphql:2: @key(fields: "id") on Employee must set resolvable: false: an event subgraph has no server to resolve entities from`},
		{"key resolvable true", `type Employee @key(fields: "id", resolvable: true) { id: Int! @external }`,
			`events.graphql:2: @key(fields: "id") on Employee must set resolvable: false`},
		{"key field not external", "type Employee @key(fields: \"id\", resolvable: false) {\n  id: Int!\n}",
			"events.graphql:3: key field Employee.id must be @external in an event subgraph"},
		{"second key field not external", "type Employee @key(fields: \"id org\", resolvable: false) {\n  id: Int! @external\n  org: Int!\n}",
			"events.graphql:4: key field Employee.org must be @external in an event subgraph"},
		{"key names a missing field", `type Employee @key(fields: "uuid", resolvable: false) { id: Int! @external }`,
			`events.graphql:2: @key(fields: "uuid") on Employee names field "uuid", which Employee does not define`},
		{"nested key names a missing field", "type Employee @key(fields: \"org { nope }\", resolvable: false) { id: Int! @external org: Org! @external }\ntype Org { id: Int! }",
			`events.graphql:2: @key(fields: "org { nope }") on Employee names field Org.nope, which is not defined`},
		{"key with bad field set", `type Employee @key(fields: "id(x: 1)", resolvable: false) { id: Int! @external }`,
			`events.graphql:2: @key(fields: "id(x: 1)") on Employee: unsupported '(' in the field set`},
		{"key without fields", `type Employee @key(resolvable: false) { id: Int! @external }`,
			`events.graphql:2: @key on Employee needs fields: a string such as "id"`},
		{"key on an entity the events do not return", "type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\ntype Other @key(fields: \"id\") { id: ID! @external }",
			`events.graphql:3: @key(fields: "id") on Other must set resolvable: false`},
		{"key on an extension", "type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\nextend type Employee @key(fields: \"name\") { name: String! @external }",
			`events.graphql:3: @key(fields: "name") on Employee must set resolvable: false`},
		{"key on an interface", "type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\ninterface Node @key(fields: \"id\", resolvable: false) { id: ID! }",
			"events.graphql:3: key field Node.id must be @external in an event subgraph"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sdl := "type Subscription { e: Employee! @edfs__natsSubscribe(subjects: [\"e\"]) }\n" + tt.sdl + "\n"
			_, err := Parse(Source{Subgraph: "events", File: "events.graphql", SDL: sdl})
			assertHasError(t, err, tt.want)
		})
	}
}

func TestParse_AcceptsEntityShapesOfEventFields(t *testing.T) {
	for _, ret := range []string{"Employee", "Employee!", "[Employee!]!", "Entities", "[Entities]", "Node", "Node!"} {
		t.Run(ret, func(t *testing.T) {
			sdl := "type Subscription { e: " + ret + " @edfs__natsSubscribe(subjects: [\"e\"]) }\ntype Query { r: " + ret +
				" @edfs__natsRequest(subject: \"r\") }\n" + validationTypes
			mustParse(t, sdl)
		})
	}
	t.Run("type-level external and Federation v1 extension", func(t *testing.T) {
		sdl := `type Subscription { e: Employee @edfs__kafkaSubscribe(topics: ["e"]) }
extend type Employee @key(fields: "id org { id }", resolvable: false) @external { id: Int! org: Org! }
type Org { id: Int! }
`
		mustParse(t, sdl)
	})
}

func TestParse_KeysOfSubgraphsWithoutEventsAreNotChecked(t *testing.T) {
	mustParse(t, `type Query { e: Employee } type Employee @key(fields: "id") { id: Int! }`)
}

func TestParse_ReportsEveryProblemInLineOrder(t *testing.T) {
	sdl := `type Subscription {
  a: Employee @edfs__natsSubscribe(subjects: [])
  b: String @edfs__kafkaSubscribe(topics: ["t"])
}
type Mutation {
  c: Boolean @edfs__natsPublish(subject: "x")
}
type Employee @key(fields: "id") { id: Int! }
`
	_, err := Parse(Source{Subgraph: "events", File: "ev.graphql", SDL: sdl})
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error %T is not Errors: %v", err, err)
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.File+":"+strconv.Itoa(e.Line))
	}
	want := []string{"ev.graphql:2", "ev.graphql:3", "ev.graphql:6", "ev.graphql:8", "ev.graphql:8"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("errors at %v, want %v:\n%v", got, want, err)
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		if !strings.HasPrefix(line, "ev.graphql:") {
			t.Errorf("line %q does not start with the file name", line)
		}
	}
}

func assertHasError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Parse succeeded, want an error %q", want)
	}
	// want is "FILE:LINE: text": a line must have that location and contain the text.
	loc, text, _ := strings.Cut(want, ": ")
	for _, line := range strings.Split(err.Error(), "\n") {
		if strings.HasPrefix(line, loc+": ") && strings.Contains(line, text) {
			return
		}
	}
	t.Fatalf("errors:\n%v\nwant a line at %s containing %q", err, loc, text)
}
