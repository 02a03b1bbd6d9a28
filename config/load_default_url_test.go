package config

import (
	"os"
	"testing"
)

func TestSubgraphSubscriptionURLDefaultsToTheRoutingURL(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/employees.graphql", []byte("type Query { a: Int }"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Parse(dir+"/edgate.yaml", []byte(`subgraphs:
  - name: employees
    routing_url: http://127.0.0.1:4001/graphql
    schema: { file: employees.graphql }
    subscription: { protocol: ws }
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Subgraphs[0].Subscription.URL; got != "" {
		t.Fatalf("url = %q, want empty (routing URL)", got)
	}
}
