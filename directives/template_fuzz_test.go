package directives

import (
	"strings"
	"testing"
)

// FuzzParseTemplate: any input parses or fails without panicking, and a parsed template
// keeps its text and has exactly one path per placeholder.
func FuzzParseTemplate(f *testing.F) {
	for _, s := range []string{"", "a.b", "e.{{ args.id }}", "{{args.a.b}}.{{ args.c }}", "{{", "}}", "{{ args. }}", "{{{{}}}}", "x{{ args.a }}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		tpl, err := ParseTemplate(s)
		if err != nil {
			return
		}
		if tpl.String() != s {
			t.Fatalf("String() = %q, want %q", tpl.String(), s)
		}
		if got, want := len(tpl.ArgumentPaths()), strings.Count(s, "{{"); got != want {
			t.Fatalf("%q: %d paths for %d placeholders", s, got, want)
		}
	})
}

// FuzzRender: whatever the client sends, a rendered NATS subject keeps the structure of its
// template: the same number of tokens and no wildcard the template did not have.
func FuzzRender(f *testing.F) {
	for _, a := range []string{`{"id":1}`, `{"id":"a.>"}`, `{"id":"*"}`, `{"id":""}`, `{"id":null}`, `{"id":{"x":1}}`, `[]`, `{`, `{"id":"a b"}`, `{"id":"\u00a0"}`} {
		f.Add(a)
	}
	tpl, err := ParseTemplate("employee.{{ args.id }}.updated")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, args string) {
		for _, b := range []Broker{NATS, Kafka, Redis} {
			out, err := tpl.Render(b, []byte(args))
			if err != nil {
				continue
			}
			switch b {
			case NATS:
				if n := len(strings.Split(out, ".")); n != 3 || strings.ContainsAny(out, "*> \t\r\n") {
					t.Fatalf("NATS subject %q from %q changed structure (%d tokens)", out, args, n)
				}
			case Redis:
				if strings.ContainsAny(out, "*?[]\\ \t\r\n") {
					t.Fatalf("Redis channel %q from %q holds a glob character", out, args)
				}
			case Kafka:
				for _, r := range out {
					if !isKafkaTopicRune(r) {
						t.Fatalf("Kafka topic %q from %q holds %q", out, args, r)
					}
				}
			}
		}
	})
}
