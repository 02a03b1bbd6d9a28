// Command edgate-bench measures a gateway's subscription fan-out (and, with -mode query,
// its queries and mutations): it opens N subscribers
// over SSE or graphql-transport-ws, publishes numbered events to NATS at a given rate and
// reports loss, order, delivered messages per second, publish-to-client latency, the
// gateway's CPU per delivery and memory per idle subscriber, and its own CPU. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/edgate/edgate/testkit/loadgen"
	"github.com/rs/zerolog"
)

const (
	defaultQuery         = "subscription { employeeUpdated(id: 1) { id } }"
	defaultEntitiesQuery = "subscription { employeeUpdated(id: 1) { id name } }"
	// with -subjects, each subscriber's id argument picks its subject
	subjectQuery         = "subscription { employeeUpdated(id: {{subject}}) { id } }"
	subjectEntitiesQuery = "subscription { employeeUpdated(id: {{subject}}) { id name } }"
	subjectTemplate      = "employeeUpdated.{{subject}}"
	// with -variables, one operation text for every subscriber and the id as a variable,
	// as generated clients (Apollo, urql, codegen) send per-user subscriptions
	varQuery         = "subscription ($id: Int!) { employeeUpdated(id: $id) { id } }"
	varEntitiesQuery = "subscription ($id: Int!) { employeeUpdated(id: $id) { id name } }"
	varTemplate      = `{"id":{{subject}}}`
)

