package config

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// specExample is the example of SPEC section 2, verbatim.
const specExample = `listen_addr: 127.0.0.1:3002         # default
graphql_path: /graphql              # default
subgraphs:                          # either this list ...
  - name: employees
    routing_url: http://127.0.0.1:4001/graphql
    schema: { file: employees.graphql }       # relative to the config file
    subscription:                             # optional: the subgraph serves subscriptions itself
      url: ws://127.0.0.1:4001/graphql
      protocol: ws                            # ws | sse | sse_post
      websocket_subprotocol: auto             # auto | graphql-ws | graphql-transport-ws
      retry: { enabled: true, max_attempts: 20, interval: 100ms, max_duration: 2s }  # re-subscribe after an upstream failure
  - name: events                              # an event-driven subgraph: no routing_url needed
    schema: { file: events.graphql }
execution_config_file: router.json  # ... or a Cosmo execution config (output of ` + "`wgc router compose`" + `)
headers:                            # forwarded to subgraphs, for queries and subscriptions
  all: { request: [ { op: propagate, named: Authorization }, { op: propagate, matching: "(?i)^x-.*" } ] }
events:
  providers:
    nats:  [ { id: default, url: nats://127.0.0.1:4222 } ]   # no url: start the embedded NATS server
    kafka: [ { id: my-kafka, brokers: [127.0.0.1:9092] } ]
    redis: [ { id: my-redis, urls: [redis://127.0.0.1:6379] } ]
embedded_nats: { listen: 127.0.0.1:4223, jetstream: true, store_dir: "" }   # used when a nats provider has no url
`

