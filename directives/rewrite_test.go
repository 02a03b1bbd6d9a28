package directives

import (
	"strings"
	"testing"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

// assertNoEventTraces parses sdl and fails if any event directive or event-only definition is left.
func assertNoEventTraces(t *testing.T, sdl string) *ast.Document {
	t.Helper()
	doc, report := astparser.ParseGraphqlDocumentString(sdl)
	if report.HasErrors() {
		t.Fatalf("rewritten SDL does not parse: %v\n%s", report.Error(), sdl)
	}
	for i := range doc.Directives {
		if name := doc.DirectiveNameString(i); strings.HasPrefix(name, "edfs__") || strings.HasPrefix(name, "openfed__") {
			t.Errorf("directive @%s left in the rewritten SDL", name)
		}
	}
	for _, n := range doc.RootNodes {
		name := doc.NodeNameString(n)
		if n.Kind == ast.NodeKindDirectiveDefinition && (strings.HasPrefix(name, "edfs__") || strings.HasPrefix(name, "openfed__")) {
			t.Errorf("directive definition @%s left in the rewritten SDL", name)
		}
		if name == "edfs__NatsStreamConfiguration" || strings.HasPrefix(name, "openfed__Subscription") {
			t.Errorf("definition %s left in the rewritten SDL", name)
		}
	}
	return &doc
}

func TestRewrite_ExampleBecomesAPlainFederationSubgraph(t *testing.T) {
	src := readTestdata(t, "employees_events.graphql")
	r := mustParse(t, src)
	doc := assertNoEventTraces(t, r.SDL)

	if !strings.Contains(r.SDL, federationLink) {
		t.Errorf("no Federation v2 link added:\n%s", r.SDL)
	}
	if got := strings.Count(r.SDL, "type edfs__PublishResult"); got != 1 {
		t.Errorf("edfs__PublishResult defined %d times", got)
	}
	if !strings.Contains(r.SDL, `type Employee @key(fields: "id", resolvable: false) { id: Int! @external }`) {
		t.Errorf("entity key not kept as written:\n%s", r.SDL)
	}
	if n := len(doc.ObjectTypeDefinitions); n != 5 {
		t.Errorf("%d object types after the rewrite, want 5", n)
	}

	// Every line keeps its number; lines without event directives are kept byte for byte.
	srcLines := strings.Split(src, "\n")
	outLines := strings.Split(r.SDL, "\n")
	for i, line := range srcLines {
		if strings.Contains(line, "@edfs__") {
			if !strings.HasPrefix(line, strings.TrimRight(outLines[i], " }")) {
				t.Errorf("line %d: %q is not a cut of %q", i+1, outLines[i], line)
			}
			continue
		}
		if outLines[i] != line {
			t.Errorf("line %d changed: %q, was %q", i+1, outLines[i], line)
		}
	}
	if outLines[0] != "type Query { employeeFromEvent(id: ID!): Employee! }" {
		t.Errorf("line 1 = %q", outLines[0])
	}
	if outLines[5] != "  employeeUpdatedMany(ids: [Int!]!): Employee!" {
		t.Errorf("line 6 = %q", outLines[5])
	}

	again := mustParse(t, r.SDL)
	if again.Events || len(again.Bindings) != 0 || again.SDL != r.SDL {
		t.Errorf("the rewritten SDL is still an event subgraph or changes again: events=%v", again.Events)
	}
}

func TestRewrite_DeclaredDefinitionsAreRemovedWithTheirDescriptions(t *testing.T) {
	base := readTestdata(t, "employees_events.graphql")
	omitted := mustParse(t, base)
	declared := mustParse(t, base+eventDefinitions)
	assertNoEventTraces(t, declared.SDL)
	if strings.Contains(declared.SDL, "Filters the events") || strings.Contains(declared.SDL, "a filter value") {
		t.Errorf("description of a removed definition left:\n%s", declared.SDL)
	}
	if nonBlank(declared.SDL) != nonBlank(omitted.SDL) {
		t.Errorf("declared and omitted definitions give different SDLs:\n--- declared\n%s\n--- omitted\n%s", declared.SDL, omitted.SDL)
	}
	if got, want := strings.Count(declared.SDL, "\n"), strings.Count(base+eventDefinitions, "\n")+2; got != want {
		t.Errorf("rewritten SDL has %d lines, want %d (original plus the link)", got, want)
	}
	if !sameBindings(omitted.Bindings, declared.Bindings) {
		t.Errorf("declared definitions change the bindings")
	}
}

func sameBindings(a, b []Binding) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if filterString(a[i].Filter) != filterString(b[i].Filter) || a[i].FieldName != b[i].FieldName || len(a[i].Subjects) != len(b[i].Subjects) {
			return false
		}
	}
	return true
}

