package directives

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseTemplate_AcceptsWellFormedPlaceholders(t *testing.T) {
	tests := []struct {
		in    string
		paths [][]string
	}{
		{in: "employees", paths: nil},
		{in: "employeeUpdated.{{ args.id }}", paths: [][]string{{"id"}}},
		{in: "employeeUpdated.{{args.id}}", paths: [][]string{{"id"}}},
		{in: "e.{{  args.id\t}}.x", paths: [][]string{{"id"}}},
		{in: "e.{{ args.input.id }}", paths: [][]string{{"input", "id"}}},
		{in: "e.{{ args.a.b.c }}.{{ args._x1 }}", paths: [][]string{{"a", "b", "c"}, {"_x1"}}},
		{in: "{{ args.id }}{{ args.id }}", paths: [][]string{{"id"}, {"id"}}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			tpl, err := ParseTemplate(tt.in)
			if err != nil {
				t.Fatalf("ParseTemplate(%q): %v", tt.in, err)
			}
			if tpl.String() != tt.in {
				t.Errorf("String() = %q, want %q", tpl.String(), tt.in)
			}
			if got := tpl.ArgumentPaths(); !reflect.DeepEqual(got, tt.paths) {
				t.Errorf("ArgumentPaths() = %v, want %v", got, tt.paths)
			}
			if tpl.HasArguments() != (len(tt.paths) > 0) {
				t.Errorf("HasArguments() = %v", tpl.HasArguments())
			}
		})
	}
}

func TestParseTemplate_RejectsMalformedPlaceholders(t *testing.T) {
	tests := []struct{ in, want string }{
		{in: "e.{{ args.id", want: `"{{" without a matching "}}"`},
		{in: "e.args.id }}", want: `"}}" without a matching "{{"`},
		{in: "e.{{ id }}", want: "want {{ args.NAME }}"},
		{in: "e.{{ }}", want: "want {{ args.NAME }}"},
		{in: "e.{{ args. }}", want: "GraphQL name"},
		{in: "e.{{ args.a..b }}", want: "GraphQL name"},
		{in: "e.{{ args.1a }}", want: "GraphQL name"},
		{in: "e.{{ args.a-b }}", want: "GraphQL name"},
		{in: "e.{{ args.a b }}", want: "GraphQL name"},
		{in: "e.{{ {{ args.a }}", want: "want {{ args.NAME }}"},
		{in: "e.{{{ args.a }}}", want: "want {{ args.NAME }}"},
		{in: "e.{{ variables.a }}", want: "want {{ args.NAME }}"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseTemplate(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("ParseTemplate(%q) error = %v, want it to contain %q", tt.in, err, tt.want)
			}
		})
	}
}

func TestTemplate_ArgumentPathsReturnsCopies(t *testing.T) {
	tpl := mustTemplate(t, "e.{{ args.input.id }}")
	tpl.ArgumentPaths()[0][0] = "changed"
	if got := tpl.ArgumentPaths()[0][0]; got != "input" {
		t.Fatalf("template changed through ArgumentPaths: %q", got)
	}
}

