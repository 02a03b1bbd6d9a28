package directives

import (
	"strings"
	"testing"
)

// FuzzParse: no SDL makes Parse panic, and whatever it accepts rewrites into an SDL that
// parses again as a subgraph without event directives.
func FuzzParse(f *testing.F) {
	f.Add(`type Subscription { e(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["e.{{ args.id }}"]) }
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }`)
	f.Add(`type Mutation { p: edfs__PublishResult! @edfs__kafkaPublish(topic: "t") }`)
	f.Add(`type Subscription { e: Employee @edfs__natsSubscribe(subjects: ["e"]) @openfed__subscriptionFilter(condition: {AND: [{IN: {fieldPath: "a.b", values: [1, "x", null]}}, {NOT: {OR: []}}]}) }`)
	f.Add(eventDefinitions)
	f.Add("\"\"\"d\"\"\"\r\nscalar openfed__X @a(b: \"c\")\ninput edfs__NatsStreamConfiguration { a: Int }")
	f.Fuzz(func(t *testing.T, sdl string) {
		r, err := Parse(Source{Subgraph: "fuzz", SDL: sdl})
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz:") {
				t.Fatalf("error without location: %v", err)
			}
			return
		}
		if !r.Events {
			return
		}
		again, err := Parse(Source{Subgraph: "fuzz", SDL: r.SDL})
		if err != nil {
			t.Fatalf("rewritten SDL does not parse: %v\n%q\nfrom\n%q", err, r.SDL, sdl)
		}
		if again.Events {
			t.Fatalf("rewritten SDL still has event directives:\n%q\nfrom\n%q", r.SDL, sdl)
		}
	})
}
