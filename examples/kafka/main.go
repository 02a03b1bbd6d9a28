// Command kafka runs edgate on Kafka with a Go service producing employee updates:
//
//	go run ./examples/kafka -brokers 127.0.0.1:9092   # a Kafka you run
//	go run ./examples/kafka -fake                     # an in-process kfake cluster
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
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintf(os.Stderr, "kafka example: %v\n", err)
		os.Exit(1)
	}
}

// settings of one run; the zero value of each field keeps what edgate.yaml says.
type settings struct {
	configPath string
	addr       string        // listen_addr override
	brokers    string        // comma-separated brokers override
	fake       bool          // start an in-process kfake cluster and use it
	interval   time.Duration // between two produced events; 0 produces nothing
	log        zerolog.Logger
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kafka", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var s settings
	fs.StringVar(&s.configPath, "config", stack.ConfigPath("kafka"), "gateway config")
	fs.StringVar(&s.addr, "addr", "", "gateway listen address (default: listen_addr of the config)")
	fs.StringVar(&s.brokers, "brokers", "", "comma-separated Kafka brokers (default: the config's, ${KAFKA_BROKERS:-127.0.0.1:9092})")
	fs.BoolVar(&s.fake, "fake", false, "run an in-process Kafka (kfake) instead of connecting to brokers")
	fs.DurationVar(&s.interval, "interval", 2*time.Second, "produce an employee update this often (0: never)")
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
		fmt.Sprintf(`echo '{"__typename":"Employee","id":1}' | kcat -P -b %s -t employees`, e.brokers[0]))
	<-ctx.Done()
	stopCtx, stopCancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer stopCancel()
	e.stop(stopCtx)
	return nil
}

type example struct {
	stack   *stack.Stack
	cluster *kfake.Cluster
	brokers []string
	client  *kgo.Client
	cancel  context.CancelFunc
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
	e = &example{cancel: func() {}}
	defer func() {
		if err != nil {
			e.stop(context.Background())
		}
	}()
	switch {
	case s.fake:
		// The topic exists before anyone subscribes, as it would on a real cluster.
		if e.cluster, err = kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "employees")); err != nil {
			return nil, fmt.Errorf("kfake: %w", err)
		}
		e.brokers = e.cluster.ListenAddrs()
	case s.brokers != "":
		e.brokers = strings.Split(s.brokers, ",")
	default:
		e.brokers = cfg.Events.Providers.Kafka[0].Brokers
	}
	cfg.Events.Providers.Kafka[0].Brokers = e.brokers
	if e.stack, err = stack.Start(ctx, cfg, s.log); err != nil {
		return nil, err
	}
	if s.interval > 0 {
		if e.client, err = kgo.NewClient(kgo.SeedBrokers(e.brokers...), kgo.ClientID("employees-service"), kgo.AllowAutoTopicCreation()); err != nil {
			return nil, fmt.Errorf("producer: %w", err)
		}
		var pctx context.Context
		pctx, e.cancel = context.WithCancel(context.Background())
		e.wg.Add(1)
		go func() {
			defer e.wg.Done()
			publishLoop(pctx, e.client, s.interval, func(err error) { s.log.Warn().Err(err).Msg("producer") })
		}()
	}
	return e, nil
}

func (e *example) stop(ctx context.Context) {
	e.cancel()
	e.wg.Wait()
	if e.client != nil {
		e.client.Close()
	}
	if e.stack != nil {
		e.stack.Stop(ctx)
	}
	if e.cluster != nil {
		e.cluster.Close()
	}
}
