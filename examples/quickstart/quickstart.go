package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/gateway"
	"github.com/edgate/edgate/testkit/demo"
)

// Defaults of options. Each address falls back to a free port when it is taken.
const (
	DefaultGatewayAddr = "127.0.0.1:3002"
	DefaultPageAddr    = "127.0.0.1:3000"
	// DefaultNATSAddr keeps clear of a NATS server the machine may run on 4222.
	DefaultNATSAddr = "127.0.0.1:4223"
	// DefaultInterval is the gap between two demo events.
	DefaultInterval = time.Second
)

// options configure a quickstart. Zero values take the defaults above.
type options struct {
	GatewayAddr string
	PageAddr    string
	NATSAddr    string
	Interval    time.Duration
	Log         zerolog.Logger
}

// quickstart is everything the demo runs in one process: the embedded NATS server (owned by
// the gateway), the employees subgraph, the gateway, the event publisher and the page server.
type quickstart struct {
	gw        *gateway.Gateway
	served    chan error // the gateway's Serve result
	employees *http.Server
	page      *http.Server
	proxy     *http.Transport
	pub       *publisher
	dir       string // schema files and the generated config
	pageURL   string
	log       zerolog.Logger
}

// gatewayConfig is the gateway's configuration; the schema files sit next to it.
const gatewayConfig = `listen_addr: %q
graphql_path: /graphql
subgraphs:
  - name: employees
    routing_url: %q
    schema: { file: employees.graphql }
  - name: events                       # event-driven: served from NATS, no routing_url
    schema: { file: events.graphql }
events:
  providers:
    nats:
      - id: default                    # no url: use the embedded NATS server below
embedded_nats: { listen: %q, jetstream: false }
`

// start brings the demo up. On error everything already started is stopped again.
func start(ctx context.Context, opts options) (q *quickstart, err error) {
	if opts.GatewayAddr == "" {
		opts.GatewayAddr = DefaultGatewayAddr
	}
	if opts.PageAddr == "" {
		opts.PageAddr = DefaultPageAddr
	}
	if opts.NATSAddr == "" {
		opts.NATSAddr = DefaultNATSAddr
	}
	if opts.Interval <= 0 {
		opts.Interval = DefaultInterval
	}
	q = &quickstart{log: opts.Log}
	defer func() {
		if err != nil {
			q.stop(context.Background())
			q = nil
		}
	}()

	employees := demo.Employees()
	empLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("employees subgraph: %w", err)
	}
	q.employees = &http.Server{Handler: employees.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = q.employees.Serve(empLn) }()

	q.dir, err = os.MkdirTemp("", "edgate-quickstart-")
	if err != nil {
		return nil, err
	}
	files := map[string]string{"employees.graphql": employees.SDL, "events.graphql": demo.EventsSDL()}
	for name, sdl := range files {
		if err := os.WriteFile(filepath.Join(q.dir, name), []byte(sdl), 0o600); err != nil {
			return nil, err
		}
	}
	cfgText := fmt.Sprintf(gatewayConfig, usable(opts.GatewayAddr), "http://"+empLn.Addr().String()+"/graphql", usable(opts.NATSAddr))
	cfgPath := filepath.Join(q.dir, "edgate.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		return nil, err
	}
	cfg, err := config.Parse(cfgPath, []byte(cfgText))
	if err != nil {
		return nil, err
	}
	q.gw, err = gateway.New(ctx, cfg, opts.Log)
	if err != nil {
		return nil, err
	}
	q.served = make(chan error, 1)
	go func() { q.served <- q.gw.Serve() }()

	q.pub, err = startPublisher(q.gw.Embedded().ClientURL(), opts.Interval, opts.Log)
	if err != nil {
		return nil, err
	}

	pageLn, err := net.Listen("tcp", usable(opts.PageAddr))
	if err != nil {
		return nil, fmt.Errorf("page server: %w", err)
	}
	q.proxy = &http.Transport{}
	q.page = &http.Server{Handler: q.pageRoutes(), ReadHeaderTimeout: 10 * time.Second}
	q.pageURL = "http://" + pageLn.Addr().String() + "/"
	go func() { _ = q.page.Serve(pageLn) }()
	return q, nil
}

// pageRoutes serves the page and forwards /graphql (and, for the GraphQL IDE the gateway
// serves there, /graphql/playground/) to the gateway. The page reaches the gateway through
// its own origin because the gateway sends no CORS headers, which an EventSource on another
// origin needs; WebSocket upgrades pass through the same way.
func (q *quickstart) pageRoutes() http.Handler {
	target, _ := url.Parse("http://" + q.gw.Addr())
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.Transport = q.proxy
	proxy.FlushInterval = -1 // stream every SSE frame at once
	mux := http.NewServeMux()
	mux.Handle("/graphql", proxy)
	mux.Handle("/graphql/", proxy)
	mux.Handle("/", pageHandler(q.gw.URL()))
	return mux
}

// stop shuts everything down: the publisher first, then the gateway (SSE clients get
// `complete`, WebSocket clients close 1001, the embedded NATS server stops), then the
// servers around it. It is safe on a partly started quickstart.
func (q *quickstart) stop(ctx context.Context) {
	if q.pub != nil {
		q.pub.stop()
	}
	if q.gw != nil {
		if err := q.gw.Shutdown(ctx); err != nil {
			q.log.Warn().Err(err).Msg("gateway shutdown")
		}
		if q.served != nil {
			if err := <-q.served; err != nil {
				q.log.Warn().Err(err).Msg("gateway serve")
			}
		}
	}
	for _, s := range []*http.Server{q.page, q.employees} {
		if s != nil {
			if err := s.Shutdown(ctx); err != nil && !errors.Is(err, context.Canceled) {
				_ = s.Close()
			}
		}
	}
	if q.proxy != nil {
		q.proxy.CloseIdleConnections()
	}
	if q.dir != "" {
		_ = os.RemoveAll(q.dir)
	}
}

// GraphQLURL is the gateway's GraphQL endpoint.
func (q *quickstart) GraphQLURL() string { return q.gw.URL() }

// PageURL is the address of the demo page.
func (q *quickstart) PageURL() string { return q.pageURL }

// NATSURL is the embedded NATS server's client URL, for `nats pub`.
func (q *quickstart) NATSURL() string { return q.gw.Embedded().ClientURL() }

// usable returns addr when it can be listened on now, and the same host with port 0 (a free
// port chosen at bind time) otherwise, so a busy default does not stop the demo.
func usable(addr string) string {
	ln, err := net.Listen("tcp", addr)
	if err == nil {
		_ = ln.Close()
		return addr
	}
	host, _, splitErr := net.SplitHostPort(addr)
	if splitErr != nil || host == "" {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, "0")
}
