// Package gateway wires edgate together from a loaded configuration: schema composition,
// broker providers, the engine, the transports and the HTTP server. cmd/edgate, the
// examples and the end-to-end tests all start a gateway through it.
package gateway

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/httpserver"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/playground"
	"github.com/edgate/edgate/internal/subjectauth"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/sse"
	"github.com/edgate/edgate/ws"
)

// Gateway is a running edgate instance.
type Gateway struct {
	cfg      *config.Config
	log      zerolog.Logger
	embedded *eventsource.Embedded
	registry *eventsource.Registry
	engines  *resolve.Reloader
	sse      *sse.Handler
	ws       *ws.Handler
	// playground is the GraphQL IDE; nil when playground.enabled is false.
	playground *playground.Handler
	writer     *netwriter.Pool // writes SSE streams, HTTP/2 connections and WebSockets
	server     *httpserver.Server
	stats      *resolve.Stats
	metrics    *telemetry.Metrics // latency histograms, shared by every engine across reloads
	// tracing is the trace exporter's provider when telemetry.tracing is on, else nil.
	tracing *sdktrace.TracerProvider
	// gatherer is the registry of every metric: /metrics serves it, meters pushes it.
	gatherer *prometheus.Registry
	// meters pushes the metrics over OTLP when telemetry.metrics.otlp is on, else nil.
	meters *sdkmetric.MeterProvider
	// authz holds the subject authorization of each provider that has one; providers
	// cannot change on reload, so neither can it.
	authz map[eventsource.ProviderID]*subjectauth.Policy

	ctx      context.Context
	reloadMu sync.Mutex // serializes reloads; guards cfg for them
	// scheme and path never change on reload (see restartRequired), so URL needs no lock.
	scheme, path string

	// hooks are the Go hooks of WithHooks; they outlive reloads.
	hooks resolve.Hooks

	ready    atomic.Bool
	stopOnce sync.Once
	stopErr  error
}