// nonBlank drops blank lines and trailing blanks, to compare SDLs whose cuts differ.
func nonBlank(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimRight(l, " \t\r"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestRewrite_CutsExactlyTheDirectiveText(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "multi-line directive keeps its line breaks",
			in:   "type Subscription {\n  e(id: Int!): Employee! @edfs__natsSubscribe(\n    subjects: [\"a.{{ args.id }}\"],\n    providerId: \"p\"\n  )\n  f: Int\n}\n",
			want: "type Subscription {\n  e(id: Int!): Employee!\n\n\n\n  f: Int\n}\n",
		},
		{
			name: "between other directives",
			in:   "type Subscription { e: Employee @deprecated(reason: \"x\") @edfs__kafkaSubscribe(topics: [\"t\"]) @tag(name: \"a\") }\n",
			want: "type Subscription { e: Employee @deprecated(reason: \"x\") @tag(name: \"a\") }\n",
		},
		{
			name: "no space after the directive",
			in:   "type Subscription { e: Employee @edfs__kafkaSubscribe(topics: [\"t\"])f: Int }\n",
			want: "type Subscription { e: Employee f: Int }\n",
		},
		{
			name: "parentheses and quotes inside strings",
			in:   "type Subscription { e: Employee @edfs__redisSubscribe(channels: [\"a)\\\"(\", \"\"\"b)\"\"\"]) g: Int }\n",
			want: "type Subscription { e: Employee g: Int }\n",
		},
		{
			name: "comments stay",
			in:   "# uses @edfs__natsSubscribe(subjects: [\"x\"])\ntype Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"a\"]) # subjects: a\n}\n",
			want: "# uses @edfs__natsSubscribe(subjects: [\"x\"])\ntype Subscription { e: Employee # subjects: a\n}\n",
		},
		{
			name: "filter and subscribe on their own lines",
			in:   "type Subscription {\n  e(ids: [Int]): Employee\n    @edfs__natsSubscribe(subjects: [\"a\"])\n    @openfed__subscriptionFilter(condition: {IN: {fieldPath: \"id\", values: [\"{{ args.ids }}\"]}})\n}\n",
			want: "type Subscription {\n  e(ids: [Int]): Employee\n\n\n}\n",
		},
		{
			name: "CRLF line endings",
			in:   "type Subscription {\r\n  e: Employee @edfs__natsSubscribe(subjects: [\"a\"],\r\n providerId: \"x\")\r\n}\r\n",
			want: "type Subscription {\r\n  e: Employee\r\n\r\n}\r\n",
		},
	}
	const tail = "type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\n" +
		"extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@external\"])\n"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.in+tail)
			if r.SDL != tt.want+tail {
				t.Fatalf("rewritten SDL:\n%q\nwant:\n%q", r.SDL, tt.want+tail)
			}
			assertNoEventTraces(t, r.SDL)
		})
	}
}

