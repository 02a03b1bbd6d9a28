package config

import (
	"testing"
	"time"
)

func TestLoad_ExpandsEnvironmentInValues(t *testing.T) {
	t.Setenv("EDGATE_NATS_URL", "nats://10.0.0.1:4222")
	t.Setenv("EDGATE_QUEUE", "64")
	t.Setenv("EDGATE_WS", "false")
	t.Setenv("EDGATE_EMPTY", "")
	t.Setenv("EDGATE_SUB", "a")
	c := mustLoad(t, `subgraphs:
  - name: ${EDGATE_SUB}
    schema: { file: "${EDGATE_SUB}.graphql" }
events:
  providers:
    nats:
      - id: default
        url: ${EDGATE_NATS_URL}
        password: "pa$$word$x"
        user: "${EDGATE_USER:-admin}"
subscriptions:
  queue_size: ${EDGATE_QUEUE}
websocket: { enabled: "${EDGATE_WS}" }
listen_addr: ${EDGATE_EMPTY:-0.0.0.0:8080}
graphql_path: /${EDGATE_EMPTY}graphql
sse: { heartbeat_interval: "${EDGATE_HB:-2s}" }
shutdown_timeout: ${EDGATE_UNSET_TIMEOUT:-}
`, "a.graphql")
	if c.Subgraphs[0].Name != "a" {
		t.Errorf("name %q", c.Subgraphs[0].Name)
	}
	n := c.Events.Providers.NATS[0]
	if n.URL != "nats://10.0.0.1:4222" || n.Password != "pa$word$x" || n.User != "admin" {
		t.Errorf("nats: %+v", n)
	}
	if c.Subscriptions.QueueSize != 64 || c.WebSocket.Enabled {
		t.Errorf("typed values from env: queue %d, ws enabled %v", c.Subscriptions.QueueSize, c.WebSocket.Enabled)
	}
	if c.ListenAddr != "0.0.0.0:8080" || c.GraphQLPath != "/graphql" {
		t.Errorf("listen %q, path %q", c.ListenAddr, c.GraphQLPath)
	}
	if c.SSE.HeartbeatInterval != 2*time.Second {
		t.Errorf("heartbeat %v", c.SSE.HeartbeatInterval)
	}
	if c.ShutdownTimeout != 10*time.Second {
		t.Errorf("an expansion to nothing should keep the default, got %v", c.ShutdownTimeout)
	}
}

func TestLoad_DoesNotExpandKeys(t *testing.T) {
	t.Setenv("EDGATE_KEY", "listen_addr")
	_, err := load(t, "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n${EDGATE_KEY}: :1\n", "a.graphql")
	wantError(t, err, `edgate.yaml:2: unknown key "${EDGATE_KEY}" at the top level`)
}

func TestLoad_QuotedExpansionIsTypedToo(t *testing.T) {
	t.Setenv("EDGATE_QUEUE", "64")
	c := mustLoad(t, "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\nsubscriptions: { queue_size: \"${EDGATE_QUEUE}\" }\n", "a.graphql")
	if c.Subscriptions.QueueSize != 64 {
		t.Errorf("queue_size %d", c.Subscriptions.QueueSize)
	}
}

func TestLoad_ExplicitStringTagKeepsExpansionAString(t *testing.T) {
	t.Setenv("EDGATE_QUEUE", "64")
	_, err := load(t, "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\nsubscriptions:\n  queue_size: !!str ${EDGATE_QUEUE}\n", "a.graphql")
	wantError(t, err, `edgate.yaml:3: subscriptions.queue_size: expected an integer, found "64"`)
}

func TestLoad_EscapedDollarIsNotTyped(t *testing.T) {
	c := mustLoad(t, "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\nevents: { providers: { nats: [ { id: n, url: \"nats://h:1\", user: u, password: \"12$$\" } ] } }\n", "a.graphql")
	if got := c.Events.Providers.NATS[0].Password; got != "12$" {
		t.Errorf("password %q", got)
	}
}

func TestExpand(t *testing.T) {
	env := map[string]string{"A": "x", "EMPTY": ""}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	for in, want := range map[string]string{
		"${A}":            "x",
		"pre-${A}-post":   "pre-x-post",
		"${A}${A}":        "xx",
		"${B:-dflt}":      "dflt",
		"${EMPTY:-dflt}":  "dflt",
		"${A:-dflt}":      "x",
		"${B:-}":          "",
		"${EMPTY}":        "",
		"$$":              "$",
		"$${A}":           "${A}",
		"cost: $5":        "cost: $5",
		"end$":            "end$",
		"${B:-a:-b}":      "a:-b",
		"${B:-http://h/}": "http://h/",
	} {
		got, _, err := expand(in, lookup)
		if err != nil || got != want {
			t.Errorf("expand(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"${B}", "${A", "${}", "${A B}", "${:-x}"} {
		if got, _, err := expand(in, lookup); err == nil {
			t.Errorf("expand(%q) = %q, want an error", in, got)
		}
	}
}
