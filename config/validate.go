package config

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/edgate/edgate/internal/subjectauth"
)

// validator checks a decoded Config, resolves its file paths and compiles its regular
// expressions. It reports the first problem, in file order as far as practical.
type validator struct {
	d   *decoder
	dir string // absolute directory of the config file
	c   *Config
}

// errorf reports a problem with the value at path (or its nearest present ancestor).
func (v *validator) errorf(path, format string, args ...any) error {
	return v.d.errorf(v.d.line(path), format, args...)
}

func (v *validator) validate() error {
	c := v.c
	for _, check := range []func() error{
		func() error { return v.hostPort("listen_addr", "listen_addr", c.ListenAddr) },
		func() error {
			if !strings.HasPrefix(c.GraphQLPath, "/") || strings.ContainsAny(c.GraphQLPath, "?# ") {
				return v.errorf("graphql_path", "graphql_path %q must be a URL path starting with \"/\"", c.GraphQLPath)
			}
			return nil
		},
		v.graphSource,
		v.headers,
		v.providers,
		func() error { return v.hostPort("embedded_nats.listen", "embedded_nats.listen", c.EmbeddedNATS.Listen) },
		func() error {
			if c.EmbeddedNATS.StoreDir != "" {
				c.EmbeddedNATS.StoreDir = v.abs(c.EmbeddedNATS.StoreDir)
			}
			return nil
		},
		v.limits,
		v.tls,
		v.cors,
		func() error {
			return v.enum("telemetry.tracing.exporter", "telemetry.tracing.exporter", c.Telemetry.Tracing.Exporter, ExporterOTLPHTTP, ExporterOTLPGRPC)
		},
		func() error {
			return v.enum("telemetry.metrics.otlp.exporter", "telemetry.metrics.otlp.exporter", c.Telemetry.Metrics.OTLP.Exporter, ExporterOTLPHTTP, ExporterOTLPGRPC)
		},
		func() error {
			if d := c.Telemetry.Metrics.OTLP.Interval; d <= 0 {
				return v.errorf("telemetry.metrics.otlp.interval", "telemetry.metrics.otlp.interval %v must be positive", d)
			}
			return nil
		},
		func() error {
			if r := c.Telemetry.Tracing.SamplingRatio; r < 0 || r > 1 {
				return v.errorf("telemetry.tracing.sampling_ratio", "telemetry.tracing.sampling_ratio %v must be between 0 and 1", r)
			}
			return nil
		},
		func() error {
			return v.enum("log.level", "log.level", c.Log.Level, "trace", "debug", "info", "warn", "error", "disabled")
		},
		func() error { return v.enum("log.format", "log.format", c.Log.Format, LogJSON, LogConsole) },
	} {
		if err := check(); err != nil {
			return err
		}
	}
	return nil
}

