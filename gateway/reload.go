package gateway

import (
	"context"
	"fmt"
	"os"
	"reflect"
	"time"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/resolve"
)

// Reload re-reads the configuration file and the schema files, composes the new schema
// beside the running one and switches to it (SPEC section 6). Running subscriptions whose
// operation still validates stay open on their broker consumers; the others end with
// their errors. A reload that fails (bad file, composition error, a change that needs a
// restart) changes nothing and returns the reason.
func (g *Gateway) Reload(ctx context.Context) (resolve.ReloadResult, error) {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	cfg, err := config.Load(g.cfg.Path)
	if err != nil {
		return resolve.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	if err := restartRequired(g.cfg, cfg); err != nil {
		return resolve.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	super, err := loadSupergraph(cfg)
	if err != nil {
		return resolve.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	if err := cfg.CheckProviders(super.Bindings, schemaFileOf(cfg)); err != nil {
		return resolve.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	engine, err := g.newEngine(cfg, super)
	if err != nil {
		return resolve.ReloadResult{}, fmt.Errorf("reload: %w", err)
	}
	res, err := g.engines.Swap(engine)
	if err != nil {
		engine.Shutdown(resolve.End{Code: resolve.EndShutdown})
		return res, fmt.Errorf("reload: %w", err)
	}
	g.cfg = cfg
	g.log.Info().Int("kept", res.Kept).Int("ended", res.Ended).Msg("configuration reloaded")
	return res, nil
}

// restartRequired names the first setting that changed and cannot change while running:
// everything but the subgraphs, the execution config, the header rules and the query limits.
func restartRequired(old, next *config.Config) error {
	o, n := reloadInvariant(old), reloadInvariant(next)
	ov, nv := reflect.ValueOf(o), reflect.ValueOf(n)
	for i := 0; i < ov.NumField(); i++ {
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			return fmt.Errorf("%s changed: restart the gateway to apply it (the running configuration is kept)", ov.Type().Field(i).Tag.Get("key"))
		}
	}
	return nil
}

// invariant holds the settings a reload may not change; tags name their config keys.
type invariant struct {
	ListenAddr     string               `key:"listen_addr"`
	GraphQLPath    string               `key:"graphql_path"`
	TLS            *config.TLS          `key:"tls"`
	Providers      config.Providers     `key:"events.providers"`
	EmbeddedNATS   config.EmbeddedNATS  `key:"embedded_nats"`
	SSE            config.SSE           `key:"sse"`
	WebSocket      config.WebSocket     `key:"websocket"`
	Subscriptions  config.Subscriptions `key:"subscriptions"`
	MaxConnections int                  `key:"limits.max_connections"`
	MaxBody        config.ByteSize      `key:"limits.max_request_body_bytes"`
	HeaderTimeout  time.Duration        `key:"limits.read_header_timeout"`
	BodyTimeout    time.Duration        `key:"limits.read_body_timeout"`
	LargeBodyRate  config.ByteSize      `key:"limits.max_large_body_rate"`
	IdleTimeout    time.Duration        `key:"limits.idle_timeout"`
	MaxHeader      config.ByteSize      `key:"limits.max_header_bytes"`
	Log            config.Log           `key:"log"`
	CORS           config.CORS          `key:"cors"`
	Playground     config.Playground    `key:"playground"`
	Telemetry      config.Telemetry     `key:"telemetry"`
}

func reloadInvariant(c *config.Config) invariant {
	p := config.Providers{}
	for _, n := range c.Events.Providers.NATS {
		n.Line = 0
		p.NATS = append(p.NATS, n)
	}
	for _, k := range c.Events.Providers.Kafka {
		k.Line = 0
		p.Kafka = append(p.Kafka, k)
	}
	for _, r := range c.Events.Providers.Redis {
		r.Line = 0
		p.Redis = append(p.Redis, r)
	}
	return invariant{
		ListenAddr: c.ListenAddr, GraphQLPath: c.GraphQLPath, TLS: c.TLS, Providers: p,
		EmbeddedNATS: c.EmbeddedNATS, SSE: c.SSE, WebSocket: c.WebSocket, Subscriptions: c.Subscriptions,
		MaxConnections: c.Limits.MaxConnections, MaxBody: c.Limits.MaxRequestBodyBytes, Log: c.Log, CORS: c.CORS,
		HeaderTimeout: c.Limits.ReadHeaderTimeout, BodyTimeout: c.Limits.ReadBodyTimeout, LargeBodyRate: c.Limits.MaxLargeBodyRate, IdleTimeout: c.Limits.IdleTimeout, MaxHeader: c.Limits.MaxHeaderBytes,
		Playground: c.Playground, Telemetry: c.Telemetry,
	}
}

// WatchedFiles lists the files whose change should trigger a reload: the configuration
// and every schema or execution config file it names.
func (g *Gateway) WatchedFiles() []string {
	g.reloadMu.Lock()
	defer g.reloadMu.Unlock()
	files := []string{g.cfg.Path}
	if g.cfg.ExecutionConfigFile != "" {
		files = append(files, g.cfg.ExecutionConfigFile)
	}
	for _, sg := range g.cfg.Subgraphs {
		files = append(files, sg.Schema.File)
	}
	return files
}

// Watch reloads whenever one of WatchedFiles changes (size or modification time), polling
// every interval until ctx ends. Polling keeps it portable and costs a few stat calls.
func (g *Gateway) Watch(ctx context.Context, interval time.Duration) {
	snapshot := func() map[string]string {
		out := map[string]string{}
		for _, f := range g.WatchedFiles() {
			if st, err := os.Stat(f); err == nil {
				out[f] = fmt.Sprintf("%d/%d", st.Size(), st.ModTime().UnixNano())
			} else {
				out[f] = "missing"
			}
		}
		return out
	}
	last := snapshot()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := snapshot()
		if reflect.DeepEqual(now, last) {
			continue
		}
		last = now
		if _, err := g.Reload(ctx); err != nil {
			g.log.Error().Err(err).Msg("reload failed; the running configuration is kept")
			continue
		}
		last = snapshot()
	}
}
