// Package config loads the edgate configuration file (YAML): it expands ${ENV} references in
// values, decodes strictly (an unknown key is an error), fills in defaults, resolves relative
// file paths against the config file's directory and validates everything it can check
// without a network. Every error is one line of the form "FILE:LINE: message".
//
// REFERENCE.md in this folder documents every key.
package config

import (
	"regexp"
	"time"
)

// Config is one loaded configuration file. The zero value of every field means "use the
// default"; Load and Parse fill the defaults in, so a loaded Config holds the effective values.
type Config struct {
	// Path is the file the config was loaded from, as given to Load (used in messages).
	Path string `yaml:"-"`

	// ListenAddr is the host:port the gateway serves on. Default "127.0.0.1:3002".
	ListenAddr string `yaml:"listen_addr"`
	// GraphQLPath is the one endpoint for queries, mutations and subscriptions (HTTP, SSE,
	// multipart, WebSocket). Default "/graphql".
	GraphQLPath string `yaml:"graphql_path"`

	// Subgraphs lists the subgraphs to compose. Exactly one of Subgraphs and
	// ExecutionConfigFile is set.
	Subgraphs []Subgraph `yaml:"subgraphs"`
	// ExecutionConfigFile is a Cosmo execution config (`wgc router compose` output), as an
	// absolute path after loading; "" when Subgraphs is used.
	ExecutionConfigFile string `yaml:"execution_config_file"`

	// Headers says which client request headers are forwarded to subgraphs.
	Headers HeaderRules `yaml:"headers"`
	// Events configures the message brokers that event directives name by provider id.
	Events Events `yaml:"events"`
	// EmbeddedNATS configures the in-process NATS server, started only when a NATS provider
	// has no url.
	EmbeddedNATS EmbeddedNATS `yaml:"embedded_nats"`

	SSE           SSE           `yaml:"sse"`
	WebSocket     WebSocket     `yaml:"websocket"`
	Subscriptions Subscriptions `yaml:"subscriptions"`
	Limits        Limits        `yaml:"limits"`

	// TLS, when set, serves HTTPS (HTTP/2 over TLS and HTTP/1.1). Cleartext HTTP/2 (h2c) is
	// always served when TLS is nil.
	TLS *TLS `yaml:"tls"`
	Log Log  `yaml:"log"`

	// Playground is the GraphQL IDE browsers get on the GraphQL endpoint.
	Playground Playground `yaml:"playground"`

	// CORS lets browser pages on other origins use the GraphQL endpoint (HTTP and SSE).
	// Default: no CORS headers, so only same-origin pages can read responses.
	CORS CORS `yaml:"cors"`

	// Telemetry configures OpenTelemetry tracing. Default: off.
	Telemetry Telemetry `yaml:"telemetry"`

	// ShutdownTimeout bounds graceful shutdown, drain delay and drain window included:
	// whatever is still open after this long is dropped. Default 10s.
	ShutdownTimeout time.Duration `yaml:"shutdown_timeout"`
	// Shutdown says how a stopping instance (SIGTERM) hands its clients to the rest of the
	// fleet.
	Shutdown Shutdown `yaml:"shutdown"`
}

// Values of Shutdown.Clients.
const (
	// ShutdownReconnect tells clients to reconnect (SSE: a `retry:` hint and the end of the
	// stream without `complete`; WebSocket: close 1012 Service Restart), so that their
	// subscriptions move to another instance.
	ShutdownReconnect = "reconnect"
	// ShutdownComplete ends every subscription (SSE `complete`, WebSocket `complete` and
	// close 1001 Going Away): for a single instance that goes away for good.
	ShutdownComplete = "complete"
)

// Shutdown is the `shutdown` section: the drain of a stopping instance. On SIGTERM
// /health/ready answers 503 at once; the listener stays open for DrainDelay, so that load
// balancers see the 503 and stop sending new clients; then the open subscriptions are
// ended over DrainWindow, spread evenly, so that their reconnects do not reach the other
// instances all in the same instant.
type Shutdown struct {
	// DrainDelay is how long the instance keeps serving, not ready, before it closes its
	// listener. Default 0s; set it to what the load balancer needs to notice (its health
	// check interval times its failure count, or the few seconds Kubernetes takes to
	// remove an endpoint).
	DrainDelay time.Duration `yaml:"drain_delay"`
	// DrainWindow spreads the end of the open subscriptions over this long. Default 0s: all
	// at once.
	DrainWindow time.Duration `yaml:"drain_window"`
	// Clients is ShutdownReconnect or ShutdownComplete. Default ShutdownReconnect.
	Clients string `yaml:"clients"`
}

