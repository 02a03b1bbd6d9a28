package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/edgate/edgate/config"
	edgate "github.com/edgate/edgate/gateway"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/loadgen"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// The test binary doubles as the worker process: run re-executes os.Executable() with
// -worker, which for a test is this binary.
func TestMain(m *testing.M) {
	if slices.Contains(os.Args[1:], "-worker") {
		if err := loadgen.ServeWorker(context.Background(), os.Stdin, os.Stdout, zerolog.Nop()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	if slices.Contains(os.Args[1:], "-hostile-worker") {
		o, err := parseFlags(os.Args[1:], os.Stderr)
		if err == nil {
			err = serveHostileWorker(context.Background(), o.url, o.hostile, os.Stdin, os.Stdout)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// -hostile-process: the hostile clients run in a child process, which posts the hostile
// bodies until it is stopped and reports what it was answered and its own CPU.
func TestHostileProcess_PostsUntilStoppedAndReports(t *testing.T) {
	const clients = 2
	var mu sync.Mutex
	received := 0
	enough := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, err := io.Copy(io.Discard, r.Body)
		if err != nil {
			// Stopping the process cuts the requests it is sending: the body ends early
			// with an error. Only whole bodies count.
			return
		}
		if n < hostileSize/2 {
			t.Errorf("a hostile body of %d bytes", n)
		}
		http.Error(w, `{"errors":[{"message":"no"}]}`, http.StatusBadRequest)
		mu.Lock()
		defer mu.Unlock()
		if received++; received == 3*clients {
			close(enough)
		}
	}))
	defer srv.Close()
	p, err := startHostileProcess(srv.URL, clients)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-enough:
	case <-time.After(time.Minute):
		t.Error("the hostile process sent too little")
	}
	r := p.stop(clients, time.Second)
	// each client has at most one request that was received but not yet counted
	if !r.Process || r.Clients != clients || r.Answered < 2*clients || r.Statuses[http.StatusBadRequest] != r.Answered || r.Failures != 0 {
		t.Fatalf("report %+v", r)
	}
	if r.PerSecond != float64(r.Answered) || r.AnswerMS == nil || r.CPUSeconds < 0 {
		t.Fatalf("report %+v", r)
	}
}

func TestTestdata_ConfigLoadsAndComposes(t *testing.T) {
	cfg, err := config.Load("testdata/edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.ListenAddr != "127.0.0.1:3002" {
		t.Errorf("listen_addr = %q", cfg.ListenAddr)
	}
	var srcs []schema.SubgraphSource
	for _, sg := range cfg.Subgraphs {
		sdl, err := os.ReadFile(sg.Schema.File)
		if err != nil {
			t.Fatal(err)
		}
		srcs = append(srcs, schema.SubgraphSource{Name: sg.Name, RoutingURL: sg.RoutingURL, SDL: string(sdl), File: sg.Schema.File})
	}
	if _, err := schema.Compose(srcs); err != nil {
		t.Fatalf("the benchmark schema does not compose: %v", err)
	}
}

func TestEntitiesSubgraph_AnswersRepresentations(t *testing.T) {
	s, err := startEntitiesSubgraph("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	body := `{"query":"query($representations:[_Any!]!){_entities(representations:$representations){... on Employee{name}}}",
		"variables":{"representations":[{"__typename":"Employee","id":7},{"__typename":"Employee","id":"8"},{"__typename":"Other","id":1}]}}`
	resp, err := http.Post("http://"+s.Addr()+"/graphql", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data struct {
			Entities []*struct {
				ID   any
				Name string
			} `json:"_entities"`
		}
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		t.Fatal(err)
	}
	e := out.Data.Entities
	if len(e) != 3 || e[0].Name != "Employee 7" || e[1].Name != "Employee 8" || e[2] != nil {
		t.Fatalf("entities = %+v", e)
	}
	if s.fetches.Load() != 1 || s.representations.Load() != 3 {
		t.Errorf("fetches %d representations %d", s.fetches.Load(), s.representations.Load())
	}
}

func TestParseFlags_Defaults(t *testing.T) {
	o, err := parseFlags([]string{"-burst", "1000"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.subscribers != 1 || o.events() != 1000 || o.query != defaultQuery {
		t.Errorf("burst: subscribers %d events %d query %q", o.subscribers, o.events(), o.query)
	}
	o, err = parseFlags([]string{"-entities", "-rate", "100", "-duration", "20s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.subscribers != 10000 || o.events() != 2000 || o.query != defaultEntitiesQuery {
		t.Errorf("entities: subscribers %d events %d query %q", o.subscribers, o.events(), o.query)
	}
	o, err = parseFlags([]string{"-subscribers", "500", "-subjects", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if o.subjects != 500 || o.subject != subjectTemplate || o.query != subjectQuery {
		t.Errorf("subjects: %d %q %q", o.subjects, o.subject, o.query)
	}
	for _, bad := range [][]string{{"-transport", "grpc"}, {"-payload", `{"id":1}`}, {"-rate", "0"}, {"-conns-per-process", "30000"}, {"-h2-client", "curl"},
		{"-subscribers", "5", "-subjects", "6"}, {"-subscribers", "5", "-subjects", "5", "-subject", "employeeUpdated.1"}} {
		if _, err := parseFlags(bad, io.Discard); err == nil {
			t.Errorf("%v: want an error", bad)
		}
	}
}

func TestSourceAddrs(t *testing.T) {
	got, err := sourceAddrs("http://127.0.0.1:3002/graphql", 0, 25000)
	if err != nil || !slices.Equal(got, []string{"127.0.0.1", "127.0.0.2", "127.0.0.3"}) {
		t.Errorf("auto: %v, %v", got, err)
	}
	if got, err := sourceAddrs("http://localhost:3002/graphql", 0, 25000); err != nil || got != nil {
		t.Errorf("a host name: %v, %v; want the kernel's choice", got, err)
	}
	if _, err := sourceAddrs("http://10.0.0.1:3002/graphql", 2, 10); err == nil {
		t.Error("want an error for -sources with a non-loopback target")
	}
}

// fakeGateway serves /health/ready and forwards each NATS event to SSE subscribers as a
// key-only result, like edgate with the benchmark schema: the query's id argument picks the
// subject employeeUpdated.<id>.
func fakeGateway(t *testing.T, natsURL string) *httptest.Server {
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/health/ready", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query     string
			Variables struct{ ID *int }
		}
		_ = json.NewDecoder(r.Body).Decode(&req)
		id := "1"
		if m := idArg.FindStringSubmatch(req.Query); m != nil {
			id = m[1]
		}
		if req.Variables.ID != nil {
			if !strings.Contains(req.Query, "$id") {
				http.Error(w, "variables without $id in the query", http.StatusBadRequest)
				return
			}
			id = strconv.Itoa(*req.Variables.ID)
		}
		ch := make(chan *nats.Msg, 4096)
		sub, err := nc.ChanSubscribe("employeeUpdated."+id, ch)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		defer sub.Unsubscribe()
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(200)
		w.(http.Flusher).Flush()
		for {
			select {
			case m := <-ch:
				var ev struct{ ID int64 }
				_ = json.Unmarshal(m.Data, &ev)
				fmt.Fprintf(w, "event: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":%d}}}\n\n", ev.ID)
				w.(http.Flusher).Flush()
			case <-r.Context().Done():
				return
			}
		}
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		srv.Close()
		nc.Close()
	})
	return srv
}

var idArg = regexp.MustCompile(`id: *(\d+)`)

func startNATS(t *testing.T) string {
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

func TestRun_SmokeAgainstFakeGateway(t *testing.T) {
	natsURL := startNATS(t)
	srv := fakeGateway(t, natsURL)
	for _, tc := range []struct {
		name    string
		args    []string
		subs    int
		events  int64
		workers int
	}{
		{"in-process", []string{"-subscribers", "20", "-rate", "50", "-duration", "400ms"}, 20, 20, 0},
		{"workers", []string{"-subscribers", "9", "-conns-per-process", "4", "-rate", "50", "-duration", "200ms"}, 9, 10, 3},
		{"burst", []string{"-burst", "1000"}, 1, 1000, 0},
		// every subscriber on its own subject: 30 events, one per subject, 3 rounds
		{"own subjects", []string{"-subscribers", "10", "-subjects", "0", "-rate", "100", "-duration", "300ms"}, 10, 30, 0},
		// the same with one operation text and the id as a variable
		{"own subjects, variables", []string{"-subscribers", "10", "-subjects", "0", "-variables", "-rate", "100", "-duration", "300ms"}, 10, 30, 0},
		// 9 subscribers over 3 subjects, in 3 processes: 3 events per subject, 3 subscribers each
		{"subjects over workers", []string{"-subscribers", "9", "-subjects", "3", "-conns-per-process", "4", "-rate", "30", "-duration", "300ms"}, 9, 9, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jsonPath := filepath.Join(t.TempDir(), "report.json")
			args := append([]string{"-url", srv.URL + "/graphql", "-nats", natsURL, "-gateway-pid", fmt.Sprint(os.Getpid()),
				"-settle", "10ms", "-drain", "2s", "-json", jsonPath}, tc.args...)
			o, err := parseFlags(args, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := run(context.Background(), o, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			perSub := tc.events
			if o.subjects > 1 {
				perSub = tc.events / int64(o.subjects)
			}
			if rep.Subscribers.Connected != tc.subs || rep.Published != tc.events || rep.Expected != perSub*int64(tc.subs) {
				t.Fatalf("connected %d published %d expected %d", rep.Subscribers.Connected, rep.Published, rep.Expected)
			}
			if rep.Received != rep.Expected || rep.Lost != 0 || !rep.InOrder || rep.Subscribers.Complete != tc.subs {
				t.Errorf("received %d lost %d in order %v complete %d", rep.Received, rep.Lost, rep.InOrder, rep.Subscribers.Complete)
			}
			if rep.LatencyMS.P50 <= 0 || rep.LatencyMS.Max < rep.LatencyMS.P99 || rep.DeliveredPerSecond <= 0 {
				t.Errorf("latency %+v throughput %v", rep.LatencyMS, rep.DeliveredPerSecond)
			}
			if rep.Gateway.RSSIdle <= 0 || rep.Gateway.PID != os.Getpid() {
				t.Errorf("gateway sample: %+v", rep.Gateway)
			}
			if want := max(tc.workers+1, 1); tc.workers > 0 && rep.Loadgen.Processes != want {
				t.Errorf("processes = %d, want %d", rep.Loadgen.Processes, want)
			}
			var text bytes.Buffer
			rep.writeText(&text)
			if !strings.Contains(text.String(), "0 lost") || !strings.Contains(text.String(), "p99") {
				t.Errorf("text report:\n%s", text.String())
			}
			if err := rep.writeJSON(o.jsonFile); err != nil {
				t.Fatal(err)
			}
			var back report
			if b, err := os.ReadFile(jsonPath); err != nil || json.Unmarshal(b, &back) != nil || back.Received != rep.Received {
				t.Errorf("json report does not round-trip: %v", err)
			}
			t.Logf("\n%s", text.String())
		})
	}
}

// TestRunQueries_AgainstGateway drives -mode query against a real gateway on the
// benchmark's own config, for each operation and with -distinct.
func TestRunQueries_AgainstGateway(t *testing.T) {
	natsURL := startNATS(t)
	subgraphs, err := startEntitiesSubgraph("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer subgraphs.Close()
	subgraphAddr := subgraphs.Addr()
	cfg, err := config.Load("testdata/edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	for i := range cfg.Subgraphs {
		if u := cfg.Subgraphs[i].RoutingURL; u != "" {
			cfg.Subgraphs[i].RoutingURL = strings.Replace(u, "127.0.0.1:4011", subgraphAddr, 1)
		}
	}
	cfg.Events.Providers.NATS[0].URL = natsURL
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	gw, err := edgate.New(ctx, cfg, zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- gw.Serve() }()
	defer func() {
		if err := gw.Shutdown(context.Background()); err != nil {
			t.Error(err)
		}
		<-served
	}()

	for _, tc := range []struct{ op, distinct string }{{"one-fetch", "1"}, {"entity-jump", "1"}, {"typename", "5"}, {"publish", "1"}} {
		t.Run(tc.op, func(t *testing.T) {
			o, err := parseFlags([]string{"-mode", "query", "-op", tc.op, "-distinct", tc.distinct, "-url", gw.URL(), "-entities-addr", "",
				"-gateway-pid", fmt.Sprint(os.Getpid()), "-clients", "4", "-duration", "300ms", "-query-warmup", "50ms"}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := runQueries(ctx, o, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			if rep.Requests == 0 || rep.Errors != 0 || rep.PerSecond <= 0 {
				t.Fatalf("requests %d errors %d (%s) req/s %v", rep.Requests, rep.Errors, rep.ErrorSample, rep.PerSecond)
			}
			if rep.LatencyMS.P50 <= 0 || rep.LatencyMS.P99 < rep.LatencyMS.P50 || rep.Gateway.CPUMicrosPerRequest <= 0 {
				t.Errorf("latency %+v gateway %+v", rep.LatencyMS, rep.Gateway)
			}
			var text bytes.Buffer
			rep.writeText(&text)
			if !strings.Contains(text.String(), "req/s") || !strings.Contains(text.String(), "µs per request") {
				t.Errorf("text report:\n%s", text.String())
			}
			t.Logf("\n%s", text.String())
		})
	}
}

// A run that starts its gateway refuses to go on when something already serves the
// gateway's address: the readiness probe would be answered by the other process and the
// run would measure it.
func TestRun_RefusesAnAddressAlreadyServed(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer other.Close()
	started := filepath.Join(t.TempDir(), "started")
	o, err := parseFlags([]string{"-url", other.URL + "/graphql", "-nats", "nats://127.0.0.1:1",
		"-start", "touch " + started, "-subscribers", "1", "-rate", "1", "-duration", "1s"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	_, err = run(context.Background(), o, zerolog.Nop())
	if err == nil || !strings.Contains(err.Error(), "already answers") {
		t.Fatalf("run: %v, want an already-answers error", err)
	}
	if _, statErr := os.Stat(started); statErr == nil {
		t.Fatal("the gateway command ran although the address was taken")
	}
}
