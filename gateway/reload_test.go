package gateway

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestGateway_ReloadKeepsValidSubscriptionsAndEndsInvalidOnes(t *testing.T) {
	g := startGateway(t)
	dir := filepath.Dir(g.cfg.Path)
	keep := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	drop := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id updatedAt } }`, "")
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })

	// The employees subgraph drops updatedAt.
	sdl := strings.Replace(g.employees.SDL, "  updatedAt: String\n", "", 1)
	if sdl == g.employees.SDL {
		t.Fatal("test SDL did not change")
	}
	if err := os.WriteFile(filepath.Join(dir, "employees.graphql"), []byte(sdl), 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := g.Reload(context.Background())
	if err != nil {
		t.Fatalf("reload: %v", err)
	}
	if res.Kept != 1 || res.Ended != 1 {
		t.Fatalf("reload result %+v, want 1 kept and 1 ended", res)
	}
	if got := drop.next(t); !strings.Contains(got, `"errors"`) || !strings.Contains(got, "updatedAt") {
		t.Fatalf("invalid subscription got %s", got)
	}
	if got := drop.next(t); !strings.Contains(got, "SCHEMA_RELOAD") {
		t.Fatalf("invalid subscription end: %s", got)
	}

	// The kept subscription stays on its broker consumer; a new one for the same subject
	// (on the new engine) shares it.
	fresh := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id name } }`, "")
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })
	if n := g.natsSubscriptions(t); n != 1 {
		t.Fatalf("%d NATS subscriptions after reload, want 1", n)
	}
	g.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	want := `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`
	if got := keep.next(t); got != want {
		t.Fatalf("kept subscription got %s", got)
	}
	if got := fresh.next(t); got != want {
		t.Fatalf("new subscription got %s", got)
	}
	if got := g.post(t, `{ employee(id: 1) { updatedAt } }`, ""); !strings.Contains(got, `"errors"`) {
		t.Fatalf("new schema not in use: %s", got)
	}

	// The old engine stops once its last subscription ends.
	if n := g.engines.Engines(); n != 2 {
		t.Fatalf("%d engines, want 2 while the kept subscription runs", n)
	}
	keep.close()
	drop.close()
	eventually(t, "the old engine to stop", func() bool { return g.engines.Engines() == 1 })
}

func TestGateway_FailedReloadKeepsTheRunningConfiguration(t *testing.T) {
	g := startGateway(t)
	dir := filepath.Dir(g.cfg.Path)
	orig, err := os.ReadFile(g.cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 2) { name } }`, "")
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })

	for _, tc := range []struct {
		name, config, want string
	}{
		{"bad yaml", "listen_addr: [\n", "edgate.yaml:"},
		{"restart required", strings.Replace(string(orig), "listen_addr: 127.0.0.1:0", "listen_addr: 127.0.0.1:1", 1), "listen_addr changed"},
	} {
		if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), []byte(tc.config), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := g.Reload(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
	// A composition error in a schema file.
	if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), orig, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "employees.graphql"), []byte("type Query { employee(id: Int!): Employee }\ntype Employee @key(fields: \"id\") { id: String! }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := g.Reload(context.Background()); err == nil || !strings.Contains(err.Error(), "composition") {
		t.Fatalf("composition error: err = %v", err)
	}
	if n := g.engines.Engines(); n != 1 {
		t.Fatalf("%d engines after failed reloads, want 1", n)
	}
	g.publish(t, "employeeUpdated.2", `{"__typename":"Employee","id":2}`)
	if got := c.next(t); got != `{"data":{"employeeUpdated":{"name":"Bilal Khan"}}}` {
		t.Fatalf("after failed reloads: %s", got)
	}
}