// Subgraph is one entry of `subgraphs`.
type Subgraph struct {
	// Name identifies the subgraph; required and unique.
	Name string `yaml:"name"`
	// RoutingURL is where queries and `_entities` fetches go; "" for a purely event-driven
	// subgraph.
	RoutingURL string `yaml:"routing_url"`
	// Schema is the subgraph's SDL; required.
	Schema SchemaSource `yaml:"schema"`
	// Subscription is set when the subgraph serves subscriptions itself; nil otherwise.
	Subscription *SubgraphSubscription `yaml:"subscription"`
	// Line is the config line of this entry, for messages about the subgraph.
	Line int `yaml:"-"`
}

// SchemaSource names where a subgraph SDL comes from.
type SchemaSource struct {
	// File is the SDL file, an absolute path after loading (written relative to the config
	// file's directory, or absolute).
	File string `yaml:"file"`
	// Line is the config line of the schema entry.
	Line int `yaml:"-"`
}

// Upstream subscription protocols (SubgraphSubscription.Protocol).
const (
	ProtocolWS      = "ws"       // WebSocket; the subprotocol is SubgraphSubscription.WebSocketSubprotocol
	ProtocolSSE     = "sse"      // GraphQL over SSE with GET
	ProtocolSSEPost = "sse_post" // GraphQL over SSE with POST
)

// WebSocket subprotocols (SubgraphSubscription.WebSocketSubprotocol).
const (
	SubprotocolAuto               = "auto" // offer both, take what the subgraph picks
	SubprotocolGraphQLWS          = "graphql-ws"
	SubprotocolGraphQLTransportWS = "graphql-transport-ws"
)

// SubgraphSubscription says how to forward subscriptions to a subgraph that serves them.
type SubgraphSubscription struct {
	// URL of the subgraph's subscription endpoint (ws:// or wss:// for ProtocolWS, http:// or
	// https:// for the SSE protocols); default "": the routing URL.
	URL string `yaml:"url"`
	// Protocol is ProtocolWS, ProtocolSSE or ProtocolSSEPost. Default ProtocolWS.
	Protocol string `yaml:"protocol"`
	// WebSocketSubprotocol is SubprotocolAuto, SubprotocolGraphQLWS or
	// SubprotocolGraphQLTransportWS. Default SubprotocolAuto.
	WebSocketSubprotocol string `yaml:"websocket_subprotocol"`
	// ForwardInitPayload overrides WebSocket.ForwardInitPayload for this subgraph; nil means
	// use that global setting.
	ForwardInitPayload *bool `yaml:"forward_init_payload"`
	// Retry re-subscribes upstream after a failure.
	Retry Retry `yaml:"retry"`
}

// Retry is the re-subscribe policy after an upstream subscription fails.
type Retry struct {
	// Enabled turns re-subscribing on. Default false: an upstream failure ends the client's
	// subscription with an error.
	Enabled bool `yaml:"enabled"`
	// MaxAttempts bounds the attempts per failure. Default 20.
	MaxAttempts int `yaml:"max_attempts"`
	// Interval is the wait before the first attempt (it grows between attempts up to
	// MaxDuration). Default 100ms.
	Interval time.Duration `yaml:"interval"`
	// MaxDuration bounds the wait between two attempts. Default 2s.
	MaxDuration time.Duration `yaml:"max_duration"`
}

// HeaderRules says which client request headers reach subgraphs.
type HeaderRules struct {
	// All applies to every subgraph.
	All HeaderRuleSet `yaml:"all"`
	// Subgraphs applies to the named subgraph only, after All.
	Subgraphs map[string]HeaderRuleSet `yaml:"subgraphs"`
}

// RequestRules returns the rules for requests to subgraph: All's, then the subgraph's own.
func (h HeaderRules) RequestRules(subgraph string) []HeaderRule {
	own := h.Subgraphs[subgraph].Request
	if len(own) == 0 {
		return h.All.Request
	}
	rules := make([]HeaderRule, 0, len(h.All.Request)+len(own))
	rules = append(rules, h.All.Request...)
	return append(rules, own...)
}

