// Command redis runs edgate on Redis pub/sub with a Go service publishing employee updates:
//
//	go run ./examples/redis           # Redis at $REDIS_URL, default redis://127.0.0.1:6379
//	go run ./examples/redis -fake     # an in-process miniredis
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

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/rs/zerolog"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "redis example: %v\n", err)
		os.Exit(1)
	}
}

// settings of one run; the zero value of each field keeps what edgate.yaml says.
type settings struct {
	configPath string
	addr       string        // listen_addr override
	redisURL   string        // the provider's URL override
	fake       bool          // start an in-process miniredis and use it
	interval   time.Duration // between two published events; 0 publishes nothing
	log        zerolog.Logger
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("redis", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.configPath, "config", stack.ConfigPath("redis"), "gateway config")
	fs.StringVar(&s.addr, "addr", "", "gateway listen address (default: listen_addr of the config)")
	fs.StringVar(&s.redisURL, "redis", "", "Redis URL (default: the config's, ${REDIS_URL:-redis://127.0.0.1:6379})")
	fs.BoolVar(&s.fake, "fake", false, "run an in-process Redis (miniredis) instead of connecting to one")
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
		fmt.Sprintf(`redis-cli -u %s PUBLISH employee.1 '{"__typename":"Employee","id":1}'`, e.url))
	<-ctx.Done()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	e.stop(stopCtx)
	return nil
}

type example struct {
	stack  *stack.Stack
	fake   *miniredis.Miniredis
	url    string
	rdb    *redis.Client
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

func start(ctx context.Context, s settings) (e *example, err error) {
	cfg, err := config.Load(s.configPath)
	if err != nil {
		return nil, err
	}
	if s.addr != "" {
		cfg.ListenAddr = s.addr
	}
	e = &example{cancel: func() {}}
	defer func() {
		if err != nil {
			e.stop(context.Background())
		}
	}()
	switch {
	case s.fake:
		if e.fake, err = miniredis.Run(); err != nil {
			return nil, fmt.Errorf("miniredis: %w", err)
		}
		e.url = "redis://" + e.fake.Addr()
	case s.redisURL != "":
		e.url = s.redisURL
	default:
		e.url = cfg.Events.Providers.Redis[0].URLs[0]
	}
	cfg.Events.Providers.Redis[0].URLs = []string{e.url}
	if e.stack, err = stack.Start(ctx, cfg, s.log); err != nil {
		return nil, err
	}
	if s.interval > 0 {
		opts, err := redis.ParseURL(e.url)
		if err != nil {
			return nil, fmt.Errorf("redis url %q: %w", e.url, err)
		}
		e.rdb = redis.NewClient(opts)
		var pctx context.Context
		pctx, e.cancel = context.WithCancel(context.Background())
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			publishLoop(pctx, e.rdb, s.interval, func(err error) { s.log.Warn().Err(err).Msg("publisher") })
		}()
	}
	return e, nil
}

func (e *example) stop(ctx context.Context) {
	e.cancel()
	e.wg.Wait()
	if e.rdb != nil {
		_ = e.rdb.Close()
	}
	if e.stack != nil {
		e.stack.Stop(ctx)
	}
	if e.fake != nil {
		e.fake.Close()
	}
}