// load writes config as edgate.yaml into a fresh directory together with the named files
// (each holding a line of text), changes into that directory and loads "edgate.yaml", so
// that messages start with "edgate.yaml:".
func load(t *testing.T, config string, files ...string) (*Config, error) {
	t.Helper()
	dir := t.TempDir()
	t.Chdir(dir)
	for _, f := range files {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("type Query { a: Int }\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "edgate.yaml"), []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return Load("edgate.yaml")
}

func mustLoad(t *testing.T, config string, files ...string) *Config {
	t.Helper()
	c, err := load(t, config, files...)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func wantError(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("Load succeeded, want error %q", want)
	}
	if err.Error() != want {
		t.Fatalf("error\n got: %s\nwant: %s", err, want)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Fatalf("error has more than one line: %q", err)
	}
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("error is %T, want *config.Error", err)
	}
}

func TestLoad_SpecExampleWithBothSourcesIsRejectedAtExecutionConfigLine(t *testing.T) {
	_, err := load(t, specExample, "employees.graphql", "events.graphql", "router.json")
	wantError(t, err, `edgate.yaml:14: set either subgraphs (line 3) or execution_config_file, not both`)
}

func TestLoad_SpecExampleWithSubgraphs(t *testing.T) {
	config := strings.Replace(specExample, "execution_config_file: router.json", "", 1)
	c := mustLoad(t, config, "employees.graphql", "events.graphql")
	dir, _ := os.Getwd()

	if c.Path != "edgate.yaml" || c.ListenAddr != "127.0.0.1:3002" || c.GraphQLPath != "/graphql" {
		t.Errorf("path/listen/graphql: %q %q %q", c.Path, c.ListenAddr, c.GraphQLPath)
	}
	if c.ExecutionConfigFile != "" {
		t.Errorf("ExecutionConfigFile = %q", c.ExecutionConfigFile)
	}
	want := []Subgraph{
		{
			Name:       "employees",
			RoutingURL: "http://127.0.0.1:4001/graphql",
			Schema:     SchemaSource{File: filepath.Join(dir, "employees.graphql"), Line: 6},
			Subscription: &SubgraphSubscription{
				URL:                  "ws://127.0.0.1:4001/graphql",
				Protocol:             ProtocolWS,
				WebSocketSubprotocol: SubprotocolAuto,
				Retry:                Retry{Enabled: true, MaxAttempts: 20, Interval: 100 * time.Millisecond, MaxDuration: 2 * time.Second},
			},
			Line: 4,
		},
		{
			Name:   "events",
			Schema: SchemaSource{File: filepath.Join(dir, "events.graphql"), Line: 13},
			Line:   12,
		},
	}
	if !reflect.DeepEqual(c.Subgraphs, want) {
		t.Errorf("Subgraphs\n got: %+v\nwant: %+v", c.Subgraphs, want)
	}

	rules := c.Headers.All.Request
	if len(rules) != 2 {
		t.Fatalf("header rules: %+v", rules)
	}
	if r := rules[0]; r.Op != HeaderPropagate || r.Named != "Authorization" || r.Line != 16 {
		t.Errorf("rule 0: %+v", r)
	}
	if r := rules[1]; r.Op != HeaderPropagate || r.Matching != "(?i)^x-.*" || r.MatchingRegexp == nil ||
		!r.MatchingRegexp.MatchString("X-Request-Id") || r.MatchingRegexp.MatchString("Accept") {
		t.Errorf("rule 1: %+v", r)
	}
	if got := c.Headers.RequestRules("employees"); len(got) != 2 {
		t.Errorf("RequestRules(employees) = %d rules, want 2", len(got))
	}

	p := c.Events.Providers
	if !reflect.DeepEqual(p.NATS, []NATSProvider{{ID: "default", URL: "nats://127.0.0.1:4222", RequestTimeout: 5 * time.Second, Line: 19}}) {
		t.Errorf("nats: %+v", p.NATS)
	}
	if !reflect.DeepEqual(p.Kafka, []KafkaProvider{{ID: "my-kafka", Brokers: []string{"127.0.0.1:9092"}, Line: 20}}) {
		t.Errorf("kafka: %+v", p.Kafka)
	}
	if !reflect.DeepEqual(p.Redis, []RedisProvider{{ID: "my-redis", URLs: []string{"redis://127.0.0.1:6379"}, Line: 21}}) {
		t.Errorf("redis: %+v", p.Redis)
	}
	if c.EmbeddedNATS != (EmbeddedNATS{Listen: "127.0.0.1:4223", JetStream: true}) {
		t.Errorf("embedded_nats: %+v", c.EmbeddedNATS)
	}
}

func TestLoad_SpecExampleWithExecutionConfig(t *testing.T) {
	lines := strings.Split(specExample, "\n")
	config := strings.Join(append(lines[:2:2], lines[13:]...), "\n") // drop the subgraphs list
	c := mustLoad(t, config, "router.json")
	dir, _ := os.Getwd()
	if c.ExecutionConfigFile != filepath.Join(dir, "router.json") || len(c.Subgraphs) != 0 {
		t.Errorf("ExecutionConfigFile %q, subgraphs %d", c.ExecutionConfigFile, len(c.Subgraphs))
	}
}

func TestLoad_AppliesDefaults(t *testing.T) {
	c := mustLoad(t, "subgraphs: [ { name: a, schema: { file: a.graphql }, subscription: { url: ws://h:1/graphql } } ]\n", "a.graphql")
	want := defaults()
	if c.ListenAddr != want.ListenAddr || c.GraphQLPath != "/graphql" {
		t.Errorf("listen %q, path %q", c.ListenAddr, c.GraphQLPath)
	}
	if c.SSE.HeartbeatInterval != 5*time.Second || c.SSE.RetryInterval != time.Second {
		t.Errorf("sse: %+v", c.SSE)
	}
	if c.Shutdown != (Shutdown{Clients: ShutdownReconnect}) {
		t.Errorf("shutdown: %+v", c.Shutdown)
	}
	wantWS := WebSocket{Enabled: true, InitTimeout: 10 * time.Second, PingInterval: 10 * time.Second,
		MaxSubscriptionsPerConnection: 100, ForwardInitPayload: true, MaxMessageBytes: 64 * 1024, CheckOrigin: true,
		MaxMessagesPerSecond: 50, MessageBurst: 200, MaxSubscribesPerSecond: 10, SubscribeBurst: 100}
	if c.WebSocket != wantWS {
		t.Errorf("websocket: %+v", c.WebSocket)
	}
	if c.Subscriptions != (Subscriptions{QueueSize: 1024, SlowConsumer: SlowConsumerDisconnect, EntityBatchWindow: 3 * time.Millisecond}) {
		t.Errorf("subscriptions: %+v", c.Subscriptions)
	}
	wantLimits := Limits{MaxRequestBodyBytes: 1 << 20, MaxOperationTokens: 15000, MaxOperationNesting: 128,
		MaxQueryDepth: 32, MaxOperationFields: 500, MaxOperationAliases: 100, MaxRootFields: 64, MaxFragments: 200,
		MaxDirectivesPerLocation: 10, MaxVariableDefinitions: 100, MaxPreparationTime: 2 * time.Second,
		MaxPlanCacheEntries: 1024, MaxPlanCacheBytes: 64 << 20, MaxPreparedOperations: 4096, MaxPreparedOperationBytes: 32 << 20,
		ReadHeaderTimeout: 10 * time.Second, ReadBodyTimeout: 10 * time.Second, MaxLargeBodyRate: 16 << 20, IdleTimeout: 120 * time.Second, MaxHeaderBytes: 64 << 10}
	if c.Limits != wantLimits {
		t.Errorf("limits: %+v", c.Limits)
	}
	if c.TLS != nil || c.Log != (Log{Level: "info", Format: LogJSON}) || c.ShutdownTimeout != 10*time.Second {
		t.Errorf("tls %v, log %+v, shutdown %v", c.TLS, c.Log, c.ShutdownTimeout)
	}
	if c.EmbeddedNATS != (EmbeddedNATS{Listen: "127.0.0.1:4223", JetStream: true}) {
		t.Errorf("embedded_nats: %+v", c.EmbeddedNATS)
	}
	if !c.Playground.Enabled {
		t.Errorf("playground: %+v", c.Playground)
	}
	sub := c.Subgraphs[0].Subscription
	wantSub := SubgraphSubscription{URL: "ws://h:1/graphql", Protocol: ProtocolWS, WebSocketSubprotocol: SubprotocolAuto,
		Retry: Retry{MaxAttempts: 20, Interval: 100 * time.Millisecond, MaxDuration: 2 * time.Second}}
	if !reflect.DeepEqual(*sub, wantSub) {
		t.Errorf("subscription: %+v", *sub)
	}
}

func TestLoad_ExplicitZeroValuesOverrideDefaults(t *testing.T) {
	c := mustLoad(t, `subgraphs: [ { name: a, schema: { file: a.graphql } } ]
websocket: { enabled: false, forward_init_payload: false, ping_interval: 0s, max_message_bytes: 1MiB }
embedded_nats: { jetstream: false }
sse: { heartbeat_interval: 0s }
limits: { max_request_body_bytes: 512KB }
`, "a.graphql")
	if c.WebSocket.Enabled || c.WebSocket.ForwardInitPayload || c.WebSocket.PingInterval != 0 || c.WebSocket.MaxMessageBytes != 1<<20 {
		t.Errorf("websocket: %+v", c.WebSocket)
	}
	if c.WebSocket.InitTimeout != 10*time.Second {
		t.Errorf("untouched default lost: %+v", c.WebSocket)
	}
	if c.EmbeddedNATS.JetStream || c.SSE.HeartbeatInterval != 0 || c.Limits.MaxRequestBodyBytes != 512000 {
		t.Errorf("embedded %+v sse %+v limits %+v", c.EmbeddedNATS, c.SSE, c.Limits)
	}
}

func TestLoad_ResolvesRelativeSchemaPathAgainstConfigDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "conf", "schemas"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf", "schemas", "a.graphql"), []byte("type Query { a: Int }"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "conf", "edgate.yaml")
	if err := os.WriteFile(cfg, []byte("subgraphs: [ { name: a, schema: { file: schemas/a.graphql } } ]\nembedded_nats: { store_dir: js }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Chdir(t.TempDir()) // the working directory must not matter
	c, err := Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, "conf", "schemas", "a.graphql"); c.Subgraphs[0].Schema.File != want {
		t.Errorf("schema file %q, want %q", c.Subgraphs[0].Schema.File, want)
	}
	if want := filepath.Join(dir, "conf", "js"); c.EmbeddedNATS.StoreDir != want {
		t.Errorf("store_dir %q, want %q", c.EmbeddedNATS.StoreDir, want)
	}
}

func TestParse_UsesPathForMessagesAndRelativeFiles(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "a.graphql"), []byte("type Query { a: Int }"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "gw.yaml")
	c, err := Parse(path, []byte("subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Path != path || c.Subgraphs[0].Schema.File != filepath.Join(dir, "a.graphql") {
		t.Errorf("path %q, schema %q", c.Path, c.Subgraphs[0].Schema.File)
	}
	_, err = Parse(path, []byte("subgraphs: [ { name: a, schema: { file: a.graphql } } ]\nlisten: x\n"))
	wantError(t, err, path+`:2: unknown key "listen" at the top level`)
}

func TestLoad_MissingConfigFile(t *testing.T) {
	t.Chdir(t.TempDir())
	_, err := Load("nope.yaml")
	wantError(t, err, "nope.yaml: config file not found")
}

func TestLoad_EmptyFileNeedsAGraphSource(t *testing.T) {
	_, err := load(t, "")
	wantError(t, err, "edgate.yaml:1: neither subgraphs nor execution_config_file is set: list the subgraphs, or name a Cosmo execution config")
}

func TestLoad_YAMLMergeKeys(t *testing.T) {
	c := mustLoad(t, `x-retry: &retry { enabled: true, max_attempts: 3 }
subgraphs:
  - name: a
    schema: { file: a.graphql }
    subscription: { url: "ws://h:1/", retry: { <<: *retry, max_attempts: 5 } }
`, "a.graphql")
	got := c.Subgraphs[0].Subscription.Retry
	if !got.Enabled || got.MaxAttempts != 5 || got.Interval != 100*time.Millisecond {
		t.Errorf("retry: %+v", got)
	}
}

func TestLoad_EveryKey(t *testing.T) {
	c := mustLoad(t, `listen_addr: ":8443"
graphql_path: /api/graphql
subgraphs:
  - name: employees
    routing_url: https://employees.internal/graphql
    schema: { file: schemas/employees.graphql }
    subscription:
      url: https://employees.internal/graphql/stream
      protocol: sse_post
      websocket_subprotocol: graphql-transport-ws
      forward_init_payload: false
      retry: { enabled: true, max_attempts: 3, interval: 1s, max_duration: 5s }
headers:
  all:
    request:
      - { op: propagate, named: X-Tenant, rename: X-Org, default: public }
  subgraphs:
    employees:
      request:
        - { op: set, name: X-Gateway, value: edgate }
events:
  providers:
    nats:
      - { id: secure, url: "tls://a:4222, tls://b:4222", creds_file: certs/user.creds }
      - { id: tokened, url: "127.0.0.1:4222", token: s3cret, request_timeout: 750ms }
    kafka:
      - id: k
        brokers: ["k1:9092", "k2:9092"]
        tls: { ca_file: certs/ca.pem, cert_file: certs/c.pem, key_file: certs/c.key, insecure_skip_verify: true }
        sasl: { mechanism: scram-sha-512, username: u, password: p }
        fetch_max_wait: 250ms
        strict_startup: true
    redis:
      - { id: r, urls: ["redis://r1:6379", "rediss://r2:6379"], cluster: true }
embedded_nats: { listen: "0.0.0.0:4300", jetstream: false, store_dir: /var/lib/edgate/js }
sse: { heartbeat_interval: 15s }
websocket:
  enabled: true
  init_timeout: 3s
  ping_interval: 20s
  max_subscriptions_per_connection: 0
  forward_init_payload: true
  max_message_bytes: 128KiB
  max_messages_per_second: 0
  message_burst: 0
  max_subscribes_per_second: 3
  subscribe_burst: 4
  check_origin: false
subscriptions: { queue_size: 16, slow_consumer: drop_oldest, entity_batch_window: 0 }
limits:
  max_connections: 10000
  max_request_body_bytes: 2MB
  max_operation_tokens: 2000
  max_operation_nesting: 40
  max_query_depth: 12
  max_operation_fields: 0
  max_operation_aliases: 5
  max_root_fields: 6
  max_fragments: 7
  max_directives_per_location: 8
  max_variable_definitions: 9
  max_preparation_time: 0s
  max_plan_cache_entries: 10
  max_plan_cache_bytes: 1MiB
  max_prepared_operations: 10
  max_prepared_operation_bytes: 64KiB
  read_header_timeout: 3s
  read_body_timeout: 4s
  max_large_body_rate: 8MiB
  idle_timeout: 0s
  max_header_bytes: 16KiB
tls: { cert_file: certs/server.pem, key_file: certs/server.key }
log: { level: debug, format: console }
playground: { enabled: false }
shutdown_timeout: 30s
`, "schemas/employees.graphql", "certs/user.creds", "certs/ca.pem", "certs/c.pem", "certs/c.key", "certs/server.pem", "certs/server.key")
	dir, _ := os.Getwd()
	abs := func(p string) string { return filepath.Join(dir, p) }

	if c.ListenAddr != ":8443" || c.GraphQLPath != "/api/graphql" || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("top: %q %q %v", c.ListenAddr, c.GraphQLPath, c.ShutdownTimeout)
	}
	f := false
	wantSub := &SubgraphSubscription{URL: "https://employees.internal/graphql/stream", Protocol: ProtocolSSEPost,
		WebSocketSubprotocol: SubprotocolGraphQLTransportWS, ForwardInitPayload: &f,
		Retry: Retry{Enabled: true, MaxAttempts: 3, Interval: time.Second, MaxDuration: 5 * time.Second}}
	if s := c.Subgraphs[0]; s.Schema.File != abs("schemas/employees.graphql") || !reflect.DeepEqual(s.Subscription, wantSub) {
		t.Errorf("subgraph: %+v %+v", s, s.Subscription)
	}

	rules := c.Headers.RequestRules("employees")
	if len(rules) != 2 || rules[0].Rename != "X-Org" || rules[0].Default != "public" ||
		rules[1].Op != HeaderSet || rules[1].Name != "X-Gateway" || rules[1].Value != "edgate" || rules[1].Line != 20 {
		t.Errorf("RequestRules(employees): %+v", rules)
	}
	if rules := c.Headers.RequestRules("other"); len(rules) != 1 {
		t.Errorf("RequestRules(other): %+v", rules)
	}

	nats := c.Events.Providers.NATS
	if nats[0].CredsFile != abs("certs/user.creds") || nats[0].URL != "tls://a:4222, tls://b:4222" || nats[1].Token != "s3cret" ||
		nats[0].RequestTimeout != 5*time.Second || nats[1].RequestTimeout != 750*time.Millisecond {
		t.Errorf("nats: %+v", nats)
	}
	wantKafka := KafkaProvider{ID: "k", Brokers: []string{"k1:9092", "k2:9092"},
		TLS:          &ClientTLS{CAFile: abs("certs/ca.pem"), CertFile: abs("certs/c.pem"), KeyFile: abs("certs/c.key"), InsecureSkipVerify: true},
		SASL:         &SASL{Mechanism: SASLScramSHA512, Username: "u", Password: "p"},
		FetchMaxWait: 250 * time.Millisecond, StrictStartup: true, Line: 27}
	if !reflect.DeepEqual(c.Events.Providers.Kafka[0], wantKafka) {
		t.Errorf("kafka\n got: %+v\nwant: %+v", c.Events.Providers.Kafka[0], wantKafka)
	}
	if r := c.Events.Providers.Redis[0]; !r.Cluster || len(r.URLs) != 2 {
		t.Errorf("redis: %+v", r)
	}
	if c.EmbeddedNATS != (EmbeddedNATS{Listen: "0.0.0.0:4300", StoreDir: "/var/lib/edgate/js"}) {
		t.Errorf("embedded_nats: %+v", c.EmbeddedNATS)
	}
	if c.SSE.HeartbeatInterval != 15*time.Second {
		t.Errorf("sse: %+v", c.SSE)
	}
	wantWS := WebSocket{Enabled: true, InitTimeout: 3 * time.Second, PingInterval: 20 * time.Second,
		ForwardInitPayload: true, MaxMessageBytes: 128 << 10, MaxSubscribesPerSecond: 3, SubscribeBurst: 4}
	if c.WebSocket != wantWS {
		t.Errorf("websocket: %+v", c.WebSocket)
	}
	if c.Subscriptions != (Subscriptions{QueueSize: 16, SlowConsumer: SlowConsumerDropOldest, EntityBatchWindow: 0}) {
		t.Errorf("subscriptions: %+v", c.Subscriptions)
	}
	if c.Limits != (Limits{MaxConnections: 10000, MaxRequestBodyBytes: 2_000_000, MaxOperationTokens: 2000, MaxOperationNesting: 40,
		MaxQueryDepth: 12, MaxOperationFields: 0, MaxOperationAliases: 5, MaxRootFields: 6, MaxFragments: 7,
		MaxDirectivesPerLocation: 8, MaxVariableDefinitions: 9, MaxPlanCacheEntries: 10, MaxPlanCacheBytes: 1 << 20,
		MaxPreparedOperations: 10, MaxPreparedOperationBytes: 64 << 10,
		ReadHeaderTimeout: 3 * time.Second, ReadBodyTimeout: 4 * time.Second, MaxLargeBodyRate: 8 << 20, MaxHeaderBytes: 16 << 10}) {
		t.Errorf("limits: %+v", c.Limits)
	}
	if *c.TLS != (TLS{CertFile: abs("certs/server.pem"), KeyFile: abs("certs/server.key")}) {
		t.Errorf("tls: %+v", c.TLS)
	}
	if c.Log != (Log{Level: "debug", Format: LogConsole}) {
		t.Errorf("log: %+v", c.Log)
	}
	if c.Playground.Enabled {
		t.Errorf("playground: %+v", c.Playground)
	}
}