// New builds everything the configuration describes and binds the listener; Serve starts
// accepting requests. On error everything already started is stopped again.
func New(ctx context.Context, cfg *config.Config, log zerolog.Logger, options ...Option) (_ *Gateway, err error) {
	g := &Gateway{cfg: cfg, log: log, stats: &resolve.Stats{}, metrics: telemetry.NewMetrics(), ctx: ctx, scheme: "http", path: cfg.GraphQLPath}
	for _, o := range options {
		o(g)
	}
	if err := resolve.CheckHooks(g.hooks); err != nil {
		return nil, err // before anything starts
	}
	if cfg.TLS != nil {
		g.scheme = "https"
	}
	defer func() {
		if err != nil {
			if g.engines != nil {
				g.engines.Shutdown(resolve.End{Code: resolve.EndShutdown})
			}
			if g.writer != nil {
				g.writer.Close()
			}
			g.stopMetrics(context.Background())
			g.closeBackends()
			g.stopTracing(context.Background())
		}
	}()
	if cfg.Telemetry.Tracing.Enabled || cfg.Telemetry.Metrics.OTLP.Enabled {
		// Failed exports (collector down) go to the gateway's log, not the standard
		// library's. The handler is process-wide, like the exporters' configuration.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn().Err(err).Str("component", "telemetry").Msg("opentelemetry export")
		}))
	}
	if t := cfg.Telemetry.Tracing; t.Enabled {
		if g.tracing, err = telemetry.NewTracerProvider(ctx, telemetry.TracingOptions{
			Exporter: t.Exporter, Endpoint: t.Endpoint, Headers: t.Headers, SamplingRatio: t.SamplingRatio, ServiceName: t.ServiceName,
		}); err != nil {
			return nil, fmt.Errorf("%s: telemetry.tracing: %w", cfg.Path, err)
		}
		telemetry.SetTracerProvider(g.tracing)
	}
	// Start the composer's JS VM while the configuration is checked and brokers connect.
	// New waits for it before returning, so that no goroutine of New outlives it (when the
	// composition below ran first, Prewarm returns at once).
	prewarmed := make(chan struct{})
	go func() {
		defer close(prewarmed)
		_ = schema.Prewarm()
	}()
	defer func() { <-prewarmed }()

	super, err := loadSupergraph(cfg)
	if err != nil {
		return nil, err
	}
	if err := cfg.CheckProviders(super.Bindings, schemaFileOf(cfg)); err != nil {
		return nil, err
	}
	if err := g.startProviders(ctx, super); err != nil {
		return nil, err
	}
	engine, err := g.newEngine(cfg, super)
	if err != nil {
		return nil, err
	}
	g.engines = resolve.NewReloader(engine)
	g.writer = netwriter.New(netwriter.Options{Log: log})
	g.sse = sse.NewHandler(sse.Options{
		Pool:              g.writer,
		Executor:          g.engines,
		Metrics:           g.metrics,
		HeartbeatInterval: offIfZero(cfg.SSE.HeartbeatInterval),
		RetryInterval:     offIfZero(cfg.SSE.RetryInterval),
		MaxBodyBytes:      int64(cfg.Limits.MaxRequestBodyBytes),
		ReadBodyTimeout:   offIfZero(cfg.Limits.ReadBodyTimeout),
		LargeBodyRate:     offIfZero(int64(cfg.Limits.MaxLargeBodyRate)),
		Log:               log,
	})
	if cfg.WebSocket.Enabled {
		g.ws = ws.NewHandler(ws.Options{
			Pool:                          g.writer,
			Executor:                      g.engines,
			Metrics:                       g.metrics,
			InitTimeout:                   cfg.WebSocket.InitTimeout,
			PingInterval:                  wsPingInterval(cfg.WebSocket.PingInterval),
			MaxSubscriptionsPerConnection: offIfZero(cfg.WebSocket.MaxSubscriptionsPerConnection),
			MaxMessageBytes:               offIfZero(int64(cfg.WebSocket.MaxMessageBytes)),
			MessagesPerSecond:             offIfZero(cfg.WebSocket.MaxMessagesPerSecond),
			MessageBurst:                  cfg.WebSocket.MessageBurst,
			SubscribesPerSecond:           offIfZero(cfg.WebSocket.MaxSubscribesPerSecond),
			SubscribeBurst:                cfg.WebSocket.SubscribeBurst,
			CheckOrigin:                   checkOrigin(cfg),
			Log:                           log,
		})
	}
	g.gatherer = metricsRegistry(g)
	if cfg.Playground.Enabled {
		if g.playground, err = playground.New(cfg.GraphQLPath); err != nil {
			return nil, err
		}
	}
	opts := httpserver.Options{
		Addr:              cfg.ListenAddr,
		Handler:           g.routes(),
		Log:               log,
		MaxConnections:    cfg.Limits.MaxConnections,
		ReadHeaderTimeout: cfg.Limits.ReadHeaderTimeout,
		IdleTimeout:       cfg.Limits.IdleTimeout,
		MaxHeaderBytes:    int(cfg.Limits.MaxHeaderBytes),
		Pool:              g.writer,
	}
	if cfg.TLS != nil {
		opts.TLSCertFile, opts.TLSKeyFile = cfg.TLS.CertFile, cfg.TLS.KeyFile
	}
	g.server, err = httpserver.Listen(opts)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", cfg.ListenAddr, err)
	}
	// After the listener: the export reads every gauge, g.server's among them.
	if m := cfg.Telemetry.Metrics.OTLP; m.Enabled {
		if g.meters, err = telemetry.NewMeterProvider(ctx, telemetry.MetricsOptions{
			Exporter: m.Exporter, Endpoint: m.Endpoint, Headers: m.Headers, Interval: m.Interval, ServiceName: m.ServiceName,
		}, g.gatherer); err != nil {
			g.server.Abandon()
			return nil, fmt.Errorf("%s: telemetry.metrics.otlp: %w", cfg.Path, err)
		}
	}
	g.ready.Store(true)
	return g, nil
}

// Addr is the address the gateway listens on.
func (g *Gateway) Addr() string { return g.server.Addr().String() }

// URL is the GraphQL endpoint URL.
func (g *Gateway) URL() string {
	return g.scheme + "://" + g.Addr() + g.path
}