func TestRewrite_AddsPublishResultOnlyWhenAPublishFieldNeedsIt(t *testing.T) {
	const entity = "type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\n"
	publish := "type Mutation { p: edfs__PublishResult! @edfs__natsPublish(subject: \"a\") }\n" + entity
	r := mustParse(t, publish)
	if got := strings.Count(r.SDL, "type edfs__PublishResult {\n  success: Boolean!\n}"); got != 1 {
		t.Errorf("edfs__PublishResult added %d times:\n%s", got, r.SDL)
	}
	assertNoEventTraces(t, r.SDL)

	r = mustParse(t, publish+"type edfs__PublishResult { success: Boolean! }\n")
	if got := strings.Count(r.SDL, "edfs__PublishResult {"); got != 1 {
		t.Errorf("edfs__PublishResult defined %d times:\n%s", got, r.SDL)
	}

	r = mustParse(t, "type Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"a\"]) }\n"+entity)
	if strings.Contains(r.SDL, "edfs__PublishResult") {
		t.Errorf("edfs__PublishResult added without a publish field:\n%s", r.SDL)
	}
}

func TestRewrite_AddsTheFederationLinkOnlyWhenMissing(t *testing.T) {
	const fields = "type Subscription { e: Employee @edfs__natsSubscribe(subjects: [\"a\"]) }\n" +
		"type Employee @key(fields: \"id\", resolvable: false) { id: Int! @external }\n"
	tests := []struct {
		name    string
		sdl     string
		addLink bool
	}{
		{"no link", fields, true},
		{"v2 link on a schema extension", "extend schema @link(url: \"https://specs.apollo.dev/federation/v2.0\", import: [\"@key\", \"@external\"])\n" + fields, false},
		{"v2 link on the schema definition", "schema @link(url: \"https://specs.apollo.dev/federation/v2.7\", import: [\"@key\"]) { subscription: Subscription }\n" + fields, false},
		{"only another link", "extend schema @link(url: \"https://specs.apollo.dev/link/v1.0\")\n" + fields, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := mustParse(t, tt.sdl)
			if got := strings.Contains(r.SDL, federationLink); got != tt.addLink {
				t.Fatalf("link added = %v, want %v:\n%s", got, tt.addLink, r.SDL)
			}
			assertNoEventTraces(t, r.SDL)
		})
	}
}

func TestRewrite_KeepsOpenfedTypesOthersStillUse(t *testing.T) {
	sdl := `type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["a"], streamConfiguration: {consumerName: "c", streamName: "s"}) }
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
directive @key(fields: openfed__FieldSet!, resolvable: Boolean = true) repeatable on OBJECT | INTERFACE
scalar openfed__FieldSet
scalar openfed__Unused
input openfed__UnusedInput { a: Int }
input edfs__NatsStreamConfiguration { consumerName: String! streamName: String! consumerInactiveThreshold: Int! = 30 }
`
	r := mustParse(t, sdl)
	if !strings.Contains(r.SDL, "scalar openfed__FieldSet") {
		t.Errorf("openfed__FieldSet removed although @key uses it:\n%s", r.SDL)
	}
	for _, gone := range []string{"openfed__Unused", "openfed__UnusedInput", "edfs__NatsStreamConfiguration"} {
		if strings.Contains(r.SDL, gone) {
			t.Errorf("%s left in:\n%s", gone, r.SDL)
		}
	}
	assertNoEventTraces(t, r.SDL)
}

func TestRewrite_SubgraphWithoutEventsIsUnchanged(t *testing.T) {
	sdls := []string{
		"type Query { a: Int }",
		"\ufeff# comment @edfs__natsSubscribe\r\ntype Query {\r\n  \"\"\"doc\"\"\"\r\n  employees: [Employee!]! @deprecated\r\n}\r\n\r\ntype Employee @key(fields: \"id\") {\r\n  id: Int!\r\n}",
		"extend schema @link(url: \"https://specs.apollo.dev/federation/v2.3\", import: [\"@key\", \"@shareable\"])\n\ntype Query {\n  employee(id: ID!): Employee\n}\n\ntype Employee @key(fields: \"id\") {\n  id: ID!\n  name: String! @shareable\n}\n",
	}
	for _, sdl := range sdls {
		r := mustParse(t, sdl)
		if r.Events || r.SDL != sdl {
			t.Errorf("non-event SDL changed (events=%v):\n%q\nwas\n%q", r.Events, r.SDL, sdl)
		}
	}
}
