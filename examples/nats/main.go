// Command nats runs edgate on core NATS with a Go service publishing employee updates:
//
//	go run ./examples/nats              # NATS at $NATS_URL, default nats://127.0.0.1:4222
//	go run ./examples/nats -embedded    # nothing installed: the embedded NATS server
//
// See README.md next to this file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "nats example: %v\n", err)
		os.Exit(1)
	}
}

// settings of one run; the zero value of each field keeps what edgate.yaml says.
type settings struct {
	configPath     string
	addr           string        // listen_addr override
	embedded       bool          // use the embedded NATS server instead of the url
	embeddedListen string        // embedded_nats.listen override
	interval       time.Duration // between two published events; 0 publishes nothing
	log            zerolog.Logger
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("nats", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.configPath, "config", stack.ConfigPath("nats"), "gateway config")
	fs.StringVar(&s.addr, "addr", "", "gateway listen address (default: listen_addr of the config)")
	fs.BoolVar(&s.embedded, "embedded", false, "use the embedded NATS server instead of $NATS_URL")
	fs.DurationVar(&s.interval, "interval", 2*time.Second, "publish an employee update this often (0: never)")
	level := fs.String("log", "info", "log level")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if s.log, err = stack.Logger(stderr, *level); err != nil {
		return err
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()

	e, err := start(ctx, s)
	if err != nil {
		return err
	}
	e.stack.PrintBanner(stdout, "subscription { employeeUpdates { id name role } }",
		fmt.Sprintf(`nats -s %s pub employeeUpdated.1 '{"__typename":"Employee","id":1}'`, e.natsURL))
	<-ctx.Done()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	e.stop(stopCtx)
	return nil
}

type example struct {
	stack   *stack.Stack
	natsURL string
	nc      *nats.Conn
	done    chan struct{}
	wg      sync.WaitGroup
}

func start(ctx context.Context, s settings) (e *example, err error) {
	cfg, err := config.Load(s.configPath)
	if err != nil {
		return nil, err
	}
	if s.addr != "" {
		cfg.ListenAddr = s.addr
	}
	if s.embedded {
		for i := range cfg.Events.Providers.NATS {
			cfg.Events.Providers.NATS[i].URL = ""
		}
		if s.embeddedListen != "" {
			cfg.EmbeddedNATS.Listen = s.embeddedListen
		}
	}
	e = &example{done: make(chan struct{})}
	defer func() {
		if err != nil {
			e.stop(context.Background())
		}
	}()
	if e.stack, err = stack.Start(ctx, cfg, s.log); err != nil {
		return nil, err
	}
	e.natsURL = cfg.Events.Providers.NATS[0].URL
	if s.embedded {
		e.natsURL = e.stack.Gateway.Embedded().ClientURL()
	}
	if s.interval > 0 {
		if e.nc, err = nats.Connect(e.natsURL, nats.Name("employees-service"), nats.MaxReconnects(-1)); err != nil {
			return nil, fmt.Errorf("publisher: connect to %s: %w", e.natsURL, err)
		}
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			publishLoop(e.nc, s.interval, e.done, func(err error) { s.log.Warn().Err(err).Msg("publisher") })
		}()
	}
	return e, nil
}

func (e *example) stop(ctx context.Context) {
	close(e.done)
	e.wg.Wait()
	if e.nc != nil {
		e.nc.Close()
	}
	if e.stack != nil {
		e.stack.Stop(ctx)
	}
}
