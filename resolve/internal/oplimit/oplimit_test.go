package oplimit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// defaults mirror edgate's configuration defaults.
var defaults = Limits{Tokens: 15000, Nesting: 128, Depth: 32, Fields: 500, Aliases: 100, RootFields: 64, Fragments: 200, DirectivesPerLocation: 10, Variables: 100}

func checkKey(t *testing.T, query string, l Limits) string {
	t.Helper()
	err := Check(query, l)
	if err == nil {
		return ""
	}
	var le *Error
	if errors.As(err, &le) {
		return le.Key
	}
	return "invalid: " + err.Error()
}

func TestCheck_Limits(t *testing.T) {
	deep := func(n int) string {
		return strings.Repeat("{ a ", n) + strings.Repeat("}", n)
	}
	cases := []struct {
		name  string
		query string
		l     Limits
		want  string
	}{
		{"small", `query Q($a: Int = 1 @x) @d { a(x: {y: [1, 2]}) @skip(if: true) { b c: d ...F ... on T { e } } } fragment F on T { f }`, defaults, ""},
		{"tokens", strings.Repeat("a ", 20), Limits{Tokens: 19}, KeyTokens},
		{"tokens at the limit", strings.Repeat("a ", 19), Limits{Tokens: 19}, ""},
		{"comments and commas are no tokens", "{ a,,,, # b c d e f g\n }", Limits{Tokens: 3}, ""},
		{"strings are one token", `{ a(x: "b c d e \" f", y: """ g "" h \""" """) }`, Limits{Tokens: 12}, ""},
		{"nesting in values", `{ a(x: ` + strings.Repeat("[", 10) + strings.Repeat("]", 10) + `) }`, Limits{Nesting: 10}, KeyNesting},
		{"nesting of inline fragments", "{" + strings.Repeat("... {", 10) + " a " + strings.Repeat("}", 11), Limits{Nesting: 10}, KeyNesting},
		{"depth", deep(4), Limits{Depth: 3}, KeyDepth},
		{"depth at the limit", deep(3), Limits{Depth: 3}, ""},
		{"inline fragments add no depth", "{ a { ... on T { b { ... { c } } } } }", Limits{Depth: 3}, ""},
		{"depth through fragments", "{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c { d } }", Limits{Depth: 3}, KeyDepth},
		{"depth through fragments at the limit", "{ a { ...F } } fragment F on T { b { ...G } } fragment G on T { c }", Limits{Depth: 3}, ""},
		{"fields", "{ " + strings.Repeat("a ", 6) + "}", Limits{Fields: 5}, KeyFields},
		{"fields count nested ones", "{ a { b { c } } d { e f } }", Limits{Fields: 5}, KeyFields},
		{"aliases are not fields twice", "{ a: b c: d e: f }", Limits{Fields: 3}, ""},
		{"aliases", "{ a: b c: d e: f }", Limits{Aliases: 2}, KeyAliases},
		{"arguments are no aliases", "{ a(b: 1, c: 2, d: 3) }", Limits{Aliases: 1}, ""},
		{"root fields", "{ a b c { d e f } }", Limits{RootFields: 2}, KeyRootFields},
		{"root fields at the limit", "{ a b { d e f } }", Limits{RootFields: 2}, ""},
		{"root fields through fragments", "{ a ...F } fragment F on Q { b c }", Limits{RootFields: 2}, KeyRootFields},
		{"root fields of inline fragments", "{ a ... on Q { b } }", Limits{RootFields: 1}, KeyRootFields},
		{"fragments", "{ ...A } fragment A on Q { a } fragment B on Q { a } fragment C on Q { a }", Limits{Fragments: 2}, KeyFragments},
		{"directives on a field", "{ a @a @b(x: 1) @c }", Limits{DirectivesPerLocation: 2}, KeyDirectivesPerLocation},
		{"directives on different fields", "{ a @a @b b @a @b }", Limits{DirectivesPerLocation: 2}, ""},
		{"directives on an operation", "query @a @b @c { a }", Limits{DirectivesPerLocation: 2}, KeyDirectivesPerLocation},
		{"directives on a variable", "query ($a: Int @a @b @c) { a }", Limits{DirectivesPerLocation: 2}, KeyDirectivesPerLocation},
		{"directives on variables", "query ($a: Int @a @b, $b: Int @a @b) { a }", Limits{DirectivesPerLocation: 2}, ""},
		{"directives on a spread", "{ ...F @a @b @c } fragment F on Q { a }", Limits{DirectivesPerLocation: 2}, KeyDirectivesPerLocation},
		{"variables", "query ($a: Int, $b: Int, $c: Int = 1) { a }", Limits{Variables: 2}, KeyVariables},
		{"variable uses are no definitions", "query ($a: Int) { a(x: $a, y: $a) @skip(if: $a) }", Limits{Variables: 1}, ""},
		{"operation directive arguments are no definitions", "query ($a: Boolean) @d(x: $a, y: $a) { a }", Limits{Variables: 1}, ""},
		{"fields through a doubling fragment chain", chain(40), defaults, KeyFields},
		{"fragment cycle", "{ ...A } fragment A on Q { a ...B } fragment B on Q { ...A }", defaults, `invalid: fragment "A" spreads itself`},
		{"duplicate fragment", "{ ...A } fragment A on Q { a } fragment A on Q { b }", defaults, `invalid: there can be only one fragment named "A"`},
		{"limits off", deep(200), Limits{}, ""},
		{"syntax errors are left to the parser", "{ a ) ] } } ..  \x00 \"unterminated", defaults, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := checkKey(t, c.query, c.l); got != c.want {
				t.Fatalf("Check(%q) = %q, want %q", trim(c.query), got, c.want)
			}
		})
	}
}