// Engine exposes the current engine (for tests and examples).
func (g *Gateway) Engine() *resolve.Engine { return g.engines.Current() }

// newEngine builds an engine for cfg and super on the gateway's brokers.
func (g *Gateway) newEngine(cfg *config.Config, super *schema.Supergraph) (*resolve.Engine, error) {
	return resolve.New(g.ctx, resolve.Options{
		Supergraph:            super,
		Events:                g.registry,
		Headers:               headerRules(cfg),
		Upstream:              upstreamOptions(cfg),
		Authorization:         g.authz,
		Hooks:                 g.hooks,
		QueueSize:             cfg.Subscriptions.QueueSize,
		SlowPolicy:            slowPolicy(cfg.Subscriptions.SlowConsumer),
		Limits:                operationLimits(cfg.Limits),
		PreparationBudget:     preparationBudget(cfg.Limits.MaxPreparationTime),
		PlanCacheEntries:      cfg.Limits.MaxPlanCacheEntries,
		PlanCacheBytes:        int64(cfg.Limits.MaxPlanCacheBytes),
		MaxPreparedOperations: cfg.Limits.MaxPreparedOperations,
		MaxPreparedBytes:      int(cfg.Limits.MaxPreparedOperationBytes),
		// config's 0 is off, resolve's is its default
		EntityBatchWindow: cmp.Or(cfg.Subscriptions.EntityBatchWindow, -1),
		Stats:             g.stats,
		Metrics:           g.metrics,
		Log:               g.log,
	})
}

// preparationBudget maps limits.max_preparation_time onto resolve.Options, where 0 means
// the default and a negative budget none.
func preparationBudget(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// operationLimits maps the configuration's operation limits onto the engine's.
func operationLimits(l config.Limits) *resolve.OperationLimits {
	return &resolve.OperationLimits{
		Tokens:                l.MaxOperationTokens,
		Nesting:               l.MaxOperationNesting,
		Depth:                 l.MaxQueryDepth,
		Fields:                l.MaxOperationFields,
		Aliases:               l.MaxOperationAliases,
		RootFields:            l.MaxRootFields,
		Fragments:             l.MaxFragments,
		DirectivesPerLocation: l.MaxDirectivesPerLocation,
		Variables:             l.MaxVariableDefinitions,
	}
}

// Registry exposes the broker registry (for tests and examples).
func (g *Gateway) Registry() *eventsource.Registry { return g.registry }

// Embedded is the embedded NATS server, or nil when none was started.
func (g *Gateway) Embedded() *eventsource.Embedded { return g.embedded }

// Serve accepts requests until Shutdown; it returns nil after a graceful shutdown.
func (g *Gateway) Serve() error { return g.server.Serve() }

// Shutdown drains the instance the way cfg.Shutdown says: /health/ready answers 503 at
// once; requests are still served for the drain delay, so that load balancers notice;
// then the listener closes and the open subscriptions end, spread over the drain window,
// either told to reconnect (SSE: a `retry:` hint and no `complete`; WebSocket: close
// 1012) or completed (SSE `complete`, WebSocket `complete` then close 1001); then the
// brokers close. When ctx ends first, whatever is left is ended at once. It is
// idempotent.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.stopOnce.Do(func() {
		g.ready.Store(false)
		g.reloadMu.Lock()
		sh := g.cfg.Shutdown
		g.reloadMu.Unlock()
		if sh.DrainDelay > 0 {
			g.log.Info().Dur("drain_delay", sh.DrainDelay).Dur("drain_window", sh.DrainWindow).Str("clients", sh.Clients).
				Msg("not ready; serving until the drain delay has passed")
			t := time.NewTimer(sh.DrainDelay)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
			}
		}
		// The listener closes at once; the server waits for its requests, which include
		// the SSE streams that keep a goroutine, until the handlers below end them.
		served := make(chan error, 1)
		go func() { served <- g.server.Shutdown(ctx) }()
		complete := sh.Clients == config.ShutdownComplete
		var wg sync.WaitGroup
		if g.ws != nil {
			wg.Go(func() { g.ws.Shutdown(ctx, ws.ShutdownOptions{Window: sh.DrainWindow, Complete: complete}) })
		}
		g.sse.Shutdown(ctx, sse.ShutdownOptions{Window: sh.DrainWindow, Complete: complete})
		wg.Wait()
		g.engines.Shutdown(resolve.End{Code: resolve.EndShutdown, Reason: "the gateway is shutting down"})
		if err := <-served; err != nil {
			g.stopErr = fmt.Errorf("http shutdown: %w", err)
		}
		g.writer.Close()
		g.stopMetrics(ctx)
		g.closeBackends()
		g.stopTracing(ctx)
	})
	return g.stopErr
}

