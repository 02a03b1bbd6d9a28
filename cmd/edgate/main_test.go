package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

const okSubgraph = `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { employee(id: Int!): Employee }
type Employee @key(fields: "id") { id: Int! name: String! }
`

func TestStartupErrorsAreOneClearLine(t *testing.T) {
	cases := []struct {
		name  string
		files map[string]string
		want  []string
	}{
		{
			name:  "bad yaml",
			files: map[string]string{"edgate.yaml": "listen_addr: [\n"},
			want:  []string{"edgate.yaml:"},
		},
		{
			name:  "unknown key",
			files: map[string]string{"edgate.yaml": "listen_adr: 127.0.0.1:0\n"},
			want:  []string{"edgate.yaml:1:", `"listen_adr"`},
		},
		{
			name: "missing schema file",
			files: map[string]string{"edgate.yaml": `listen_addr: 127.0.0.1:0
subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:1/graphql
    schema: { file: nowhere.graphql }
`},
			want: []string{"edgate.yaml:5:", "nowhere.graphql"},
		},
		{
			name: "unknown provider id",
			files: map[string]string{
				"edgate.yaml": `listen_addr: 127.0.0.1:0
subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:1/graphql
    schema: { file: employees.graphql }
  - name: events
    schema: { file: events.graphql }
events:
  providers:
    nats: [ { id: default, url: "nats://127.0.0.1:1" } ]
`,
				"employees.graphql": okSubgraph,
				"events.graphql": `type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["e.{{ args.id }}"], providerId: "other")
}
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
`,
			},
			want: []string{"events.graphql:2:", `"other"`},
		},
		{
			name: "composition error",
			files: map[string]string{
				"edgate.yaml": `listen_addr: 127.0.0.1:0
subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:1/graphql
    schema: { file: employees.graphql }
  - name: other
    routing_url: http://127.0.0.1:2/graphql
    schema: { file: other.graphql }
`,
				"employees.graphql": okSubgraph,
				"other.graphql": `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key"])
type Query { other: Employee }
type Employee @key(fields: "id") { id: String! }
`,
			},
			want: []string{"composition", "Employee.id"},
		},
		{
			name: "bad directive",
			files: map[string]string{
				"edgate.yaml": `listen_addr: 127.0.0.1:0
subgraphs:
  - name: events
    schema: { file: events.graphql }
events:
  providers:
    nats: [ { id: default, url: "nats://127.0.0.1:1" } ]
`,
				"events.graphql": `type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["e.{{ args.nope }}"])
}
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
`,
			},
			want: []string{"events.graphql:2:", "nope"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := writeFiles(t, tc.files)
			var stderr bytes.Buffer
			err := run([]string{"-config", filepath.Join(dir, "edgate.yaml")}, &stderr)
			if err == nil {
				t.Fatal("start-up succeeded")
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Fatalf("error spans several lines:\n%s", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Fatalf("error %q lacks %q", msg, w)
				}
			}
		})
	}
}
