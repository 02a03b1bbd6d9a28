package config

import (
	"testing"
)

// Each case is a whole config file; a.graphql and b.graphql exist beside it.
func TestLoad_ErrorsNameFileAndLine(t *testing.T) {
	const sub = "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n"
	cases := []struct {
		name, config, want string
	}{
		{
			name: "unknown key in a subgraph, with suggestion",
			config: `subgraphs:
  - name: a
    schema: { file: a.graphql }
  - name: b
    routng_url: http://127.0.0.1:4001/graphql
    schema: { file: b.graphql }
`,
			want: `edgate.yaml:5: unknown key "routng_url" in subgraphs[1] (did you mean "routing_url"?)`,
		},
		{
			name:   "unknown top-level key in camelCase",
			config: sub + "listenAddr: :3002\n",
			want:   `edgate.yaml:2: unknown key "listenAddr" at the top level (did you mean "listen_addr"?)`,
		},
		{
			name:   "unknown key without a close match",
			config: sub + "events: { providers: { mqtt: [] } }\n",
			want:   `edgate.yaml:2: unknown key "mqtt" in events.providers`,
		},
		{
			name:   "duplicate key",
			config: sub + "listen_addr: :1\nlisten_addr: :2\n",
			want:   `edgate.yaml:3: duplicate key "listen_addr" at the top level (first at line 2)`,
		},
		{
			name:   "integer expected",
			config: sub + "subscriptions:\n  queue_size: lots\n",
			want:   `edgate.yaml:3: subscriptions.queue_size: expected an integer, found "lots"`,
		},
		{
			name:   "boolean expected",
			config: sub + "websocket: { enabled: maybe }\n",
			want:   `edgate.yaml:2: websocket.enabled: expected true or false, found "maybe"`,
		},
		{
			name:   "list expected",
			config: "subgraphs:\n  name: a\n",
			want:   `edgate.yaml:2: subgraphs: expected a list, found a mapping`,
		},
		{
			name:   "string expected",
			config: sub + "graphql_path: [a]\n",
			want:   `edgate.yaml:2: graphql_path: expected a string, found a list`,
		},
		{
			name:   "YAML syntax error",
			config: sub + "listen_addr: [\n",
			want:   `edgate.yaml:2: did not find expected node content`,
		},
		{
			name:   "top level not a mapping",
			config: "- a\n",
			want:   `edgate.yaml:1: the top level: expected a mapping of keys, found a list`,
		},
		{
			name:   "neither subgraphs nor execution config",
			config: "listen_addr: :3002\n",
			want:   `edgate.yaml:1: neither subgraphs nor execution_config_file is set: list the subgraphs, or name a Cosmo execution config`,
		},
		{
			name:   "empty subgraphs",
			config: "listen_addr: :3002\nsubgraphs: []\n",
			want:   `edgate.yaml:2: subgraphs is empty: list at least one subgraph`,
		},
		{
			name:   "both subgraphs and execution config",
			config: sub + "execution_config_file: router.json\n",
			want:   `edgate.yaml:2: set either subgraphs (line 1) or execution_config_file, not both`,
		},
		{
			name:   "missing execution config",
			config: "execution_config_file: gone.json\n",
			want:   `edgate.yaml:1: execution_config_file "gone.json" not found`,
		},
		{
			name:   "subgraph without name",
			config: "subgraphs:\n  - name: a\n    schema: { file: a.graphql }\n  - schema: { file: b.graphql }\n",
			want:   `edgate.yaml:4: subgraphs[1]: name is required`,
		},
		{
			name:   "duplicate subgraph names",
			config: "subgraphs:\n  - name: a\n    schema: { file: a.graphql }\n  - name: a\n    schema: { file: b.graphql }\n",
			want:   `edgate.yaml:4: subgraph name "a" is used twice (first at line 2)`,
		},
		{
			name: "missing schema file",
			config: `subgraphs:
  - name: a
    schema: { file: a.graphql }
  - name: employees
    routing_url: http://127.0.0.1:4001/graphql
    schema:
      file: employees.graphql
`,
			want: `edgate.yaml:7: subgraph "employees": schema file "employees.graphql" not found`,
		},
		{
			name:   "schema file is a directory",
			config: "subgraphs: [ { name: a, schema: { file: dir } } ]\n",
			want:   `edgate.yaml:1: subgraph "a": schema file "dir" is a directory`,
		},
		{
			name:   "subgraph without schema",
			config: "subgraphs:\n  - name: a\n    routing_url: http://h:1/graphql\n",
			want:   `edgate.yaml:2: subgraph "a": schema.file is required`,
		},
		{
			name:   "routing url not http",
			config: "subgraphs:\n  - name: a\n    routing_url: 127.0.0.1:4001\n    schema: { file: a.graphql }\n",
			want:   `edgate.yaml:3: subgraph "a": routing_url "127.0.0.1:4001" is not a URL starting with http:// or https://`,
		},
		{
			name: "bad subscription protocol",
			config: `subgraphs:
  - name: a
    schema: { file: a.graphql }
    subscription:
      url: ws://127.0.0.1:4001/graphql
      protocol: sse-post
`,
			want: `edgate.yaml:6: subgraph "a": subscription.protocol "sse-post" must be "ws", "sse" or "sse_post" (did you mean "sse_post"?)`,
		},
		{
			name: "bad websocket subprotocol",
			config: `subgraphs:
  - name: a
    schema: { file: a.graphql }
    subscription:
      url: ws://127.0.0.1:4001/graphql
      websocket_subprotocol: graphql-transport
`,
			want: `edgate.yaml:6: subgraph "a": subscription.websocket_subprotocol "graphql-transport" must be "auto", "graphql-ws" or "graphql-transport-ws" (did you mean "graphql-transport-ws"?)`,
		},
		{
			name:   "subscription url scheme does not fit protocol",
			config: "subgraphs:\n  - name: a\n    schema: { file: a.graphql }\n    subscription: { url: ws://h:1/graphql, protocol: sse }\n",
			want:   `edgate.yaml:4: subgraph "a": subscription.url "ws://h:1/graphql" is not a URL starting with http:// or https://`,
		},
		{
			name:   "invalid duration",
			config: "subgraphs:\n  - name: a\n    schema: { file: a.graphql }\n    subscription:\n      url: ws://h:1/\n      retry: { interval: 100 }\n",
			want:   `edgate.yaml:6: subgraphs[0].subscription.retry.interval: invalid duration "100": give a unit, e.g. 100s`,
		},
		{
			name:   "unparsable duration",
			config: sub + "shutdown_timeout: soon\n",
			want:   `edgate.yaml:2: shutdown_timeout: invalid duration "soon" (use e.g. 500ms, 10s, 1m)`,
		},
		{
			name:   "negative duration",
			config: sub + "sse: { heartbeat_interval: -1s }\n",
			want:   `edgate.yaml:2: sse.heartbeat_interval: duration "-1s" must not be negative`,
		},
		{
			name:   "drain longer than the shutdown timeout",
			config: sub + "shutdown: { drain_delay: 6s, drain_window: 5s }\n",
			want:   `edgate.yaml:2: shutdown_timeout (10s) must be longer than shutdown.drain_delay + shutdown.drain_window (11s), or the drain is cut short`,
		},
		{
			name:   "unknown shutdown.clients",
			config: sub + "shutdown: { clients: reconect }\n",
			want:   `edgate.yaml:2: shutdown.clients "reconect" must be "reconnect" or "complete" (did you mean "reconnect"?)`,
		},
		{
			name:   "invalid size",
			config: sub + "websocket:\n  max_message_bytes: 64 kilobytes\n",
			want:   `edgate.yaml:3: websocket.max_message_bytes: invalid size "64 kilobytes" (use e.g. 65536, 64KiB, 1MiB)`,
		},
		{
			name:   "listen address not host:port",
			config: sub + "listen_addr: 3002\n",
			want:   `edgate.yaml:2: listen_addr "3002" is not host:port (e.g. 127.0.0.1:3002, or :3002 for every interface)`,
		},
		{
			name:   "embedded nats listen with a bad port",
			config: sub + "embedded_nats:\n  listen: 127.0.0.1:http\n",
			want:   `edgate.yaml:3: embedded_nats.listen "127.0.0.1:http" is not host:port (e.g. 127.0.0.1:3002, or :3002 for every interface)`,
		},
		{
			name:   "graphql path without slash",
			config: sub + "graphql_path: graphql\n",
			want:   `edgate.yaml:2: graphql_path "graphql" must be a URL path starting with "/"`,
		},
		{
			name:   "invalid header regexp",
			config: sub + "headers:\n  all:\n    request:\n      - op: propagate\n        matching: \"(?i)^x-(\"\n",
			want:   "edgate.yaml:6: headers.all.request[0].matching: invalid regular expression \"(?i)^x-(\": missing closing ): `(?i)^x-(`",
		},
		{
			name:   "header rule without op",
			config: sub + "headers: { all: { request: [ { named: Authorization } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0]: op is required ("propagate" or "set")`,
		},
		{
			name:   "header rule with unknown op",
			config: sub + "headers: { all: { request: [ { op: forward, named: Authorization } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0].op "forward" must be "propagate" or "set"`,
		},
		{
			name:   "propagate with named and matching",
			config: sub + "headers: { all: { request: [ { op: propagate, named: A, matching: B } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0]: set named or matching, not both`,
		},
		{
			name:   "set without name",
			config: sub + "headers: { all: { request: [ { op: set, value: v } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0]: op set needs name`,
		},
		{
			name:   "set with a propagate key",
			config: sub + "headers: { all: { request: [ { op: set, named: A, name: B } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0]: named, matching, rename and default belong to op propagate; op set uses name and value`,
		},
		{
			name:   "invalid header name",
			config: sub + "headers:\n  all:\n    request:\n      - op: propagate\n        named: \"X Bad\"\n",
			want:   `edgate.yaml:6: headers.all.request[0].named: "X Bad" is not a valid header name`,
		},
		{
			name:   "rename with matching",
			config: sub + "headers: { all: { request: [ { op: propagate, matching: x, rename: Y } ] } }\n",
			want:   `edgate.yaml:2: headers.all.request[0]: rename and default apply to named headers only, not to matching`,
		},
		{
			name:   "header rules for an unknown subgraph",
			config: sub + "headers:\n  subgraphs:\n    b: { request: [ { op: set, name: X-A, value: v } ] }\n",
			want:   `edgate.yaml:4: headers.subgraphs: no subgraph is named "b"`,
		},
		{
			name:   "duplicate nats provider id",
			config: sub + "events:\n  providers:\n    nats:\n      - id: default\n      - id: default\n        url: nats://127.0.0.1:4222\n",
			want:   `edgate.yaml:6: events.providers.nats[1]: duplicate id "default" (first at line 5)`,
		},
		{
			name:   "duplicate kafka provider id",
			config: sub + "events:\n  providers:\n    kafka:\n      - { id: k, brokers: [\"h:9092\"] }\n      - { id: k, brokers: [\"h:9093\"] }\n",
			want:   `edgate.yaml:6: events.providers.kafka[1]: duplicate id "k" (first at line 5)`,
		},
		{
			name:   "duplicate redis provider id",
			config: sub + "events:\n  providers:\n    redis:\n      - { id: r, urls: [redis://h:6379] }\n      - { id: r, urls: [redis://h:6380] }\n",
			want:   `edgate.yaml:6: events.providers.redis[1]: duplicate id "r" (first at line 5)`,
		},
		{
			name:   "same id across broker kinds is fine until a real error",
			config: sub + "events:\n  providers:\n    nats: [ { id: x } ]\n    redis: [ { id: x, urls: [redis://h:6379] } ]\nlog: { level: verbose }\n",
			want:   `edgate.yaml:6: log.level "verbose" must be "trace", "debug", "info", "warn", "error" or "disabled"`,
		},
		{
			name:   "provider without id",
			config: sub + "events: { providers: { kafka: [ { brokers: [\"h:9092\"] } ] } }\n",
			want:   `edgate.yaml:2: events.providers.kafka[0]: id is required (directives name it in providerId; theirs defaults to "default")`,
		},
		{
			name:   "kafka broker not host:port",
			config: sub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers:\n          - kafka://h:9092\n",
			want:   `edgate.yaml:7: events.providers.kafka[0].brokers[0] "kafka://h:9092" is not host:port (e.g. 127.0.0.1:3002, or :3002 for every interface)`,
		},
		{
			name:   "kafka sasl mechanism",
			config: sub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers: [\"h:9092\"]\n        sasl: { mechanism: scram, username: u }\n",
			want:   `edgate.yaml:7: events.providers.kafka[0].sasl.mechanism "scram" must be "plain", "scram-sha-256" or "scram-sha-512"`,
		},
		{
			name:   "redis several urls without cluster",
			config: sub + "events:\n  providers:\n    redis:\n      - id: r\n        urls: [redis://h:1, redis://h:2]\n",
			want:   `edgate.yaml:6: events.providers.redis[0]: 2 urls for a single server; set cluster: true for a Redis Cluster`,
		},
		{
			name:   "redis url scheme",
			config: sub + "events:\n  providers:\n    redis:\n      - id: r\n        urls:\n          - http://h:6379\n",
			want:   `edgate.yaml:7: events.providers.redis[0].urls[0] "http://h:6379" is not a URL starting with redis:// or rediss://`,
		},
		{
			name:   "nats url scheme",
			config: sub + "events:\n  providers:\n    nats:\n      - id: n\n        url: http://h:4222\n",
			want:   `edgate.yaml:6: events.providers.nats[0].url "http://h:4222" is not a URL starting with nats:// or tls:// or ws:// or wss://`,
		},
		{
			name:   "nats missing creds file",
			config: sub + "events:\n  providers:\n    nats:\n      - id: n\n        url: nats://h:4222\n        creds_file: user.creds\n",
			want:   `edgate.yaml:7: events.providers.nats[0].creds_file "user.creds" not found`,
		},
		{
			name:   "nats token and user together",
			config: sub + "events:\n  providers:\n    nats:\n      - { id: n, url: \"nats://h:1\", token: t, user: u }\n",
			want:   `edgate.yaml:5: events.providers.nats[0]: use one of token, user and password, or creds_file`,
		},
		{
			name:   "nats credentials for the embedded server",
			config: sub + "events:\n  providers:\n    nats:\n      - { id: n, token: t }\n",
			want:   `edgate.yaml:5: events.providers.nats[0]: credentials need a url; without one the embedded server (which has no auth) is used`,
		},
		{
			name:   "nats request timeout of zero",
			config: sub + "events:\n  providers:\n    nats:\n      - id: n\n        request_timeout: 0s\n",
			want:   `edgate.yaml:6: events.providers.nats[0].request_timeout must be positive (it bounds the wait for a reply; default 5s)`,
		},
		{
			name:   "kafka client cert without key",
			config: sub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers: [\"h:9092\"]\n        tls:\n          cert_file: a.graphql\n",
			want:   `edgate.yaml:7: events.providers.kafka[0].tls: cert_file and key_file go together`,
		},
		{
			name:   "kafka sasl without username",
			config: sub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers: [\"h:9092\"]\n        sasl: { password: p }\n",
			want:   `edgate.yaml:7: events.providers.kafka[0].sasl: username is required`,
		},
		{
			name:   "kafka without brokers",
			config: sub + "events:\n  providers:\n    kafka:\n      - id: k\n",
			want:   `edgate.yaml:5: events.providers.kafka[0]: brokers needs at least one host:port`,
		},
		{
			name:   "zero init timeout",
			config: sub + "websocket: { init_timeout: 0s }\n",
			want:   `edgate.yaml:2: websocket.init_timeout must be positive`,
		},
		{
			name:   "negative websocket message rate",
			config: sub + "websocket: { max_messages_per_second: -1 }\n",
			want:   `edgate.yaml:2: websocket.max_messages_per_second must not be negative (0 turns the limit off)`,
		},
		{
			name:   "zero subscribe burst",
			config: sub + "websocket: { subscribe_burst: 0 }\n",
			want:   `edgate.yaml:2: websocket.subscribe_burst must be at least 1 while websocket.max_subscribes_per_second is on`,
		},
		{
			name:   "zero queue size",
			config: sub + "subscriptions: { queue_size: 0 }\n",
			want:   `edgate.yaml:2: subscriptions.queue_size must be at least 1`,
		},
		{
			name:   "entity batch window too long",
			config: sub + "subscriptions: { entity_batch_window: 2s }\n",
			want:   `edgate.yaml:2: subscriptions.entity_batch_window must be between 0 (off) and 1s`,
		},
		{
			name:   "negative max connections",
			config: sub + "limits:\n  max_connections: -1\n",
			want:   `edgate.yaml:3: limits.max_connections must not be negative (0 means unlimited)`,
		},
		{
			name:   "zero max operation tokens",
			config: sub + "limits:\n  max_operation_tokens: 0\n",
			want:   `edgate.yaml:3: limits.max_operation_tokens must be positive`,
		},
		{
			name:   "negative max fragments",
			config: sub + "limits:\n  max_fragments: -1\n",
			want:   `edgate.yaml:3: limits.max_fragments must not be negative (0 means unlimited)`,
		},
		{
			name:   "retry max_duration below interval",
			config: "subgraphs:\n  - name: a\n    schema: { file: a.graphql }\n    subscription:\n      url: ws://h:1/\n      retry: { interval: 3s }\n",
			want:   `edgate.yaml:6: subgraph "a": subscription.retry.max_duration (2s) must not be less than interval (3s)`,
		},
		{
			name:   "missing tls key file",
			config: sub + "tls:\n  cert_file: a.graphql\n  key_file: server.key\n",
			want:   `edgate.yaml:4: tls.key_file "server.key" not found`,
		},
		{
			name:   "slow consumer policy",
			config: sub + "subscriptions: { slow_consumer: drop }\n",
			want:   `edgate.yaml:2: subscriptions.slow_consumer "drop" must be "disconnect" or "drop_oldest"`,
		},
		{
			name:   "tls without key",
			config: sub + "tls:\n  cert_file: a.graphql\n",
			want:   `edgate.yaml:2: tls needs both cert_file and key_file`,
		},
		{
			name:   "unset environment variable",
			config: sub + "listen_addr: ${EDGATE_TEST_UNSET_VAR}\n",
			want:   `edgate.yaml:2: environment variable EDGATE_TEST_UNSET_VAR is not set (write ${EDGATE_TEST_UNSET_VAR:-} to allow it to be empty)`,
		},
		{
			name:   "malformed environment reference",
			config: sub + "listen_addr: ${1X}\n",
			want:   `edgate.yaml:2: invalid environment variable reference ${1X} (want ${NAME} or ${NAME:-default}; write $$ for a literal $)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.config, "a.graphql", "b.graphql", "router.json", "dir/x")
			wantError(t, err, tc.want)
		})
	}
}