// HeaderRuleSet is the rules of one scope.
type HeaderRuleSet struct {
	// Request rules apply, in order, to every request sent to a subgraph (queries, mutations,
	// entity fetches and upstream subscriptions).
	Request []HeaderRule `yaml:"request"`
}

// Header rule operations (HeaderRule.Op).
const (
	HeaderPropagate = "propagate" // copy client headers (Named or Matching)
	HeaderSet       = "set"       // send a fixed header (Name, Value)
)

// HeaderRule is one header rule. Op is required; which other fields apply depends on it.
type HeaderRule struct {
	// Op is HeaderPropagate or HeaderSet.
	Op string `yaml:"op"`
	// Named propagates the one header of that name (case-insensitive). With propagate,
	// exactly one of Named and Matching is set.
	Named string `yaml:"named"`
	// Matching propagates every header whose canonical name (e.g. "X-Request-Id") the Go
	// regular expression matches; it is unanchored, so write ^...$ to anchor it.
	Matching string `yaml:"matching"`
	// MatchingRegexp is Matching compiled; nil when Matching is "".
	MatchingRegexp *regexp.Regexp `yaml:"-"`
	// Rename sends a Named header under this name instead; "" keeps the name.
	Rename string `yaml:"rename"`
	// Default is sent for Named when the client request lacks the header; "" sends nothing.
	Default string `yaml:"default"`
	// Name and Value are the header that a set rule sends.
	Name  string `yaml:"name"`
	Value string `yaml:"value"`
	// Line is the config line of this rule.
	Line int `yaml:"-"`
}

// Events configures the message brokers.
type Events struct {
	Providers Providers `yaml:"providers"`
}

// Providers lists the brokers per kind. Directives name a provider by its id
// (providerId, "default" when the directive omits it); ids are unique within a kind.
type Providers struct {
	NATS  []NATSProvider  `yaml:"nats"`
	Kafka []KafkaProvider `yaml:"kafka"`
	Redis []RedisProvider `yaml:"redis"`
}

// NATSProvider is one NATS connection.
type NATSProvider struct {
	// ID is what directives name in providerId; required.
	ID string `yaml:"id"`
	// URL is the server URL (a comma-separated list for a cluster); "" connects to the
	// embedded server (EmbeddedNATS), which is then started.
	URL string `yaml:"url"`
	// At most one way to authenticate: Token, User and Password, or CredsFile (an absolute
	// path after loading). All "" means none.
	Token     string `yaml:"token"`
	User      string `yaml:"user"`
	Password  string `yaml:"password"`
	CredsFile string `yaml:"creds_file"`
	// Authorization, when set, restricts the subjects clients may use; nil: every client
	// may use every subject the schema binds.
	Authorization *Authorization `yaml:"authorization"`
	// RequestTimeout bounds how long a request field (@edfs__natsRequest) waits for its
	// reply before the field fails with an error. Default 5s; it must be positive.
	RequestTimeout time.Duration `yaml:"request_timeout"`
	// Line is the config line of this entry.
	Line int `yaml:"-"`
}

// KafkaProvider is one Kafka cluster.
type KafkaProvider struct {
	// ID is what directives name in providerId; required.
	ID string `yaml:"id"`
	// Brokers are the seed brokers, each host:port; at least one.
	Brokers []string `yaml:"brokers"`
	// TLS, when set, connects with TLS; nil connects in plaintext.
	TLS *ClientTLS `yaml:"tls"`
	// SASL, when set, authenticates; nil does not.
	SASL *SASL `yaml:"sasl"`
	// FetchMaxWait bounds how long a fetch waits for new records, and so the delivery
	// latency of a quiet topic; 0 means the provider default, 100ms.
	FetchMaxWait time.Duration `yaml:"fetch_max_wait"`
	// PartitionCheckInterval is how often running consumers look for partitions added to
	// their topics (read from their start); 0 means the provider default, 5s.
	PartitionCheckInterval time.Duration `yaml:"partition_check_interval"`
	// StrictStartup makes start-up fail when no broker answers; default false (connect in
	// the background and keep retrying).
	StrictStartup bool `yaml:"strict_startup"`
	// Authorization, when set, restricts the topics clients may use; nil: no restriction.
	Authorization *Authorization `yaml:"authorization"`
	// Line is the config line of this entry.
	Line int `yaml:"-"`
}

