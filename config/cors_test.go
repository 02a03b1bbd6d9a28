package config

import (
	"os"
	"strings"
	"testing"
)

func TestCORSValidation(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/s.graphql", []byte("type Query { a: Int }"), 0o600); err != nil {
		t.Fatal(err)
	}
	base := "subgraphs: [ { name: a, routing_url: \"http://127.0.0.1:1/graphql\", schema: { file: s.graphql } } ]\n"
	for _, tc := range []struct{ yaml, want string }{
		{"cors: { allowed_origins: [\"https://app.example.com\", \"*\"] }\n", ""},
		{"cors: { allowed_origins: [\"*\"], allow_credentials: true }\n", `edgate.yaml:2: cors.allowed_origins "*" cannot be combined with allow_credentials`},
		{"cors: { allowed_origins: [\"app.example.com\"] }\n", `edgate.yaml:2: cors.allowed_origins entry "app.example.com" must be`},
		{"cors: { allowed_origins: [\"https://a.example.com/path\"] }\n", `must be "*" or an origin`},
	} {
		_, err := Parse(dir+"/edgate.yaml", []byte(base+tc.yaml))
		switch {
		case tc.want == "" && err != nil:
			t.Fatalf("%q: %v", tc.yaml, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Fatalf("%q: err = %v, want %q", tc.yaml, err, tc.want)
		}
	}
}