// graphSource checks that exactly one of subgraphs and execution_config_file is given, and
// checks that one.
func (v *validator) graphSource() error {
	c := v.c
	_, hasList := v.d.lines["subgraphs"]
	switch {
	case len(c.Subgraphs) > 0 && c.ExecutionConfigFile != "":
		return v.errorf("execution_config_file", "set either subgraphs (line %d) or execution_config_file, not both", v.d.line("subgraphs"))
	case c.ExecutionConfigFile != "":
		return v.file("execution_config_file", "execution_config_file", &c.ExecutionConfigFile)
	case hasList:
		if len(c.Subgraphs) == 0 {
			return v.errorf("subgraphs", "subgraphs is empty: list at least one subgraph")
		}
	default:
		return v.errorf("", "neither subgraphs nor execution_config_file is set: list the subgraphs, or name a Cosmo execution config")
	}
	firstLine := map[string]int{}
	for i := range c.Subgraphs {
		if err := v.subgraph(i, firstLine); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) subgraph(i int, firstLine map[string]int) error {
	s := &v.c.Subgraphs[i]
	p := fmt.Sprintf("subgraphs[%d]", i)
	if s.Name == "" {
		return v.errorf(p, "%s: name is required", p)
	}
	if first, dup := firstLine[s.Name]; dup {
		return v.errorf(p+".name", "subgraph name %q is used twice (first at line %d)", s.Name, first)
	}
	firstLine[s.Name] = v.d.line(p + ".name")
	label := fmt.Sprintf("subgraph %q: ", s.Name)

	if s.RoutingURL != "" {
		if err := v.url(p+".routing_url", label+"routing_url", s.RoutingURL, "http", "https"); err != nil {
			return err
		}
	}
	if s.Schema.File == "" {
		return v.errorf(p+".schema.file", "%sschema.file is required", label)
	}
	if err := v.file(p+".schema.file", label+"schema file", &s.Schema.File); err != nil {
		return err
	}
	s.Schema.Line = v.d.line(p + ".schema.file")

	sub := s.Subscription
	if sub == nil {
		return nil
	}
	sp := p + ".subscription"
	if err := v.enum(sp+".protocol", label+"subscription.protocol", sub.Protocol, ProtocolWS, ProtocolSSE, ProtocolSSEPost); err != nil {
		return err
	}
	if err := v.enum(sp+".websocket_subprotocol", label+"subscription.websocket_subprotocol", sub.WebSocketSubprotocol,
		SubprotocolAuto, SubprotocolGraphQLWS, SubprotocolGraphQLTransportWS); err != nil {
		return err
	}
	// An empty url means the routing URL (the subgraph serves subscriptions on its GraphQL
	// endpoint); WebSocket clients accept http(s) URLs as well.
	schemes := []string{"ws", "wss", "http", "https"}
	if sub.Protocol != ProtocolWS {
		schemes = []string{"http", "https"}
	}
	if sub.URL != "" {
		if err := v.url(sp+".url", label+"subscription.url", sub.URL, schemes...); err != nil {
			return err
		}
	}
	r, rp := sub.Retry, sp+".retry"
	switch {
	case r.MaxAttempts < 1:
		return v.errorf(rp+".max_attempts", "%ssubscription.retry.max_attempts must be at least 1", label)
	case r.Interval <= 0:
		return v.errorf(rp+".interval", "%ssubscription.retry.interval must be positive", label)
	case r.MaxDuration < r.Interval:
		return v.errorf(rp+".max_duration", "%ssubscription.retry.max_duration (%s) must not be less than interval (%s)", label, r.MaxDuration, r.Interval)
	}
	return nil
}

func (v *validator) headers() error {
	h := &v.c.Headers
	if err := v.headerRules("headers.all.request", h.All.Request); err != nil {
		return err
	}
	names := make([]string, 0, len(h.Subgraphs))
	for name := range h.Subgraphs {
		names = append(names, name)
	}
	// Report in file order, not map order.
	slices.SortFunc(names, func(a, b string) int {
		return v.d.line("headers.subgraphs."+a) - v.d.line("headers.subgraphs."+b)
	})
	var known []string
	for _, s := range v.c.Subgraphs {
		known = append(known, s.Name)
	}
	for _, name := range names {
		p := "headers.subgraphs." + name
		// With an execution config the subgraph names are not known until it is read.
		if len(known) > 0 && !slices.Contains(known, name) {
			return v.errorf(p, "headers.subgraphs: no subgraph is named %q%s", name, suggest(name, known))
		}
		if err := v.headerRules(p+".request", h.Subgraphs[name].Request); err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) headerRules(path string, rules []HeaderRule) error {
	for i := range rules {
		r := &rules[i]
		p := fmt.Sprintf("%s[%d]", path, i)
		var err error
		switch r.Op {
		case "":
			err = v.errorf(p, "%s: op is required (%s)", p, quoteList([]string{HeaderPropagate, HeaderSet}))
		case HeaderPropagate:
			err = v.propagateRule(p, r)
		case HeaderSet:
			err = v.setRule(p, r)
		default:
			err = v.enum(p+".op", p+".op", r.Op, HeaderPropagate, HeaderSet)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) propagateRule(p string, r *HeaderRule) error {
	switch {
	case r.Named == "" && r.Matching == "":
		return v.errorf(p, "%s: op propagate needs named or matching", p)
	case r.Named != "" && r.Matching != "":
		return v.errorf(p+".matching", "%s: set named or matching, not both", p)
	case r.Name != "" || r.Value != "":
		return v.errorf(p, "%s: name and value belong to op set; op propagate uses named or matching", p)
	case r.Matching != "" && (r.Rename != "" || r.Default != ""):
		return v.errorf(p, "%s: rename and default apply to named headers only, not to matching", p)
	}
	for _, f := range []struct{ key, val string }{{"named", r.Named}, {"rename", r.Rename}} {
		if f.val != "" && !httpguts.ValidHeaderFieldName(f.val) {
			return v.errorf(p+"."+f.key, "%s.%s: %q is not a valid header name", p, f.key, f.val)
		}
	}
	if r.Default != "" && !httpguts.ValidHeaderFieldValue(r.Default) {
		return v.errorf(p+".default", "%s.default: not a valid header value", p)
	}
	if r.Matching != "" {
		re, err := regexp.Compile(r.Matching)
		if err != nil {
			return v.errorf(p+".matching", "%s.matching: invalid regular expression %q: %v", p, r.Matching, strings.TrimPrefix(err.Error(), "error parsing regexp: "))
		}
		r.MatchingRegexp = re
	}
	return nil
}

func (v *validator) setRule(p string, r *HeaderRule) error {
	switch {
	case r.Named != "" || r.Matching != "" || r.Rename != "" || r.Default != "":
		return v.errorf(p, "%s: named, matching, rename and default belong to op propagate; op set uses name and value", p)
	case r.Name == "":
		return v.errorf(p, "%s: op set needs name", p)
	case !httpguts.ValidHeaderFieldName(r.Name):
		return v.errorf(p+".name", "%s.name: %q is not a valid header name", p, r.Name)
	case !httpguts.ValidHeaderFieldValue(r.Value):
		return v.errorf(p+".value", "%s.value: not a valid header value", p)
	}
	return nil
}

func (v *validator) providers() error {
	pr := &v.c.Events.Providers
	ids := map[string]int{}
	for i := range pr.NATS {
		if err := v.natsProvider(i, ids); err != nil {
			return err
		}
	}
	ids = map[string]int{}
	for i := range pr.Kafka {
		if err := v.kafkaProvider(i, ids); err != nil {
			return err
		}
	}
	ids = map[string]int{}
	for i := range pr.Redis {
		if err := v.redisProvider(i, ids); err != nil {
			return err
		}
	}
	return nil
}

// providerID checks the id of the provider at path p, unique within its kind.
func (v *validator) providerID(p, id string, firstLine map[string]int) error {
	if id == "" {
		return v.errorf(p, "%s: id is required (directives name it in providerId; theirs defaults to \"default\")", p)
	}
	if first, dup := firstLine[id]; dup {
		return v.errorf(p+".id", "%s: duplicate id %q (first at line %d)", p, id, first)
	}
	firstLine[id] = v.d.line(p + ".id")
	return nil
}

func (v *validator) natsProvider(i int, ids map[string]int) error {
	n := &v.c.Events.Providers.NATS[i]
	p := fmt.Sprintf("events.providers.nats[%d]", i)
	if err := v.providerID(p, n.ID, ids); err != nil {
		return err
	}
	if err := v.natsURLs(p+".url", n.URL); err != nil {
		return err
	}
	methods := 0
	for _, set := range []bool{n.Token != "", n.User != "" || n.Password != "", n.CredsFile != ""} {
		if set {
			methods++
		}
	}
	switch {
	case methods > 1:
		return v.errorf(p, "%s: use one of token, user and password, or creds_file", p)
	case n.Password != "" && n.User == "":
		return v.errorf(p+".password", "%s: password needs user", p)
	case n.URL == "" && methods > 0:
		return v.errorf(p, "%s: credentials need a url; without one the embedded server (which has no auth) is used", p)
	}
	if err := v.file(p+".creds_file", p+".creds_file", &n.CredsFile); err != nil {
		return err
	}
	if n.RequestTimeout <= 0 {
		return v.errorf(p+".request_timeout", "%s.request_timeout must be positive (it bounds the wait for a reply; default 5s)", p)
	}
	return v.authorization(p+".authorization", n.Authorization, subjectauth.NATSSubjects)
}

// natsURLs checks a NATS url: "" (embedded) or a comma-separated list of servers, each a
// URL (nats, tls, ws, wss) or a bare host:port, as the NATS client accepts.
func (v *validator) natsURLs(path, urls string) error {
	if urls == "" {
		return nil
	}
	for part := range strings.SplitSeq(urls, ",") {
		part = strings.TrimSpace(part)
		var err error
		if strings.Contains(part, "://") {
			err = v.url(path, path, part, "nats", "tls", "ws", "wss")
		} else {
			err = v.hostPort(path, path, part)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (v *validator) kafkaProvider(i int, ids map[string]int) error {
	k := &v.c.Events.Providers.Kafka[i]
	p := fmt.Sprintf("events.providers.kafka[%d]", i)
	if err := v.providerID(p, k.ID, ids); err != nil {
		return err
	}
	if len(k.Brokers) == 0 {
		return v.errorf(p+".brokers", "%s: brokers needs at least one host:port", p)
	}
	for j, b := range k.Brokers {
		bp := fmt.Sprintf("%s.brokers[%d]", p, j)
		if err := v.hostPort(bp, bp, b); err != nil {
			return err
		}
	}
	if t := k.TLS; t != nil {
		if (t.CertFile == "") != (t.KeyFile == "") {
			return v.errorf(p+".tls", "%s.tls: cert_file and key_file go together", p)
		}
		for _, f := range []struct {
			key string
			val *string
		}{{"ca_file", &t.CAFile}, {"cert_file", &t.CertFile}, {"key_file", &t.KeyFile}} {
			if err := v.file(p+".tls."+f.key, p+".tls."+f.key, f.val); err != nil {
				return err
			}
		}
	}
	if s := k.SASL; s != nil {
		if err := v.enum(p+".sasl.mechanism", p+".sasl.mechanism", s.Mechanism, SASLPlain, SASLScramSHA256, SASLScramSHA512); err != nil {
			return err
		}
		if s.Username == "" {
			return v.errorf(p+".sasl.username", "%s.sasl: username is required", p)
		}
	}
	return v.authorization(p+".authorization", k.Authorization, subjectauth.Names)
}

func (v *validator) redisProvider(i int, ids map[string]int) error {
	r := &v.c.Events.Providers.Redis[i]
	p := fmt.Sprintf("events.providers.redis[%d]", i)
	if err := v.providerID(p, r.ID, ids); err != nil {
		return err
	}
	switch {
	case len(r.URLs) == 0:
		return v.errorf(p+".urls", "%s: urls needs a redis:// or rediss:// URL", p)
	case len(r.URLs) > 1 && !r.Cluster:
		return v.errorf(p+".urls", "%s: %d urls for a single server; set cluster: true for a Redis Cluster", p, len(r.URLs))
	}
	for j, u := range r.URLs {
		up := fmt.Sprintf("%s.urls[%d]", p, j)
		if err := v.url(up, up, u, "redis", "rediss"); err != nil {
			return err
		}
	}
	return v.authorization(p+".authorization", r.Authorization, subjectauth.Names)
}

func (v *validator) limits() error {
	c := v.c
	switch {
	case c.WebSocket.InitTimeout <= 0:
		return v.errorf("websocket.init_timeout", "websocket.init_timeout must be positive")
	case c.WebSocket.MaxSubscriptionsPerConnection < 0:
		return v.errorf("websocket.max_subscriptions_per_connection", "websocket.max_subscriptions_per_connection must not be negative (0 means unlimited)")
	case c.WebSocket.MaxMessagesPerSecond < 0:
		return v.errorf("websocket.max_messages_per_second", "websocket.max_messages_per_second must not be negative (0 turns the limit off)")
	case c.WebSocket.MaxMessagesPerSecond > 0 && c.WebSocket.MessageBurst < 1:
		return v.errorf("websocket.message_burst", "websocket.message_burst must be at least 1 while websocket.max_messages_per_second is on")
	case c.WebSocket.MaxSubscribesPerSecond < 0:
		return v.errorf("websocket.max_subscribes_per_second", "websocket.max_subscribes_per_second must not be negative (0 turns the limit off)")
	case c.WebSocket.MaxSubscribesPerSecond > 0 && c.WebSocket.SubscribeBurst < 1:
		return v.errorf("websocket.subscribe_burst", "websocket.subscribe_burst must be at least 1 while websocket.max_subscribes_per_second is on")
	case c.Subscriptions.QueueSize < 1:
		return v.errorf("subscriptions.queue_size", "subscriptions.queue_size must be at least 1")
	case c.Subscriptions.EntityBatchWindow < 0 || c.Subscriptions.EntityBatchWindow > time.Second:
		return v.errorf("subscriptions.entity_batch_window", "subscriptions.entity_batch_window must be between 0 (off) and 1s")
	case c.Limits.MaxConnections < 0:
		return v.errorf("limits.max_connections", "limits.max_connections must not be negative (0 means unlimited)")
	case c.Limits.MaxOperationTokens < 1:
		return v.errorf("limits.max_operation_tokens", "limits.max_operation_tokens must be positive")
	case c.Limits.MaxOperationNesting < 1:
		return v.errorf("limits.max_operation_nesting", "limits.max_operation_nesting must be positive")
	case c.Limits.MaxPreparationTime < 0:
		return v.errorf("limits.max_preparation_time", "limits.max_preparation_time must not be negative (0 means unlimited)")
	case c.Limits.ReadHeaderTimeout <= 0:
		return v.errorf("limits.read_header_timeout", "limits.read_header_timeout must be positive")
	case c.Limits.ReadBodyTimeout < 0:
		return v.errorf("limits.read_body_timeout", "limits.read_body_timeout must not be negative (0 means unlimited)")
	case c.Limits.MaxLargeBodyRate < 0:
		return v.errorf("limits.max_large_body_rate", "limits.max_large_body_rate must not be negative (0 means unlimited)")
	case c.Limits.IdleTimeout < 0:
		return v.errorf("limits.idle_timeout", "limits.idle_timeout must not be negative (0 means never)")
	case c.Limits.MaxHeaderBytes < 1:
		return v.errorf("limits.max_header_bytes", "limits.max_header_bytes must be positive")
	case c.Limits.MaxPlanCacheEntries < 1:
		return v.errorf("limits.max_plan_cache_entries", "limits.max_plan_cache_entries must be positive")
	case c.Limits.MaxPlanCacheBytes < 1:
		return v.errorf("limits.max_plan_cache_bytes", "limits.max_plan_cache_bytes must be positive")
	case c.Limits.MaxPreparedOperations < 1:
		return v.errorf("limits.max_prepared_operations", "limits.max_prepared_operations must be positive")
	case c.Limits.MaxPreparedOperationBytes < 1:
		return v.errorf("limits.max_prepared_operation_bytes", "limits.max_prepared_operation_bytes must be positive")
	}
	for _, l := range []struct {
		key   string
		value int
	}{
		{"max_query_depth", c.Limits.MaxQueryDepth},
		{"max_operation_fields", c.Limits.MaxOperationFields},
		{"max_operation_aliases", c.Limits.MaxOperationAliases},
		{"max_root_fields", c.Limits.MaxRootFields},
		{"max_fragments", c.Limits.MaxFragments},
		{"max_directives_per_location", c.Limits.MaxDirectivesPerLocation},
		{"max_variable_definitions", c.Limits.MaxVariableDefinitions},
	} {
		if l.value < 0 {
			return v.errorf("limits."+l.key, "limits.%s must not be negative (0 means unlimited)", l.key)
		}
	}
	if d := c.Shutdown.DrainDelay + c.Shutdown.DrainWindow; d >= c.ShutdownTimeout {
		return v.errorf("shutdown", "shutdown_timeout (%s) must be longer than shutdown.drain_delay + shutdown.drain_window (%s), or the drain is cut short", c.ShutdownTimeout, d)
	}
	if err := v.enum("shutdown.clients", "shutdown.clients", c.Shutdown.Clients, ShutdownReconnect, ShutdownComplete); err != nil {
		return err
	}
	return v.enum("subscriptions.slow_consumer", "subscriptions.slow_consumer", c.Subscriptions.SlowConsumer,
		SlowConsumerDisconnect, SlowConsumerDropOldest)
}

func (v *validator) tls() error {
	t := v.c.TLS
	if t == nil {
		return nil
	}
	if t.CertFile == "" || t.KeyFile == "" {
		return v.errorf("tls", "tls needs both cert_file and key_file")
	}
	if err := v.file("tls.cert_file", "tls.cert_file", &t.CertFile); err != nil {
		return err
	}
	return v.file("tls.key_file", "tls.key_file", &t.KeyFile)
}

// enum checks that got is one of allowed; label starts the message.
func (v *validator) enum(path, label, got string, allowed ...string) error {
	if slices.Contains(allowed, got) {
		return nil
	}
	return v.errorf(path, "%s %q must be %s%s", label, got, quoteList(allowed), suggest(got, allowed))
}

// hostPort checks that addr is host:port with a numeric port (the host may be empty).
func (v *validator) hostPort(path, label, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		if n, perr := strconv.Atoi(port); perr != nil || n < 0 || n > 65535 {
			err = errors.New("bad port")
		}
	}
	if err != nil {
		return v.errorf(path, "%s %q is not host:port (e.g. 127.0.0.1:3002, or :3002 for every interface)", label, addr)
	}
	return nil
}

// url checks that raw is an absolute URL with a host and one of schemes.
func (v *validator) url(path, label, raw string, schemes ...string) error {
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains(schemes, u.Scheme) || u.Host == "" {
		want := make([]string, len(schemes))
		for i, s := range schemes {
			want[i] = s + "://"
		}
		return v.errorf(path, "%s %q is not a URL starting with %s", label, raw, strings.Join(want, " or "))
	}
	return nil
}

// abs resolves p against the config file's directory.
func (v *validator) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(v.dir, p)
}

// file checks that the file *p names exists and is not a directory, and makes *p absolute.
// An empty *p is left alone. Messages quote the path as written.
func (v *validator) file(path, label string, p *string) error {
	if *p == "" {
		return nil
	}
	abs := v.abs(*p)
	info, err := os.Stat(abs)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return v.errorf(path, "%s %q not found", label, *p)
	case err != nil:
		return v.errorf(path, "%s %q: %v", label, *p, err)
	case info.IsDir():
		return v.errorf(path, "%s %q is a directory", label, *p)
	}
	*p = abs
	return nil
}

// cors checks the allowed origins: "*" or scheme://host[:port] without a path.
func (v *validator) cors() error {
	c := v.c.CORS
	for i, o := range c.AllowedOrigins {
		path := fmt.Sprintf("cors.allowed_origins[%d]", i)
		if o == "*" {
			if c.AllowCredentials {
				return v.errorf(path, "cors.allowed_origins \"*\" cannot be combined with allow_credentials: true (browsers refuse it); list the origins")
			}
			continue
		}
		u, err := url.Parse(o)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
			return v.errorf(path, "cors.allowed_origins entry %q must be \"*\" or an origin like https://app.example.com", o)
		}
	}
	if c.MaxAge < 0 {
		return v.errorf("cors.max_age", "cors.max_age must not be negative")
	}
	return nil
}