// ClientTLS configures TLS towards a broker. The empty value uses the system roots.
type ClientTLS struct {
	// CAFile verifies the server with this PEM bundle instead of the system roots.
	CAFile string `yaml:"ca_file"`
	// CertFile and KeyFile, both or neither, present a client certificate.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// InsecureSkipVerify skips server verification; for tests only.
	InsecureSkipVerify bool `yaml:"insecure_skip_verify"`
}

// SASL mechanisms (SASL.Mechanism).
const (
	SASLPlain       = "plain"
	SASLScramSHA256 = "scram-sha-256"
	SASLScramSHA512 = "scram-sha-512"
)

// SASL is Kafka SASL authentication.
type SASL struct {
	// Mechanism is SASLPlain, SASLScramSHA256 or SASLScramSHA512. Default SASLPlain.
	Mechanism string `yaml:"mechanism"`
	// Username is required.
	Username string `yaml:"username"`
	Password string `yaml:"password"`
}

// RedisProvider is one Redis server or cluster.
type RedisProvider struct {
	// ID is what directives name in providerId; required.
	ID string `yaml:"id"`
	// URLs are redis:// or rediss:// URLs: exactly one, or several with Cluster.
	URLs []string `yaml:"urls"`
	// Cluster connects to a Redis Cluster through the URLs as seeds. Default false.
	Cluster bool `yaml:"cluster"`
	// Authorization, when set, restricts the channels clients may use; nil: no restriction.
	Authorization *Authorization `yaml:"authorization"`
	// Line is the config line of this entry.
	Line int `yaml:"-"`
}

// Authorization is subject-level authorization for one provider: a client presents a JWT
// (Authorization: Bearer, or the WebSocket connection_init payload) whose Claim lists the
// subject patterns it may subscribe to, publish to and send requests on.
type Authorization struct {
	// JWT says how tokens are verified; required.
	JWT JWT `yaml:"jwt"`
	// Claim names the claim holding the allowed patterns (a list of strings, or one
	// space-separated string). Default "subjects".
	Claim string `yaml:"claim"`
	// AllowAnonymous lets clients without a bearer token through, limited to
	// AnonymousSubjects; a token that is sent is still verified. Default false.
	AllowAnonymous bool `yaml:"allow_anonymous"`
	// AnonymousSubjects are the patterns allowed without a token; default none listed,
	// which with AllowAnonymous allows every subject. Needs AllowAnonymous.
	AnonymousSubjects []string `yaml:"anonymous_subjects"`
}

// JWT verifies tokens. Exactly one of Secret and PublicKeyFile is set.
type JWT struct {
	// Secret is the HMAC key (HS256/384/512), at least 32 bytes; write it as ${ENV}.
	Secret string `yaml:"secret"`
	// PublicKeyFile is a PEM RSA, ECDSA or Ed25519 public key or certificate, an absolute
	// path after loading.
	PublicKeyFile string `yaml:"public_key_file"`
	// Algorithms are the accepted "alg" values. Default: every algorithm of the key's type.
	Algorithms []string `yaml:"algorithms"`
	// Issuer, when set, must equal the token's "iss". Default "": not checked.
	Issuer string `yaml:"issuer"`
	// Audience, when set, must be one of the token's "aud". Default "": not checked.
	Audience string `yaml:"audience"`
	// Leeway tolerates clock skew on "exp", "nbf" and "iat". Default 0s.
	Leeway time.Duration `yaml:"leeway"`
}

// EmbeddedNATS configures the in-process NATS server.
type EmbeddedNATS struct {
	// Listen is the host:port the embedded server listens on, so that other processes can
	// publish to it. Default "127.0.0.1:4223" (4222 is left to a system NATS).
	Listen string `yaml:"listen"`
	// JetStream enables JetStream on the embedded server. Default true.
	JetStream bool `yaml:"jetstream"`
	// StoreDir is where JetStream keeps its data, an absolute path after loading; "" uses
	// a temporary directory that is removed at shutdown.
	StoreDir string `yaml:"store_dir"`
}

