package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync/atomic"
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
			err := run([]string{"-config", filepath.Join(dir, "edgate.yaml")}, io.Discard, &stderr)
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

// TestMain lets a test run the real main, exit status included: the test binary re-runs
// itself with EDGATE_TEST_MAIN=1 and the arguments after "--".
func TestMain(m *testing.M) {
	if os.Getenv("EDGATE_TEST_MAIN") == "1" {
		for i, a := range os.Args {
			if a == "--" {
				os.Args = append([]string{"edgate"}, os.Args[i+1:]...)
				break
			}
		}
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// edgate runs main with args and returns its stdout, stderr and exit status.
func edgate(t *testing.T, args ...string) (stdout, stderr string, status int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), "EDGATE_TEST_MAIN=1")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		status = exit.ExitCode()
	case err != nil:
		t.Fatal(err)
	}
	return out.String(), errOut.String(), status
}

func TestHelpPrintsUsageAndSucceeds(t *testing.T) {
	for _, flag := range []string{"-h", "-help", "--help"} {
		stdout, stderr, status := edgate(t, flag)
		if status != 0 || stderr != "" {
			t.Fatalf("%s: status %d, stderr %q", flag, status, stderr)
		}
		for _, want := range []string{"Usage:", "-config", "-watch", "-print-schema", "-version", "EDGATE_PPROF"} {
			if !strings.Contains(stdout, want) {
				t.Fatalf("%s: usage lacks %q:\n%s", flag, want, stdout)
			}
		}
	}
}

func TestBadFlagPrintsUsageAndFails(t *testing.T) {
	stdout, stderr, status := edgate(t, "-nope")
	if status != 1 || stdout != "" || !strings.Contains(stderr, "Usage:") || !strings.Contains(stderr, "edgate: flag provided but not defined: -nope") {
		t.Fatalf("status %d\nstdout %q\nstderr %q", status, stdout, stderr)
	}
}

func TestVersionComesFromTheBuildInfo(t *testing.T) {
	stdout, stderr, status := edgate(t, "-version")
	if status != 0 || stderr != "" {
		t.Fatalf("status %d, stderr %q", status, stderr)
	}
	info, _ := debug.ReadBuildInfo()
	want := "edgate " + info.Main.Version + " (" + runtime.Version()
	if !strings.HasPrefix(stdout, want) || strings.Count(stdout, "\n") != 1 {
		t.Fatalf("got %q, want a line starting with %q", stdout, want)
	}
}

func TestPrintSchemaPrintsTheClientSchema(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"edgate.yaml": `subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:1/graphql
    schema: { file: employees.graphql }
  - name: events
    schema: { file: events.graphql }
`,
		"employees.graphql": okSubgraph,
		"events.graphql": `extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@external"])
type Mutation {
  "Publishes the new name."
  rename(id: Int!, name: String!): edfs__PublishResult! @edfs__natsPublish(subject: "renamed.{{ args.id }}")
}
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
type edfs__PublishResult { success: Boolean! }
`,
	})
	stdout, stderr, status := edgate(t, "-print-schema", "-config", filepath.Join(dir, "edgate.yaml"))
	if status != 0 {
		t.Fatalf("status %d, stderr %s", status, stderr)
	}
	for _, want := range []string{"type Query {", "employee(id: Int!): Employee", "type Mutation {", "Publishes the new name.", "rename(id: Int!, name: String!): edfs__PublishResult!", "type edfs__PublishResult {"} {
		if !strings.Contains(stdout, want) {
			t.Errorf("schema lacks %q:\n%s", want, stdout)
		}
	}
	for _, internal := range []string{"@authenticated", "openfed__", "@key", "edfs__nats"} {
		if strings.Contains(stdout, internal) {
			t.Errorf("schema has %q:\n%s", internal, stdout)
		}
	}
}

func TestHealthcheckExitsZeroOnlyWhenTheGatewayIsReady(t *testing.T) {
	var ready atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" || !ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	dir := writeFiles(t, map[string]string{
		// an unspecified host: the check asks 127.0.0.1
		"edgate.yaml": "listen_addr: 0.0.0.0:" + port + `
subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:1/graphql
    schema: { file: employees.graphql }
`,
		"employees.graphql": okSubgraph,
	})
	cfg := filepath.Join(dir, "edgate.yaml")
	if _, stderr, status := edgate(t, "-healthcheck", "-config", cfg); status != 1 || !strings.Contains(stderr, "503") {
		t.Fatalf("not ready: status %d, stderr %q", status, stderr)
	}
	ready.Store(true)
	if _, stderr, status := edgate(t, "-healthcheck", "-config", cfg); status != 0 {
		t.Fatalf("ready: status %d, stderr %q", status, stderr)
	}
	srv.Close()
	if _, _, status := edgate(t, "-healthcheck", "-config", cfg); status != 1 {
		t.Fatalf("nothing listening: status %d", status)
	}
}