type options struct {
	url          string
	gatewayPID   int
	start        string
	gatewayBin   string
	config       string
	gatewayLog   string
	readyTimeout time.Duration

	transport        string
	subscribers      int
	wsSubsPerConn    int
	sseH2            bool
	h2StreamsPerConn int
	h2Client         string
	sseGet           bool
	query            string
	variables        bool
	seqField         string
	sources          int
	connsPerProcess  int
	dialConcurrency  int
	connectTimeout   time.Duration

	natsURL  string
	subject  string
	subjects int
	payload  string
	rate     float64
	duration time.Duration
	burst    int
	warmup   time.Duration
	settle   time.Duration
	drain    time.Duration

	hostile        int
	hostileProcess bool
	hostileWorker  bool

	entities     bool
	entitiesAddr string
	otlpSink     string

	mode        string
	op          string
	clients     int
	distinct    int
	queryWarmup time.Duration

	jsonFile string
	worker   bool
	verbose  bool
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("edgate-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "http://127.0.0.1:3002/graphql", "the gateway's GraphQL endpoint (SSE and WebSocket)")
	fs.IntVar(&o.gatewayPID, "gateway-pid", 0, "pid of a running gateway to sample CPU and RSS from /proc (not needed with -start or -gateway-bin)")
	fs.StringVar(&o.start, "start", "", `start the gateway with this command, split on spaces (e.g. "go run ./cmd/edgate -config cmd/edgate-bench/testdata/edgate.yaml"), and stop it at the end`)
	fs.StringVar(&o.gatewayBin, "gateway-bin", "", "start this gateway binary with -config FILE, and stop it at the end")
	fs.StringVar(&o.config, "config", "cmd/edgate-bench/testdata/edgate.yaml", "gateway config for -gateway-bin")
	fs.StringVar(&o.gatewayLog, "gateway-log", "", "file for a started gateway's output (default: a file in the temp dir)")
	fs.DurationVar(&o.readyTimeout, "ready-timeout", 2*time.Minute, "how long to wait for /health/ready")

	fs.StringVar(&o.transport, "transport", "sse", "sse or ws (graphql-transport-ws)")
	fs.IntVar(&o.subscribers, "subscribers", 10000, "number of subscriptions (1 with -burst unless given)")
	fs.IntVar(&o.wsSubsPerConn, "ws-subs-per-conn", 1, "subscriptions per WebSocket connection")
	fs.BoolVar(&o.sseH2, "sse-h2", false, "multiplex SSE streams over HTTP/2: cleartext with prior knowledge, or TLS with an https -url")
	fs.IntVar(&o.h2StreamsPerConn, "h2-streams-per-conn", 100, "SSE streams per HTTP/2 connection with -sse-h2")
	fs.StringVar(&o.h2Client, "h2-client", loadgen.H2ClientFramer, "HTTP/2 client with -sse-h2: "+loadgen.H2ClientFramer+" (reads each connection's streams on one goroutine, like the WebSocket client) or "+loadgen.H2ClientNetHTTP+" (net/http's client: a goroutine per stream, about five times the client CPU per event)")
	fs.BoolVar(&o.sseGet, "sse-get", false, "open SSE subscriptions with GET ?query= instead of POST")
	fs.BoolVar(&o.variables, "variables", false, "pass the subscriber's id as a variable of one operation text (\"$id\", variables "+varTemplate+") instead of a literal in each text")
	fs.StringVar(&o.query, "query", "", "subscription operation (default "+fmt.Sprintf("%q", defaultQuery)+", with -entities "+fmt.Sprintf("%q", defaultEntitiesQuery)+")")
	fs.StringVar(&o.seqField, "seq-field", "id", "result field that carries the event's sequence number")
	fs.IntVar(&o.sources, "sources", 0, "loopback source addresses 127.0.0.1..127.0.0.N to connect from (0: one per 10,000 connections)")
	fs.IntVar(&o.connsPerProcess, "conns-per-process", 15000, "connections one client process holds; more spread over worker processes")
	fs.IntVar(&o.dialConcurrency, "dial-concurrency", 64, "connections being opened at once, per process")
	fs.DurationVar(&o.connectTimeout, "connect-timeout", 3*time.Minute, "how long opening all subscriptions may take")

	fs.StringVar(&o.natsURL, "nats", "nats://127.0.0.1:4222", "NATS server the gateway consumes")
	fs.StringVar(&o.subject, "subject", "employeeUpdated.1", "subject to publish to (with -subjects, a name with {{subject}}; default "+subjectTemplate+")")
	fs.IntVar(&o.subjects, "subjects", 1, "spread subscribers over this many subjects, round robin (0: one subject per subscriber); events go round robin over the subjects")
	fs.StringVar(&o.payload, "payload", loadgen.DefaultPayload, "event payload; "+loadgen.SeqPlaceholder+" is replaced by the sequence number")
	fs.Float64Var(&o.rate, "rate", 10, "events published per second")
	fs.DurationVar(&o.duration, "duration", 20*time.Second, "how long to publish")
	fs.IntVar(&o.burst, "burst", 0, "publish this many events back to back instead of -rate/-duration")
	fs.DurationVar(&o.warmup, "warmup", 30*time.Second, "how long warm-up events may take to reach every subscriber")
	fs.DurationVar(&o.settle, "settle", 3*time.Second, "idle time after the last subscription opened, before the idle RSS sample")
	fs.DurationVar(&o.drain, "drain", 5*time.Second, "after publishing, stop waiting for deliveries once none arrived for this long")

	fs.IntVar(&o.hostile, "hostile", 0, "while the events are published, this many closed-loop clients post 1 MiB hostile operations (wide, deep, fragment chain, directives, variables, tokens) to -url, each on its own connection; their answers are reported")
	fs.BoolVar(&o.hostileProcess, "hostile-process", false, "run the -hostile clients in a process of their own instead of the one that reads the subscribers' events")
	fs.BoolVar(&o.hostileWorker, "hostile-worker", false, "internal: run the -hostile clients until stdin closes and write their report to stdout")
	fs.BoolVar(&o.entities, "entities", false, "serve the employees subgraph and select its name field, so each event needs an _entities fetch")
	fs.StringVar(&o.entitiesAddr, "entities-addr", "127.0.0.1:4011", "listen address of the benchmark subgraphs (must match the gateway config; with -mode query, empty: they are served elsewhere)")

	fs.StringVar(&o.mode, "mode", "subscribe", "subscribe (fan-out of published events) or query (closed-loop queries and mutations over HTTP)")
	fs.StringVar(&o.op, "op", "one-fetch", "with -mode query: one-fetch, entity-jump, typename or publish (-query overrides the text)")
	fs.IntVar(&o.clients, "clients", 32, "with -mode query: closed-loop clients, each on its own keep-alive connection")
	fs.IntVar(&o.distinct, "distinct", 1, "with -mode query: cycle through this many differently named copies of the operation")
	fs.DurationVar(&o.queryWarmup, "query-warmup", 2*time.Second, "with -mode query: load before the measured -duration (default duration there: 10s)")
	fs.StringVar(&o.otlpSink, "otlp-sink", "", "serve a discarding OTLP/HTTP trace receiver on this address (for a gateway with telemetry.tracing on, e.g. testdata/edgate-tracing.yaml on 127.0.0.1:4318) and report the exports it got")

	fs.StringVar(&o.jsonFile, "json", "", "also write the report as JSON to this file")
	fs.BoolVar(&o.worker, "worker", false, "internal: run as a worker process of another edgate-bench")
	fs.BoolVar(&o.verbose, "v", false, "log progress in detail")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if o.burst > 0 && !set["subscribers"] {
		o.subscribers = 1
	}
	if o.subjects == 0 {
		o.subjects = o.subscribers
	}
	if o.subjects > 1 && !set["subject"] {
		o.subject = subjectTemplate
	}
	if o.mode == "query" {
		if !set["duration"] {
			o.duration = 10 * time.Second
		}
		if o.query == "" {
			o.query = queryOps[o.op]
		}
	}
	if o.query == "" {
		switch {
		case o.variables && o.entities:
			o.query = varEntitiesQuery
		case o.variables:
			o.query = varQuery
		case o.subjects > 1 && o.entities:
			o.query = subjectEntitiesQuery
		case o.subjects > 1:
			o.query = subjectQuery
		case o.entities:
			o.query = defaultEntitiesQuery
		default:
			o.query = defaultQuery
		}
	}
	return o, o.validate()
}

func (o *options) validate() error {
	switch {
	case o.worker:
		return nil
	case o.hostileWorker:
		if o.hostile < 1 || o.hostile > 1000 {
			return fmt.Errorf("-hostile %d: want 1..1000", o.hostile)
		}
		return nil
	case o.mode == "query":
		switch {
		case o.query == "":
			return fmt.Errorf("-op %q: want one-fetch, entity-jump, typename or publish", o.op)
		case o.clients < 1 || o.clients > 10000:
			return fmt.Errorf("-clients %d: want 1..10000", o.clients)
		case o.duration <= 0:
			return fmt.Errorf("-duration %v: must be positive", o.duration)
		case o.start != "" && o.gatewayBin != "":
			return fmt.Errorf("-start and -gateway-bin: give one")
		}
		return nil
	case o.mode != "subscribe":
		return fmt.Errorf("-mode %q: want subscribe or query", o.mode)
	case o.transport != "sse" && o.transport != "ws":
		return fmt.Errorf("-transport %q: want sse or ws", o.transport)
	case o.subscribers < 1:
		return fmt.Errorf("-subscribers %d: want at least 1", o.subscribers)
	case o.h2Client != loadgen.H2ClientFramer && o.h2Client != loadgen.H2ClientNetHTTP:
		return fmt.Errorf("-h2-client %q: want %s or %s", o.h2Client, loadgen.H2ClientFramer, loadgen.H2ClientNetHTTP)
	case o.hostile < 0 || o.hostile > 1000:
		return fmt.Errorf("-hostile %d: want 0..1000", o.hostile)
	case o.burst < 0:
		return fmt.Errorf("-burst %d: want 0 or more", o.burst)
	case o.burst == 0 && (o.rate <= 0 || o.duration <= 0):
		return fmt.Errorf("-rate %v and -duration %v: both must be positive", o.rate, o.duration)
	case o.start != "" && o.gatewayBin != "":
		return fmt.Errorf("-start and -gateway-bin: give one")
	case o.connsPerProcess < 1 || o.connsPerProcess > 19000:
		return fmt.Errorf("-conns-per-process %d: want 1..19000 (a process may hold at most 20,000 files)", o.connsPerProcess)
	case o.subjects < 0 || o.subjects > o.subscribers:
		return fmt.Errorf("-subjects %d: want 0..%d (the subscribers)", o.subjects, o.subscribers)
	case o.variables && o.mode != "subscribe":
		return fmt.Errorf("-variables: only for subscriptions")
	case o.subjects > 1 && !o.variables && (!strings.Contains(o.subject, loadgen.SubjectPlaceholder) || !strings.Contains(o.query, loadgen.SubjectPlaceholder)):
		return fmt.Errorf("-subjects %d: -subject %q and -query %q must both contain %s", o.subjects, o.subject, o.query, loadgen.SubjectPlaceholder)
	case !strings.Contains(o.payload, loadgen.SeqPlaceholder):
		return fmt.Errorf("-payload %q: must contain %s", o.payload, loadgen.SeqPlaceholder)
	}
	return nil
}

// events is how many measured events a run publishes.
func (o *options) events() int64 {
	if o.burst > 0 {
		return int64(o.burst)
	}
	return int64(o.rate*o.duration.Seconds() + 0.5)
}

func main() {
	o, err := parseFlags(os.Args[1:], os.Stderr)
	if err != nil {
		if err != flag.ErrHelp {
			fmt.Fprintln(os.Stderr, "edgate-bench:", err)
		}
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	level := zerolog.InfoLevel
	if o.verbose {
		level = zerolog.DebugLevel
	}
	log := zerolog.New(zerolog.ConsoleWriter{Out: os.Stderr, TimeFormat: "15:04:05"}).Level(level).With().Timestamp().Logger()
	if o.worker {
		if err := loadgen.ServeWorker(ctx, os.Stdin, os.Stdout, log.With().Int("worker", os.Getpid()).Logger()); err != nil {
			fmt.Fprintln(os.Stderr, "edgate-bench worker:", err)
			os.Exit(1)
		}
		return
	}
	if o.hostileWorker {
		if err := serveHostileWorker(ctx, o.url, o.hostile, os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "edgate-bench hostile worker:", err)
			os.Exit(1)
		}
		return
	}
	if o.mode == "query" {
		rep, err := runQueries(ctx, o, log)
		if rep != nil {
			rep.writeText(os.Stdout)
			if o.jsonFile != "" {
				if werr := rep.writeJSON(o.jsonFile); werr != nil {
					fmt.Fprintln(os.Stderr, "edgate-bench:", werr)
					os.Exit(1)
				}
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "edgate-bench:", err)
			os.Exit(1)
		}
		return
	}
	rep, err := run(ctx, o, log)
	if rep != nil {
		rep.writeText(os.Stdout)
		if o.jsonFile != "" {
			if werr := rep.writeJSON(o.jsonFile); werr != nil {
				fmt.Fprintln(os.Stderr, "edgate-bench:", werr)
				os.Exit(1)
			}
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "edgate-bench:", err)
		os.Exit(1)
	}
}