// SSE configures GraphQL over Server-Sent Events.
type SSE struct {
	// HeartbeatInterval is the gap between ":" comment heartbeats on an idle stream.
	// Default 5s; 0 sends none.
	HeartbeatInterval time.Duration `yaml:"heartbeat_interval"`
	// RetryInterval is the reconnect delay an SSE stream asks its client for (a `retry:`
	// field at the start of the stream and before a shutdown ends it), instead of
	// EventSource's default of about 3s. Each stream gets a value drawn between half of it
	// and all of it, so that the clients of an instance that dies do not all reconnect in
	// the same instant. Default 1s; 0s sends no hint.
	RetryInterval time.Duration `yaml:"retry_interval"`
}

// WebSocket configures the graphql-transport-ws and graphql-ws endpoints.
type WebSocket struct {
	// Enabled accepts WebSocket upgrades on GraphQLPath. Default true.
	Enabled bool `yaml:"enabled"`
	// InitTimeout closes a connection that sends no connection_init in time (4408).
	// Default 10s; must be positive.
	InitTimeout time.Duration `yaml:"init_timeout"`
	// PingInterval is the gap between server pings on graphql-transport-ws connections.
	// Default 10s; 0 sends none.
	PingInterval time.Duration `yaml:"ping_interval"`
	// MaxSubscriptionsPerConnection bounds the active subscriptions of one connection.
	// Default 100; 0 means unlimited.
	MaxSubscriptionsPerConnection int `yaml:"max_subscriptions_per_connection"`
	// ForwardInitPayload forwards the client's connection_init payload to subgraphs that
	// serve subscriptions themselves. Default true.
	ForwardInitPayload bool `yaml:"forward_init_payload"`
	// MaxMessageBytes bounds one incoming WebSocket message. Default 64KiB; 0 means unlimited.
	MaxMessageBytes ByteSize `yaml:"max_message_bytes"`
	// MaxMessagesPerSecond and MessageBurst bound the messages a client sends on one
	// connection, as a token bucket (MessageBurst at once, refilled at MaxMessagesPerSecond).
	// A subscribe over it gets an error with extensions.code RATE_LIMITED, a ping no pong;
	// the connection stays open. Defaults 50 and 200; a rate of 0 turns it off.
	MaxMessagesPerSecond int `yaml:"max_messages_per_second"`
	MessageBurst         int `yaml:"message_burst"`
	// MaxSubscribesPerSecond and SubscribeBurst bound the subscribe (start) messages of one
	// connection the same way. Defaults 10 and 100; a rate of 0 turns it off.
	MaxSubscribesPerSecond int `yaml:"max_subscribes_per_second"`
	SubscribeBurst         int `yaml:"subscribe_burst"`
	// CheckOrigin refuses (403) an upgrade whose Origin header names another site than the
	// request's host and is not in cors.allowed_origins, so that a page elsewhere cannot
	// open a socket that carries the user's cookies (cross-site WebSocket hijacking). An
	// upgrade without Origin (not from a browser) is accepted. Default true.
	CheckOrigin bool `yaml:"check_origin"`
}

// Slow-consumer policies (Subscriptions.SlowConsumer).
const (
	SlowConsumerDisconnect = "disconnect"  // end the client's subscriptions with a reason
	SlowConsumerDropOldest = "drop_oldest" // discard the oldest queued message and go on
)

// Subscriptions configures event delivery to clients.
type Subscriptions struct {
	// QueueSize bounds the messages queued for one client. Default 1024; must be positive.
	QueueSize int `yaml:"queue_size"`
	// SlowConsumer is what happens when a client's queue is full: SlowConsumerDisconnect
	// or SlowConsumerDropOldest. Default SlowConsumerDisconnect.
	SlowConsumer string `yaml:"slow_consumer"`
	// EntityBatchWindow batches the `_entities` fetches that events of different
	// subscription groups need from the same subgraph, with the same headers and query:
	// it is the least time between two such requests. A fetch goes at once when none went
	// within the window and none is in flight; otherwise it waits for both and goes with
	// the others that waited, so a request carries about rate × window representations.
	// Default 3ms (at 2,000 events/s about 6 per request, at most 333 requests per second
	// and scope; a lone event waits for nothing); 0 turns batching off.
	EntityBatchWindow time.Duration `yaml:"entity_batch_window"`
}