// chain is n fragments, each spreading the next twice: 2^n fields once inlined.
func chain(n int) string {
	var b strings.Builder
	b.WriteString("{ ...F0 }")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " fragment F%d on Q { a: b ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&b, " fragment F%d on Q { c }", n)
	return b.String()
}

func trim(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}

func TestCheck_ErrorNamesLimitAndPlace(t *testing.T) {
	err := Check("{\n  a @a @b @c\n}", Limits{DirectivesPerLocation: 2})
	var le *Error
	if !errors.As(err, &le) {
		t.Fatalf("err = %v", err)
	}
	if le.Code() != "MAX_DIRECTIVES_PER_LOCATION_EXCEEDED" || le.Maximum != 2 || le.Line != 2 || le.Column != 11 {
		t.Fatalf("error %+v code %s", le, le.Code())
	}
	if !strings.Contains(le.Message, "2") || !strings.Contains(le.Message, "limits.max_directives_per_location") {
		t.Fatalf("message %q", le.Message)
	}
}

// The introspection query GraphiQL sends stays well within the defaults.
func TestCheck_IntrospectionWithinDefaults(t *testing.T) {
	if err := Check(introspection, defaults); err != nil {
		t.Fatal(err)
	}
	s := scanner{src: introspection}
	if err := s.scan(); err != nil {
		t.Fatal(err)
	}
	e := expander{fragments: map[string]*definition{}, done: map[string]counts{}, active: map[string]bool{}}
	for _, d := range s.defs {
		if d.fragment {
			e.fragments[d.name] = d
		}
	}
	c, err := e.counts(s.defs[0])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("introspection: %d tokens, %d fields, depth %d", s.tokens, c.fields, c.depth)
	if c.fields < 100 || c.depth < 10 {
		t.Fatalf("counts %+v look wrong", c)
	}
}

const introspection = `
query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives {
      name description isRepeatable locations
      args(includeDeprecated: true) { ...InputValue }
    }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL isOneOf
  fields(includeDeprecated: true) {
    name description
    args(includeDeprecated: true) { ...InputValue }
    type { ...TypeRef }
    isDeprecated deprecationReason
  }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue {
  name description type { ...TypeRef } defaultValue isDeprecated deprecationReason
}
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name
    ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

func BenchmarkCheck_WideQuery(b *testing.B) {
	q := "{ " + strings.Repeat("a: b ", 200000) + "}"
	b.SetBytes(int64(len(q)))
	for b.Loop() {
		if Check(q, defaults) == nil {
			b.Fatal("accepted")
		}
	}
}