// stopMetrics exports the metrics a last time, so that the final counts of a drained
// instance reach the collector, and stops the export.
func (g *Gateway) stopMetrics(ctx context.Context) {
	if g.meters == nil {
		return
	}
	if err := g.meters.Shutdown(ctx); err != nil {
		g.log.Warn().Err(err).Msg("exporting metrics")
	}
}

// stopTracing turns tracing off and flushes the spans still buffered.
func (g *Gateway) stopTracing(ctx context.Context) {
	if g.tracing == nil {
		return
	}
	telemetry.SetTracerProvider(nil)
	if err := g.tracing.Shutdown(ctx); err != nil {
		g.log.Warn().Err(err).Msg("flushing traces")
	}
}

func (g *Gateway) closeBackends() {
	if g.registry != nil {
		if err := g.registry.Close(); err != nil {
			g.log.Warn().Err(err).Msg("closing event providers")
		}
	}
	if g.embedded != nil {
		g.embedded.Shutdown()
	}
}

func (g *Gateway) routes() http.Handler {
	mux := http.NewServeMux()
	graphql := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if g.ws != nil && ws.IsUpgrade(r) {
			g.ws.ServeHTTP(w, r)
			return
		}
		if g.playground != nil && playground.Wants(r) {
			g.playground.ServePage(w, r)
			return
		}
		g.sse.ServeHTTP(w, r)
	})
	mux.Handle(g.cfg.GraphQLPath, telemetry.RequestIDs(g.log, telemetry.Tracing(withCORS(g.cfg.CORS, graphql))))
	if g.playground != nil {
		mux.Handle(playground.AssetPrefix(g.cfg.GraphQLPath), http.HandlerFunc(g.playground.ServeAsset))
	}
	mux.HandleFunc("/health/live", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"status":"ok"}`))
	})
	mux.HandleFunc("/health/ready", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if !g.ready.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte(`{"status":"unavailable"}`))
			return
		}
		_, _ = w.Write([]byte(`{"status":"ready"}`))
	})
	mux.Handle("/metrics", metricsHandler(g.gatherer))
	return mux
}

// ClientSchema composes the configured graph (or loads the execution config) and returns
// the schema clients see, as SDL: what introspection returns, for code generators and
// reviews. It starts nothing.
func ClientSchema(cfg *config.Config) (string, error) {
	super, err := loadSupergraph(cfg)
	if err != nil {
		return "", err
	}
	return super.ClientSDL()
}

// loadSupergraph composes the configured subgraphs or loads the execution config.
func loadSupergraph(cfg *config.Config) (*schema.Supergraph, error) {
	if cfg.ExecutionConfigFile != "" {
		return schema.LoadExecutionConfig(cfg.ExecutionConfigFile)
	}
	sources := make([]schema.SubgraphSource, 0, len(cfg.Subgraphs))
	for _, sg := range cfg.Subgraphs {
		sdl, err := os.ReadFile(sg.Schema.File)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: subgraph %q: %w", cfg.Path, sg.Schema.Line, sg.Name, err)
		}
		src := schema.SubgraphSource{Name: sg.Name, RoutingURL: sg.RoutingURL, SDL: string(sdl), File: sg.Schema.File}
		if s := sg.Subscription; s != nil {
			src.Subscription = &schema.UpstreamSubscription{URL: s.URL, Protocol: s.Protocol, WSSubprotocol: s.WebSocketSubprotocol}
		}
		sources = append(sources, src)
	}
	return schema.Compose(sources)
}

func schemaFileOf(cfg *config.Config) func(string) string {
	return func(subgraph string) string {
		for _, sg := range cfg.Subgraphs {
			if sg.Name == subgraph {
				return sg.Schema.File
			}
		}
		if cfg.ExecutionConfigFile != "" {
			return cfg.ExecutionConfigFile
		}
		return subgraph
	}
}

// startProviders connects every configured broker and registers it under its
// eventsource.ProviderID. NATS providers without a URL use the embedded server.
func (g *Gateway) startProviders(ctx context.Context, super *schema.Supergraph) error {
	cfg := g.cfg
	g.registry = eventsource.NewRegistry(g.log.With().Str("component", "events").Logger())
	g.registry.SetMetrics(g.metrics)
	if hook, timeout := resolve.BeforeDispatch(g.hooks); hook != nil {
		g.registry.SetBeforeDispatch(hook, timeout)
	}
	g.authz = map[eventsource.ProviderID]*subjectauth.Policy{}
	var embeddedURL string
	for _, p := range cfg.Events.Providers.NATS {
		natsID := eventsource.ProviderID{Kind: string(directives.NATS), ID: p.ID}
		url := p.URL
		if url == "" {
			if g.embedded == nil {
				emb, err := eventsource.StartEmbedded(eventsource.EmbeddedOptions{
					Listen:    cfg.EmbeddedNATS.Listen,
					JetStream: cfg.EmbeddedNATS.JetStream,
					StoreDir:  cfg.EmbeddedNATS.StoreDir,
					Log:       g.log.With().Str("component", "embedded-nats").Logger(),
				})
				if err != nil {
					return fmt.Errorf("%s:%d: nats provider %q: start the embedded NATS server: %w", cfg.Path, p.Line, p.ID, err)
				}
				g.embedded = emb
				embeddedURL = emb.ClientURL()
				g.log.Info().Str("url", embeddedURL).Msg("embedded NATS server started")
			}
			url = embeddedURL
		}
		n, err := eventsource.NewNATS(ctx, eventsource.NATSOptions{
			ID: natsID.String(), URL: url, Token: p.Token, User: p.User, Password: p.Password, CredsFile: p.CredsFile,
			InstanceID: instanceID(cfg), RequestTimeout: p.RequestTimeout,
			Log: g.log, // the provider adds its "provider" key
		})
		if err != nil {
			return fmt.Errorf("%s:%d: nats provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
		if err := g.registry.Add(n); err != nil {
			_ = n.Close()
			return err
		}
		if err := g.addAuthorization(natsID, p.Authorization, subjectauth.NATSSubjects); err != nil {
			return fmt.Errorf("%s:%d: nats provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
	}
	for _, p := range cfg.Events.Providers.Kafka {
		kafkaID := eventsource.ProviderID{Kind: string(directives.Kafka), ID: p.ID}
		opts := eventsource.KafkaOptions{
			ID: kafkaID.String(), Brokers: p.Brokers, FetchMaxWait: p.FetchMaxWait, StrictStartup: p.StrictStartup,
			PartitionCheckInterval: p.PartitionCheckInterval,
			Log:                    g.log, // the provider adds its "provider" key
		}
		if p.TLS != nil {
			tc, err := clientTLS(p.TLS)
			if err != nil {
				return fmt.Errorf("%s:%d: kafka provider %q: %w", cfg.Path, p.Line, p.ID, err)
			}
			opts.TLS = tc
		}
		if p.SASL != nil {
			opts.SASL = &eventsource.KafkaSASL{Mechanism: p.SASL.Mechanism, Username: p.SASL.Username, Password: p.SASL.Password}
		}
		k, err := eventsource.NewKafka(ctx, opts)
		if err != nil {
			return fmt.Errorf("%s:%d: kafka provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
		if err := g.registry.Add(k); err != nil {
			_ = k.Close()
			return err
		}
		if err := g.addAuthorization(kafkaID, p.Authorization, subjectauth.Names); err != nil {
			return fmt.Errorf("%s:%d: kafka provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
	}
	for _, p := range cfg.Events.Providers.Redis {
		redisID := eventsource.ProviderID{Kind: string(directives.Redis), ID: p.ID}
		r, err := eventsource.NewRedis(ctx, eventsource.RedisOptions{
			ID: redisID.String(), URLs: p.URLs, Cluster: p.Cluster,
			Log: g.log, // the provider adds its "provider" key
		})
		if err != nil {
			return fmt.Errorf("%s:%d: redis provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
		if err := g.registry.Add(r); err != nil {
			_ = r.Close()
			return err
		}
		if err := g.addAuthorization(redisID, p.Authorization, subjectauth.Names); err != nil {
			return fmt.Errorf("%s:%d: redis provider %q: %w", cfg.Path, p.Line, p.ID, err)
		}
	}
	return nil
}

// addAuthorization builds the subject authorization of provider id from its config
// section (config.Load has checked it); a provider without one stays open.
func (g *Gateway) addAuthorization(id eventsource.ProviderID, a *config.Authorization, syntax subjectauth.Syntax) error {
	if a == nil {
		return nil
	}
	c := subjectauth.Config{
		Algorithms: a.JWT.Algorithms, Issuer: a.JWT.Issuer, Audience: a.JWT.Audience, Leeway: a.JWT.Leeway,
		Claim: a.Claim, Syntax: syntax, AllowAnonymous: a.AllowAnonymous, AnonymousSubjects: a.AnonymousSubjects,
	}
	if a.JWT.Secret != "" {
		c.Secret = []byte(a.JWT.Secret)
	} else {
		pub, err := subjectauth.LoadPublicKey(a.JWT.PublicKeyFile)
		if err != nil {
			return fmt.Errorf("authorization: %w", err)
		}
		c.PublicKey = pub
	}
	p, err := subjectauth.New(c)
	if err != nil {
		return fmt.Errorf("authorization: %w", err)
	}
	g.authz[id] = p
	return nil
}

// instanceID names this replica's JetStream durable consumers: stable across restarts of
// one host and listen address, distinct between replicas.
func instanceID(cfg *config.Config) string {
	host, _ := os.Hostname()
	r := strings.NewReplacer(".", "_", ":", "_", "*", "_", ">", "_", " ", "_")
	return r.Replace(host + "_" + cfg.ListenAddr)
}

func clientTLS(c *config.ClientTLS) (*tls.Config, error) {
	tc := &tls.Config{InsecureSkipVerify: c.InsecureSkipVerify, MinVersion: tls.VersionTLS12} //nolint:gosec // opt-in by config
	if c.CAFile != "" {
		pem, err := os.ReadFile(c.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("ca_file holds no PEM certificate")
		}
		tc.RootCAs = pool
	}
	if c.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(c.CertFile, c.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("load client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

func headerRules(cfg *config.Config) resolve.HeaderRules {
	conv := func(in []config.HeaderRule) []resolve.HeaderRule {
		out := make([]resolve.HeaderRule, 0, len(in))
		for _, r := range in {
			out = append(out, resolve.HeaderRule{Op: r.Op, Named: r.Named, Matching: r.MatchingRegexp, Rename: r.Rename, Default: r.Default, Name: r.Name, Value: r.Value})
		}
		return out
	}
	rules := resolve.HeaderRules{All: conv(cfg.Headers.All.Request)}
	if len(cfg.Headers.Subgraphs) > 0 {
		rules.Subgraphs = make(map[string][]resolve.HeaderRule, len(cfg.Headers.Subgraphs))
		for name, set := range cfg.Headers.Subgraphs {
			rules.Subgraphs[name] = conv(set.Request)
		}
	}
	return rules
}

func slowPolicy(s string) resolve.SlowPolicy {
	if s == config.SlowConsumerDropOldest {
		return resolve.DropOldest
	}
	return resolve.Disconnect
}

// shutdownTimeout is the configured grace period.
func (g *Gateway) ShutdownTimeout() time.Duration {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	return g.cfg.ShutdownTimeout
}

// offIfZero maps the configuration's "0: none / unlimited" onto the transports' negative
// value, as their zero value means their default.
func offIfZero[T ~int | ~int64](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// wsPingInterval maps the config's "0s: no keep-alive" onto the ws package's negative value
// (its zero value means the default).
func wsPingInterval(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