// Limits protects the gateway; a request over a limit gets a clear error.
type Limits struct {
	// MaxConnections bounds concurrent client connections. Default 0: unlimited.
	MaxConnections int `yaml:"max_connections"`
	// MaxRequestBodyBytes bounds an HTTP request body (and so the query size). Default
	// 1MiB; 0 means unlimited.
	MaxRequestBodyBytes ByteSize `yaml:"max_request_body_bytes"`
	// The operation limits below are checked in one pass over the query's tokens before it
	// is parsed; an operation over one gets a 400 whose error's extensions.code is the key
	// in upper case followed by _EXCEEDED (MAX_QUERY_DEPTH_EXCEEDED). Fields, aliases, root
	// fields and depth count an operation's fragments where they are spread.

	// MaxOperationTokens bounds the lexical tokens of a query document (names, values,
	// punctuators; not commas or comments). Default 15000; must be positive.
	MaxOperationTokens int `yaml:"max_operation_tokens"`
	// MaxOperationNesting bounds the brackets open at once ({, [, (): selection sets,
	// lists, objects, arguments. Default 128; must be positive.
	MaxOperationNesting int `yaml:"max_operation_nesting"`
	// MaxQueryDepth bounds the fields on one path of an operation ({ a { b } } is 2 deep).
	// Default 32; 0 means unlimited.
	MaxQueryDepth int `yaml:"max_query_depth"`
	// MaxOperationFields bounds the fields an operation selects. Default 500; 0 means
	// unlimited.
	MaxOperationFields int `yaml:"max_operation_fields"`
	// MaxOperationAliases bounds the aliased fields of an operation. Default 100; 0 means
	// unlimited.
	MaxOperationAliases int `yaml:"max_operation_aliases"`
	// MaxRootFields bounds the fields of an operation's root selection set. Default 64; 0
	// means unlimited.
	MaxRootFields int `yaml:"max_root_fields"`
	// MaxFragments bounds the fragment definitions of a query document. Default 200; 0
	// means unlimited.
	MaxFragments int `yaml:"max_fragments"`
	// MaxDirectivesPerLocation bounds the directives on one field, fragment, operation or
	// variable definition. Default 10; 0 means unlimited.
	MaxDirectivesPerLocation int `yaml:"max_directives_per_location"`
	// MaxVariableDefinitions bounds the variables an operation defines. Default 100; 0
	// means unlimited.
	MaxVariableDefinitions int `yaml:"max_variable_definitions"`
	// MaxPreparationTime bounds the time from a request's arrival at the engine to the start
	// of each preparation step (parse, normalize, validate, plan); over it the request gets
	// a 503 with code MAX_PREPARATION_TIME_EXCEEDED. Default 2s; 0 means unlimited.
	MaxPreparationTime time.Duration `yaml:"max_preparation_time"`
	// MaxPlanCacheEntries bounds the cached query plans (least recently used out first).
	// Default 1024; must be positive.
	MaxPlanCacheEntries int `yaml:"max_plan_cache_entries"`
	// MaxLargeBodyRate bounds the bytes per second, over all clients, of the request bodies
	// over 64 KiB the gateway reads (real operations are far smaller; such bodies are
	// mostly hostile, and reading, checking and refusing 1 MiB costs a few milliseconds
	// of CPU). A request with such a body waits for its share before the body is read
	// (the wait does not count against read_body_timeout); one that would wait more than
	// 5s gets 503 with Retry-After and extensions.code MAX_LARGE_BODY_RATE_EXCEEDED.
	// Smaller bodies never wait. Default 16MiB (per second); 0 means unlimited.
	MaxLargeBodyRate ByteSize `yaml:"max_large_body_rate"`
	// ReadHeaderTimeout bounds reading a request's headers (HTTP/1.1) or an HTTP/2
	// connection's preface. Default 10s; must be positive.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// ReadBodyTimeout bounds the time a client may take to send a request's body, from the
	// end of its headers, HTTP/1.1 and HTTP/2; over it the client gets 408 (HTTP/1.1: and
	// the connection is closed). Default 10s; 0 means unlimited.
	ReadBodyTimeout time.Duration `yaml:"read_body_timeout"`
	// IdleTimeout closes a keep-alive connection without requests (HTTP/2: without
	// streams) for this long. Default 120s; 0 means never.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxHeaderBytes bounds a request's headers; over it the client gets 431. Default
	// 64KiB; must be positive.
	MaxHeaderBytes ByteSize `yaml:"max_header_bytes"`
	// MaxPlanCacheBytes bounds the cached plans' memory, estimated from each normalized
	// operation's size. Default 64MiB; must be positive.
	MaxPlanCacheBytes ByteSize `yaml:"max_plan_cache_bytes"`

	// MaxPreparedOperations and MaxPreparedOperationBytes bound the cache of prepared
	// operations: a request whose query text and operation name were seen before skips
	// parsing, normalization, validation and planning (automatic persisted queries are
	// kept there too). The least recently used go first. Defaults 4096 and 32MiB; both
	// must be positive.
	MaxPreparedOperations     int      `yaml:"max_prepared_operations"`
	MaxPreparedOperationBytes ByteSize `yaml:"max_prepared_operation_bytes"`
}

