package oplimit

import (
	"errors"
	"testing"
)

// FuzzCheck: any text is scanned to the end or to a limit without panicking, and without
// limits no limit error can come out.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		"{ a }", introspection, chain(5),
		`query Q($a: [In!] = [{x: "\"}"}] @d) @o { a: b(x: $a) @s ... on T { c } ...F } fragment F on T { d }`,
		`{ a(s: """ block \""" { """) }`, "{ ... { ... on", "}}}{{{", "\"\\", "-1.5e+3 @ $ ! = | &",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, query string) {
		_ = Check(query, defaults)
		var le *Error
		if err := Check(query, Limits{}); errors.As(err, &le) {
			t.Fatalf("no limits, yet %v", err)
		}
	})
}
