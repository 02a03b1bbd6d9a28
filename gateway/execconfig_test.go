package gateway

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/testkit/demo"
)

// TestGateway_CosmoExecutionConfig runs the gateway from the output of Cosmo's
// `wgc router compose` (testdata/execconfig) instead of subgraph SDLs.
func TestGateway_CosmoExecutionConfig(t *testing.T) {
	employees := demo.Employees()
	srv := httptest.NewServer(employees.Handler())
	t.Cleanup(srv.Close)
	raw, err := os.ReadFile("testdata/execconfig/config.json")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	routerConfig := strings.ReplaceAll(string(raw), "http://employees.invalid/graphql", srv.URL)
	if err := os.WriteFile(filepath.Join(dir, "router.json"), []byte(routerConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cfgText := "listen_addr: 127.0.0.1:0\nexecution_config_file: router.json\nevents: { providers: { nats: [ { id: default } ] } }\nembedded_nats: { listen: \"127.0.0.1:0\", jetstream: false }\n"
	if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), []byte(cfgText), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(filepath.Join(dir, "edgate.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	gw := serveGateway(t, cfg, zerolog.Nop())
	nc, err := nats.Connect(gw.Embedded().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()

	c := subscribeSSE(t, gw.URL(), `subscription { employeeUpdated(id: 3) { id name role } }`, "")
	eventually(t, "subscription", func() bool { return gw.Registry().Consumers() == 1 && gw.stats.Subscribers.Load() >= 1 })
	if err := nc.Publish("employeeUpdated.3", []byte(`{"__typename":"Employee","id":3}`)); err != nil {
		t.Fatal(err)
	}
	if got, want := c.next(t), `{"data":{"employeeUpdated":{"id":3,"name":"Chen Wei","role":"Frontend Engineer"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}

	resp, err := http.Get(gw.URL() + "?query=" + url.QueryEscape(`{ employees { id } }`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET query status %d", resp.StatusCode)
	}
}
