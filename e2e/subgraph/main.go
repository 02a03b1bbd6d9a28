// Command subgraph serves the demo employees subgraph for the end-to-end suite:
//
//	go run ./e2e/subgraph -addr 127.0.0.1:0
//
// It prints "listening on http://ADDR/graphql" once it accepts connections, so a script
// can start it on a random port and read the address back.
//
// GET /e2e/authorizations lists the distinct Authorization headers the subgraph has been
// sent, in order, so the suite can check what the gateway forwards (for example a token
// from a WebSocket connection_init payload).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"sync"
	"syscall"
	"time"

	"github.com/edgate/edgate/testkit/demo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "subgraph: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	addr := flag.String("addr", "127.0.0.1:4001", "address to listen on (port 0 picks a free one)")
	flag.Parse()

	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", *addr, err)
	}
	var seen authorizations
	mux := http.NewServeMux()
	mux.Handle("/graphql", seen.record(demo.Employees().Handler()))
	mux.HandleFunc("GET /e2e/authorizations", seen.serve)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	fmt.Printf("listening on http://%s/graphql\n", ln.Addr())

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return nil
}

// authorizations remembers the distinct Authorization headers of requests.
type authorizations struct {
	mu   sync.Mutex
	seen []string
}

func (a *authorizations) record(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.Header.Get("Authorization"); v != "" {
			a.mu.Lock()
			if !slices.Contains(a.seen, v) {
				a.seen = append(a.seen, v)
			}
			a.mu.Unlock()
		}
		next.ServeHTTP(w, r)
	})
}

func (a *authorizations) serve(w http.ResponseWriter, _ *http.Request) {
	a.mu.Lock()
	seen := append([]string{}, a.seen...)
	a.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(seen)
}
