// Package stack runs what every broker example needs around its broker: the demo employees
// subgraph (where the gateway fetches the fields an event does not carry) and a gateway
// started from the example's edgate.yaml.
package stack

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/gateway"
	"github.com/edgate/edgate/testkit/demo"
)

// Stack is a running employees subgraph and gateway.
type Stack struct {
	Gateway   *gateway.Gateway
	employees *http.Server
	served    chan error
	log       zerolog.Logger
}

// ConfigPath finds an example's edgate.yaml: examples/<name>/edgate.yaml when run from the
// repository root (go run ./examples/<name>), else edgate.yaml in the working directory.
func ConfigPath(name string) string {
	p := filepath.Join("examples", name, "edgate.yaml")
	if _, err := os.Stat(p); err == nil {
		return p
	}
	return "edgate.yaml"
}

// Start serves the demo employees subgraph on the host and port of the "employees"
// subgraph's routing_url (a free port when that one is taken; cfg is updated to match) and
// then starts the gateway of cfg with options (hooks). On error everything started is
// stopped again.
func Start(ctx context.Context, cfg *config.Config, log zerolog.Logger, options ...gateway.Option) (s *Stack, err error) {
	s = &Stack{log: log}
	defer func() {
		if err != nil {
			s.Stop(context.Background())
			s = nil
		}
	}()
	sg := employeesSubgraph(cfg)
	if sg == nil {
		return nil, errors.New(`the config has no "employees" subgraph`)
	}
	u, err := url.Parse(sg.RoutingURL)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("employees routing_url %q: not an http URL", sg.RoutingURL)
	}
	ln, err := net.Listen("tcp", u.Host)
	if err != nil {
		if ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
			return nil, fmt.Errorf("employees subgraph: %w", err)
		}
		log.Info().Str("wanted", u.Host).Str("using", ln.Addr().String()).Msg("employees subgraph address taken; using a free port")
		u.Host = ln.Addr().String()
		sg.RoutingURL = u.String()
	}
	s.employees = &http.Server{Handler: demo.Employees().Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.employees.Serve(ln) }()

	if s.Gateway, err = gateway.New(ctx, cfg, log, options...); err != nil {
		return nil, err
	}
	s.served = make(chan error, 1)
	go func() { s.served <- s.Gateway.Serve() }()
	return s, nil
}

func employeesSubgraph(cfg *config.Config) *config.Subgraph {
	for i := range cfg.Subgraphs {
		if cfg.Subgraphs[i].Name == "employees" {
			return &cfg.Subgraphs[i]
		}
	}
	return nil
}

// Stop shuts the gateway down (clients get `complete`) and then the subgraph.
func (s *Stack) Stop(ctx context.Context) {
	if s.Gateway != nil {
		if err := s.Gateway.Shutdown(ctx); err != nil {
			s.log.Warn().Err(err).Msg("gateway shutdown")
		}
		if s.served != nil {
			if err := <-s.served; err != nil {
				s.log.Warn().Err(err).Msg("gateway serve")
			}
		}
	}
	if s.employees != nil {
		if err := s.employees.Shutdown(ctx); err != nil {
			_ = s.employees.Close()
		}
	}
}

// PrintBanner tells the user where to subscribe and how to publish.
func (s *Stack) PrintBanner(w io.Writer, subscription string, publish ...string) {
	q := strings.ReplaceAll(url.QueryEscape(subscription), "+", "%20")
	fmt.Fprintf(w, "gateway: %s\n\nsubscribe:\n  curl -N -H 'Accept: text/event-stream' '%s?query=%s'\n", s.Gateway.URL(), s.Gateway.URL(), q)
	if len(publish) > 0 {
		fmt.Fprintf(w, "\npublish:\n")
		for _, p := range publish {
			fmt.Fprintf(w, "  %s\n", p)
		}
	}
	fmt.Fprintln(w, "\nPress Ctrl-C to stop.")
}

// Logger is the examples' console logger at level ("debug", "info", "warn", ...).
func Logger(w io.Writer, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(level)
	if err != nil {
		return zerolog.Nop(), fmt.Errorf("log level %q: %w", level, err)
	}
	return zerolog.New(zerolog.ConsoleWriter{Out: w, TimeFormat: time.TimeOnly}).Level(lvl).With().Timestamp().Logger(), nil
}

// FirstSSEEvent subscribes with GET over SSE and returns the data of the first `next`
// event, for the examples' smoke tests.
func FirstSSEEvent(ctx context.Context, endpoint, query string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?query="+url.QueryEscape(query), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		return "", fmt.Errorf("status %d, content type %q: %s", resp.StatusCode, ct, body)
	}
	sc := bufio.NewScanner(resp.Body)
	next := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			next = strings.TrimSpace(strings.TrimPrefix(line, "event:")) == "next"
		case next && strings.HasPrefix(line, "data:"):
			return strings.TrimSpace(strings.TrimPrefix(line, "data:")), nil
		}
	}
	if err := sc.Err(); err != nil {
		return "", err
	}
	return "", errors.New("the stream ended without a next event")
}
