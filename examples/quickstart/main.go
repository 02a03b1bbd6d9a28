// Command quickstart runs the whole edgate demo in one process, with nothing installed:
//
//	go run ./examples/quickstart
//
// It starts an embedded NATS server, the demo employees subgraph, the gateway, a publisher
// of employee events and a web page that shows the live updates over SSE and WebSocket.
// Ctrl-C stops everything.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "quickstart: %v\n", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("quickstart", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts options
	fs.StringVar(&opts.GatewayAddr, "addr", DefaultGatewayAddr, "gateway listen address (a free port is used when it is taken)")
	fs.StringVar(&opts.PageAddr, "page", DefaultPageAddr, "web page listen address (a free port is used when it is taken)")
	fs.StringVar(&opts.NATSAddr, "nats", DefaultNATSAddr, "embedded NATS server listen address (a free port is used when it is taken)")
	fs.DurationVar(&opts.Interval, "interval", DefaultInterval, "time between two demo events")
	level := fs.String("log", "warn", "gateway log level: debug, info, warn, error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	lvl, err := zerolog.ParseLevel(*level)
	if err != nil {
		return fmt.Errorf("-log %q: %w", *level, err)
	}
	opts.Log = zerolog.New(zerolog.ConsoleWriter{Out: stderr, TimeFormat: time.TimeOnly}).Level(lvl).With().Timestamp().Logger()

	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	return serve(ctx, opts, stdout)
}

// serve starts the quickstart, prints where to look, and stops it when ctx ends.
func serve(ctx context.Context, opts options, stdout io.Writer) error {
	q, err := start(ctx, opts)
	if err != nil {
		return err
	}
	printBanner(stdout, q)
	<-ctx.Done()
	fmt.Fprintln(stdout, "\nstopping…")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.stop(stopCtx)
	return nil
}

func printBanner(w io.Writer, q *quickstart) {
	// QueryEscape writes "+" for spaces; "%20" reads the same in every shell and client.
	sub := strings.ReplaceAll(url.QueryEscape("subscription{employeeUpdates{id name role}}"), "+", "%20")
	fmt.Fprintf(w, `edgate quickstart is running.

  Web page (live updates over SSE and WebSocket):
    %s

  GraphQL endpoint:
    %s

  The same stream in a terminal:
    curl -N -H 'Accept: text/event-stream' '%s?query=%s'

  Publish an event yourself (NATS CLI):
    nats -s %s pub employeeUpdated.3 '{"__typename":"Employee","id":3}'

Press Ctrl-C to stop.
`, q.PageURL(), q.GraphQLURL(), q.GraphQLURL(), sub, q.NATSURL())
}