// TLS is the server certificate; both files are required, absolute paths after loading.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Log formats (Log.Format).
const (
	LogJSON    = "json"
	LogConsole = "console"
)

// Log configures the zerolog logger.
type Log struct {
	// Level is trace, debug, info, warn, error or disabled. Default "info".
	Level string `yaml:"level"`
	// Format is LogJSON or LogConsole (human-readable). Default LogJSON.
	Format string `yaml:"format"`
}

// CORS configures cross-origin requests to the GraphQL endpoint.
type CORS struct {
	// AllowedOrigins lists the origins ("https://app.example.com") whose pages may call the
	// endpoint; "*" allows every origin. Default: none.
	AllowedOrigins []string `yaml:"allowed_origins"`
	// AllowCredentials lets those pages send cookies and HTTP authentication. Default false;
	// it cannot be combined with "*".
	AllowCredentials bool `yaml:"allow_credentials"`
	// MaxAge is how long a browser may cache a preflight answer. Default 5m.
	MaxAge time.Duration `yaml:"max_age"`
}

// Playground configures the GraphQL IDE (GraphiQL) served to browsers: a GET of the
// GraphQL endpoint that prefers text/html gets the IDE's page, and its assets are served
// under the endpoint's path plus "/playground/", all from the binary (no CDN).
type Playground struct {
	// Enabled serves the IDE. Default true: like Cosmo's playground and Hive Gateway's
	// GraphiQL it is on out of the box; it shows nothing introspection does not, loads
	// nothing from other sites, and GraphQL clients never see it. Turn it off where no
	// one should browse the API (then such a GET gets the GraphQL-over-HTTP error it got
	// before).
	Enabled bool `yaml:"enabled"`
}

// Telemetry is the `telemetry` section (Prometheus metrics are always on at /metrics).
type Telemetry struct {
	Tracing Tracing `yaml:"tracing"`
	Metrics Metrics `yaml:"metrics"`
}

// Metrics configures metric export besides /metrics, which is always served.
type Metrics struct {
	OTLP MetricsOTLP `yaml:"otlp"`
}