func TestTemplate_RenderSubstitutesScalars(t *testing.T) {
	tests := []struct {
		name   string
		broker Broker
		tpl    string
		args   string
		want   string
	}{
		{name: "int", broker: NATS, tpl: "employeeUpdated.{{ args.id }}", args: `{"id":1}`, want: "employeeUpdated.1"},
		{name: "string unquoted", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"abc"}`, want: "e.abc"},
		{name: "bool", broker: NATS, tpl: "e.{{ args.on }}", args: `{"on":true}`, want: "e.true"},
		{name: "false", broker: Redis, tpl: "e.{{ args.on }}", args: `{"on":false}`, want: "e.false"},
		{name: "big number as written", broker: Kafka, tpl: "t-{{ args.n }}", args: `{"n":12345678901234567890}`, want: "t-12345678901234567890"},
		{name: "nested", broker: NATS, tpl: "e.{{ args.input.id }}", args: `{"input":{"id":"a"},"id":1}`, want: "e.a"},
		{name: "several", broker: NATS, tpl: "{{ args.a }}.{{ args.b }}", args: `{"a":"x","b":2}`, want: "x.2"},
		{name: "no placeholders ignores args", broker: NATS, tpl: "e.*", args: `not json`, want: "e.*"},
		{name: "unicode allowed", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"ü"}`, want: "e.ü"},
		{name: "kafka dot and dash", broker: Kafka, tpl: "t.{{ args.id }}", args: `{"id":"a.b-c_d"}`, want: "t.a.b-c_d"},
		{name: "redis dot", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"a.b"}`, want: "c.a.b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustTemplate(t, tt.tpl).Render(tt.broker, []byte(tt.args))
			if err != nil {
				t.Fatalf("Render: %v", err)
			}
			if got != tt.want {
				t.Fatalf("Render = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTemplate_RenderRejectsValuesThatChangeTheSubject(t *testing.T) {
	tests := []struct {
		name   string
		broker Broker
		tpl    string
		args   string
		want   string
	}{
		{name: "nats dot wildcard", broker: NATS, tpl: "employeeUpdated.{{ args.id }}", args: `{"id":"a.>"}`,
			want: `invalid value for argument "id" in subject "employeeUpdated.{{ args.id }}": "a.>" contains '.', which would change the subject`},
		{name: "nats star", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"*"}`,
			want: `invalid value for argument "id" in subject "e.{{ args.id }}": "*" contains '*', which would change the subject`},
		{name: "nats gt", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":">"}`, want: `">" contains '>'`},
		{name: "nats space", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"a b"}`,
			want: `invalid value for argument "id" in subject "e.{{ args.id }}": "a b" contains whitespace, which would change the subject`},
		{name: "nats tab", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"a\tb"}`, want: "contains whitespace"},
		{name: "nats newline", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"a\nb"}`, want: "contains whitespace"},
		{name: "nats empty", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":""}`,
			want: `invalid value for argument "id" in subject "e.{{ args.id }}": "" is empty, which would change the subject`},
		{name: "nats float has a dot", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":1.5}`, want: `"1.5" contains '.'`},
		{name: "nats control char", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":"a\u0000"}`, want: "control character"},
		{name: "nested nats", broker: NATS, tpl: "e.{{ args.input.id }}", args: `{"input":{"id":"a.b"}}`,
			want: `invalid value for argument "input.id" in subject`},
		{name: "redis star", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"a*"}`,
			want: `invalid value for argument "id" in channel "c.{{ args.id }}": "a*" contains '*', which would change the channel`},
		{name: "redis question", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"a?"}`, want: `contains '?'`},
		{name: "redis open bracket", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"[ab"}`, want: `contains '['`},
		{name: "redis close bracket", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"ab]"}`, want: `contains ']'`},
		{name: "redis backslash", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"a\\b"}`, want: `contains '\\'`},
		{name: "redis space", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":"a b"}`, want: "contains whitespace"},
		{name: "redis empty", broker: Redis, tpl: "c.{{ args.id }}", args: `{"id":""}`, want: "is empty"},
		{name: "kafka slash", broker: Kafka, tpl: "t.{{ args.id }}", args: `{"id":"a/b"}`,
			want: `invalid value for argument "id" in topic "t.{{ args.id }}": "a/b" contains '/', which is not allowed in a Kafka topic`},
		{name: "kafka star", broker: Kafka, tpl: "t.{{ args.id }}", args: `{"id":"*"}`, want: `contains '*'`},
		{name: "kafka empty", broker: Kafka, tpl: "t.{{ args.id }}", args: `{"id":""}`, want: "is empty"},
		{name: "kafka too long", broker: Kafka, tpl: "t.{{ args.id }}", args: `{"id":"` + strings.Repeat("a", 300) + `"}`, want: "more than Kafka's 249"},
		{name: "null", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":null}`, want: `argument "id" in subject "e.{{ args.id }}": null is not allowed`},
		{name: "missing", broker: NATS, tpl: "e.{{ args.id }}", args: `{"other":1}`, want: `argument "id" in subject "e.{{ args.id }}": the value is missing`},
		{name: "missing nested parent", broker: NATS, tpl: "e.{{ args.input.id }}", args: `{}`, want: `argument "input.id"`},
		{name: "nested through scalar", broker: NATS, tpl: "e.{{ args.input.id }}", args: `{"input":"x"}`, want: `"input" is not an object`},
		{name: "object", broker: NATS, tpl: "e.{{ args.input }}", args: `{"input":{"id":1}}`, want: "an object is not allowed"},
		{name: "list", broker: NATS, tpl: "e.{{ args.ids }}", args: `{"ids":[1,2]}`, want: "a list is not allowed"},
		{name: "args not json", broker: NATS, tpl: "e.{{ args.id }}", args: `{`, want: "not valid JSON"},
		{name: "args not object", broker: NATS, tpl: "e.{{ args.id }}", args: `[1]`, want: "not a JSON object"},
		{name: "args trailing data", broker: NATS, tpl: "e.{{ args.id }}", args: `{"id":1} {}`, want: "not a single JSON object"},
		{name: "no args", broker: NATS, tpl: "e.{{ args.id }}", args: ``, want: "the value is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := mustTemplate(t, tt.tpl).Render(tt.broker, []byte(tt.args))
			if err == nil {
				t.Fatalf("Render = %q, want an error containing %q", got, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Render error = %q, want it to contain %q", err, tt.want)
			}
			var re *RenderError
			if !errors.As(err, &re) {
				t.Fatalf("error %T is not a *RenderError", err)
			}
		})
	}
}

func TestTemplate_RenderRejectsUnknownBroker(t *testing.T) {
	if _, err := mustTemplate(t, "e").Render(Broker("mqtt"), nil); err == nil {
		t.Fatal("Render with an unknown broker succeeded")
	}
}

func TestBinding_RenderSubjectsRendersEverySubject(t *testing.T) {
	b := &Binding{Broker: NATS, Subjects: []Template{
		mustTemplate(t, "employeeUpdated.{{ args.id }}"),
		mustTemplate(t, "employeeDeleted.{{ args.id }}"),
		mustTemplate(t, "all.*"),
	}}
	got, err := b.RenderSubjects([]byte(`{"id":7}`))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"employeeUpdated.7", "employeeDeleted.7", "all.*"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("RenderSubjects = %v, want %v", got, want)
	}
	if _, err := b.RenderSubjects([]byte(`{"id":"x.y"}`)); err == nil {
		t.Fatal("RenderSubjects accepted a value with a '.'")
	}
}

func mustTemplate(t testing.TB, s string) Template {
	t.Helper()
	tpl, err := ParseTemplate(s)
	if err != nil {
		t.Fatalf("ParseTemplate(%q): %v", s, err)
	}
	return tpl
}
