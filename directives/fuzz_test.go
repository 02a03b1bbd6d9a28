package directives

import (
	"strings"
	"testing"
)

// FuzzTemplateRender: any template either fails to parse or renders any arguments without
// a panic, and an argument value can never add a wildcard or separator that the template's
// literal text does not have (a client cannot widen a subscription or publish elsewhere).
func FuzzTemplateRender(f *testing.F) {
	for _, s := range []struct{ template, args string }{
		{"employeeUpdated.{{ args.id }}", `{"id":1}`},
		{"a.{{args.input.id}}.{{ args.k }}", `{"input":{"id":"x"},"k":true}`},
		{"t-{{ args.s }}", `{"s":"a.b*>"}`},
		{"{{ args.s }}", `{"s":"a b"}`},
		{"x.{{ args.n }}", `{"n":1e400}`},
		{"{{", `{}`}, {"}}", `{}`}, {"{{ args. }}", `null`}, {"ch:{{ args.s }}", `{"s":"[a-z]?"}`},
	} {
		f.Add(s.template, []byte(s.args))
	}
	f.Fuzz(func(t *testing.T, template string, args []byte) {
		tpl, err := ParseTemplate(template)
		if err != nil {
			return
		}
		var literal strings.Builder
		for _, p := range tpl.parts {
			literal.WriteString(p.text)
		}
		for _, b := range []struct {
			broker  Broker
			special string
		}{
			{NATS, ".*> \t\r\n"},
			{Redis, "*?[]\\ \t\r\n"},
		} {
			out, err := tpl.Render(b.broker, args)
			if err != nil || !tpl.HasArguments() {
				continue
			}
			for _, c := range b.special {
				if strings.Count(out, string(c)) > strings.Count(literal.String(), string(c)) {
					t.Fatalf("%s: %q with %s rendered %q: an argument added %q", b.broker, template, args, out, c)
				}
			}
		}
		_, _ = tpl.Render(Kafka, args)
	})
}
