package sse

import (
	"encoding/json"
	"strings"
	"testing"
)

var validJSONCases = []string{
	``, ` `, `{}`, `[]`, `{"a":1}`, `{"a":1,}`, `[1,]`, `[,1]`, `{"a" 1}`, `{"a":}`, `{,}`, `{"a":1 "b":2}`,
	`"x"`, `"\u00e9\n\"\\\/\b\f\r\t"`, `"\u00g0"`, `"\x"`, "\"a\tb\"", "\"a\x01\"", "\"\xff\xfe\"", `"abc`, `"\`, `"\u12`,
	`0`, `-0`, `01`, `-`, `1.`, `1.5`, `.5`, `1e5`, `1E+5`, `1e-5`, `1e`, `1e+`, `-1.5e10`, `2.`, `--1`,
	`true`, `tru`, `false`, `falsey`, `null`, `nul`, `nulll`, `true false`,
	` { "a" : [ 1 , { "b" : null } , "c" ] } `, `{"a":[1,{"b":null},"c"]}}`, `[[[]]]`, `[[[]]`, `]`, `}`, `{]`, `[}`,
	`{"query":"{ a }","variables":{"x":[1,2,{"y":true}]},"extensions":null}`,
	strings.Repeat("[", 10000) + strings.Repeat("]", 10000),
	strings.Repeat("[", 10001) + strings.Repeat("]", 10001),
	"\ufeff{}", `{"a":1}x`, `{"a":1}{}`, "1\n", "\n\r\t 1",
}

func TestValidJSON_AgreesWithEncodingJSON(t *testing.T) {
	for _, c := range validJSONCases {
		if got, want := validJSON([]byte(c)), json.Valid([]byte(c)); got != want {
			t.Errorf("validJSON(%.60q) = %v, json.Valid says %v", c, got, want)
		}
	}
}

func FuzzValidJSON(f *testing.F) {
	for _, c := range validJSONCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if got, want := validJSON(b), json.Valid(b); got != want {
			t.Fatalf("validJSON(%q) = %v, json.Valid says %v", b, got, want)
		}
	})
}

func BenchmarkValidJSON(b *testing.B) {
	body, _ := json.Marshal(map[string]string{"query": "{" + strings.Repeat(" a: employee(id: 1) { id }", 38000) + " }"})
	b.SetBytes(int64(len(body)))
	b.Run("validJSON", func(b *testing.B) {
		for b.Loop() {
			validJSON(body)
		}
	})
	b.Run("json.Valid", func(b *testing.B) {
		for b.Loop() {
			json.Valid(body)
		}
	})
}