// MetricsOTLP pushes the metrics of /metrics to an OpenTelemetry collector over OTLP, for
// setups that collect with OTel rather than by scraping. Off by default.
type MetricsOTLP struct {
	// Enabled turns the export on. Default false.
	Enabled bool `yaml:"enabled"`
	// Exporter is "otlp-http" (default) or "otlp-grpc".
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector, host:port or a URL (http:// for no TLS; an otlp-http URL
	// without a path gets /v1/metrics, one with a path is used as it is). Default "": the
	// exporter's default (localhost:4318 for otlp-http, localhost:4317 for otlp-grpc) or
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (e.g. an API key). Default none.
	Headers map[string]string `yaml:"headers"`
	// Interval is the time between exports. Default 30s: twice the resolution of the
	// OTel SDK's 60s default, about what a Prometheus scrape gives the dashboard.
	Interval time.Duration `yaml:"interval"`
	// ServiceName is the service.name of the exported metrics. Default "edgate".
	ServiceName string `yaml:"service_name"`
}

// Tracing configures OpenTelemetry traces exported over OTLP (docs/observability.md lists
// the spans). Off by default; while off no span is made.
type Tracing struct {
	// Enabled turns tracing on. Default false.
	Enabled bool `yaml:"enabled"`
	// Exporter is "otlp-http" (default) or "otlp-grpc".
	Exporter string `yaml:"exporter"`
	// Endpoint is the collector, host:port or a URL (http:// for no TLS; an otlp-http URL
	// without a path gets /v1/traces, one with a path is used as it is). Default "": the
	// exporter's default (localhost:4318 for otlp-http, localhost:4317 for otlp-grpc) or
	// OTEL_EXPORTER_OTLP_ENDPOINT.
	Endpoint string `yaml:"endpoint"`
	// Headers are sent with every export (e.g. an API key). Default none.
	Headers map[string]string `yaml:"headers"`
	// SamplingRatio is the share of new traces recorded, 0 to 1. Default 1. Requests and
	// events that arrive with a traceparent follow its sampled flag.
	SamplingRatio float64 `yaml:"sampling_ratio"`
	// ServiceName is the service.name of the spans. Default "edgate".
	ServiceName string `yaml:"service_name"`
}

// Tracing exporters.
const (
	ExporterOTLPHTTP = "otlp-http"
	ExporterOTLPGRPC = "otlp-grpc"
)

// ByteSize is a size in bytes. The YAML value is an integer or an integer with a unit:
// KiB, MiB, GiB (powers of 1024) or KB, MB, GB (powers of 1000), e.g. 64KiB.
type ByteSize int64

// defaults returns a Config holding every top-level default. Decoding overwrites only the
// keys present in the file, so a key that is present with a zero value (enabled: false)
// stays zero.
func defaults() *Config {
	return &Config{
		ListenAddr:  "127.0.0.1:3002",
		GraphQLPath: "/graphql",
		EmbeddedNATS: EmbeddedNATS{
			Listen:    "127.0.0.1:4223",
			JetStream: true,
		},
		SSE: SSE{HeartbeatInterval: 5 * time.Second, RetryInterval: time.Second},
		WebSocket: WebSocket{
			Enabled:                       true,
			InitTimeout:                   10 * time.Second,
			PingInterval:                  10 * time.Second,
			MaxSubscriptionsPerConnection: 100,
			ForwardInitPayload:            true,
			MaxMessageBytes:               64 << 10,
			MaxMessagesPerSecond:          50,
			MessageBurst:                  200,
			MaxSubscribesPerSecond:        10,
			SubscribeBurst:                100,
			CheckOrigin:                   true,
		},
		Subscriptions: Subscriptions{QueueSize: 1024, SlowConsumer: SlowConsumerDisconnect, EntityBatchWindow: 3 * time.Millisecond},
		Limits: Limits{
			MaxRequestBodyBytes:       1 << 20,
			MaxOperationTokens:        15000,
			MaxOperationNesting:       128,
			MaxQueryDepth:             32,
			MaxOperationFields:        500,
			MaxOperationAliases:       100,
			MaxRootFields:             64,
			MaxFragments:              200,
			MaxDirectivesPerLocation:  10,
			MaxVariableDefinitions:    100,
			MaxPreparationTime:        2 * time.Second,
			MaxPlanCacheEntries:       1024,
			MaxPlanCacheBytes:         64 << 20,
			MaxPreparedOperations:     4096,
			MaxPreparedOperationBytes: 32 << 20,
			ReadHeaderTimeout:         10 * time.Second,
			ReadBodyTimeout:           10 * time.Second,
			MaxLargeBodyRate:          16 << 20,
			IdleTimeout:               120 * time.Second,
			MaxHeaderBytes:            64 << 10,
		},
		Log:             Log{Level: "info", Format: LogJSON},
		ShutdownTimeout: 10 * time.Second,
		Shutdown:        Shutdown{Clients: ShutdownReconnect},
		CORS:            CORS{MaxAge: 5 * time.Minute},
		Playground:      Playground{Enabled: true},
		Telemetry: Telemetry{
			Tracing: Tracing{Exporter: ExporterOTLPHTTP, SamplingRatio: 1, ServiceName: "edgate"},
			Metrics: Metrics{OTLP: MetricsOTLP{Exporter: ExporterOTLPHTTP, Interval: 30 * time.Second, ServiceName: "edgate"}},
		},
	}
}

// The decoder calls setDefaults on each value it creates for a list entry, a map value or
// an optional (pointer) section, before decoding the keys into it.
type defaulter interface{ setDefaults() }

func (s *SubgraphSubscription) setDefaults() {
	s.Protocol = ProtocolWS
	s.WebSocketSubprotocol = SubprotocolAuto
	s.Retry = Retry{MaxAttempts: 20, Interval: 100 * time.Millisecond, MaxDuration: 2 * time.Second}
}

func (s *SASL) setDefaults() { s.Mechanism = SASLPlain }

func (n *NATSProvider) setDefaults() { n.RequestTimeout = 5 * time.Second }

func (a *Authorization) setDefaults() { a.Claim = "subjects" }
