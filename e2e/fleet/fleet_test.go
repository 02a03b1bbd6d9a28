//go:build fleet

// Package fleet runs edgate as a fleet on loopback and breaks it while events flow: a
// 3-node NATS cluster with JetStream (a stream with 3 replicas), a 3-broker Kafka (kfake),
// two edgate processes built from cmd/edgate behind HAProxy with the configuration of
// deploy/haproxy, and the real npm clients (clients/clients.mjs, run by Node): the
// eventsource package, which reconnects after the server's retry hint with
// Last-Event-ID by itself, and graphql-ws, which reconnects and subscribes again by
// itself and carries the WebSocket resume extension (extensions.lastEventId).
//
//	(cd e2e/fleet/clients && npm ci)                 # once
//	go test -tags fleet -count=1 -v ./e2e/fleet/     # needs haproxy and node on PATH
//
// The faults, one after the other: the NATS node the instances are connected to stops,
// an instance is killed (SIGKILL) and started again, then a rolling restart (SIGTERM to
// each instance in turn, each started again). The test asserts that every client got
// every event of the JetStream and the Kafka field exactly once and in order, per fault
// and over the run, and logs per fault and client library the time from the fault to
// the slowest client's next event and the longest gap a client saw, and the p99 latency
// (publish to client) during the rolling restart.
package fleet

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/edgate/edgate/testkit/demo"
)

const (
	publishEvery = 25 * time.Millisecond // 40 events/s per field
	kafkaTopic   = "fleet-kafka"
	jsSubject    = "fleet.js"
	clientsPer   = 3 // SSE clients per field
	wsClientsPer = 2 // WebSocket clients per field
	// afterFault is how many further events every client must get before a fault counts
	// as survived.
	afterFault = 20
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond every 20ms until it holds, failing after d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ---- NATS cluster ----

type natsNode struct {
	name         string
	port, cport  int
	dir          string
	routes       []string
	srv          *server.Server
	clusterPorts []int
}

func (n *natsNode) url() string { return fmt.Sprintf("nats://127.0.0.1:%d", n.port) }

func (n *natsNode) start(t *testing.T) {
	t.Helper()
	var routes []*url.URL
	for _, p := range n.clusterPorts {
		if p != n.cport {
			routes = append(routes, &url.URL{Scheme: "nats", Host: fmt.Sprintf("127.0.0.1:%d", p)})
		}
	}
	opts := &server.Options{
		ServerName: n.name, Host: "127.0.0.1", Port: n.port,
		JetStream: true, StoreDir: n.dir,
		Cluster: server.ClusterOpts{Name: "fleet", Host: "127.0.0.1", Port: n.cport},
		Routes:  routes,
		NoSigs:  true, NoLog: true,
	}
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatalf("nats %s: %v", n.name, err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatalf("nats %s not ready", n.name)
	}
	n.srv = s
}

func (n *natsNode) stop() {
	if n.srv != nil {
		n.srv.Shutdown()
		n.srv.WaitForShutdown()
		n.srv = nil
	}
}

func startNATSCluster(t *testing.T) []*natsNode {
	t.Helper()
	nodes := make([]*natsNode, 3)
	var cports []int
	for i := range nodes {
		nodes[i] = &natsNode{name: fmt.Sprintf("n%d", i+1), port: freePort(t), cport: freePort(t), dir: t.TempDir()}
		cports = append(cports, nodes[i].cport)
	}
	for _, n := range nodes {
		n.clusterPorts = cports
		n.start(t)
	}
	t.Cleanup(func() {
		for _, n := range nodes {
			n.stop()
		}
	})
	return nodes
}

// ---- edgate instances ----

type instance struct {
	name, addr, config, logFile string
	bin                         string
	cmd                         *exec.Cmd
	exited                      chan struct{} // closed when the process has exited
}

func (in *instance) start(t *testing.T) {
	t.Helper()
	log, err := os.OpenFile(in.logFile, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(in.bin, "-config", in.config, "-watch", "0")
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	in.cmd = cmd
	exited := make(chan struct{})
	in.exited = exited
	go func() { _ = cmd.Wait(); log.Close(); close(exited) }()
	waitFor(t, 60*time.Second, in.name+" ready", func() bool {
		resp, err := http.Get("http://" + in.addr + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
}

func (in *instance) signal(sig syscall.Signal) { _ = in.cmd.Process.Signal(sig) }

func (in *instance) wait(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case <-in.exited:
	case <-time.After(d):
		t.Fatalf("%s did not exit within %v", in.name, d)
	}
}

func (in *instance) subscriptions() int {
	resp, err := http.Get("http://" + in.addr + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "edgate_subscriptions "); ok {
			n, _ := strconv.ParseFloat(v, 64)
			return int(n)
		}
	}
	return -1
}

// ---- HAProxy ----

type haproxy struct {
	addr, stats string
	cmd         *exec.Cmd
}

// up reports whether HAProxy sees server name UP.
func (h *haproxy) up(name string) bool {
	resp, err := http.Get("http://" + h.stats + "/stats;csv")
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		f := strings.Split(sc.Text(), ",")
		if len(f) > 17 && f[0] == "edgate" && f[1] == name {
			return f[17] == "UP"
		}
	}
	return false
}

// ---- clients ----

type received struct {
	seq int
	at  time.Time
}

// tracker records what one client received.
type tracker struct {
	name, kind, field string // kind: "sse" (eventsource) or "ws" (graphql-ws)

	mu         sync.Mutex
	got        []received
	opens      int // streams opened (EventSource) or connections acknowledged (graphql-ws)
	completes  int
	fatal      []string // the client gave up: it will not reconnect
	errorsSeen int
	// lostAt: when the client's connection ended (EventSource's error event, graphql-ws's
	// closed event), the start of its own failover.
	lostAt []time.Time
}

// event notes one line the client printed, received at at.
func (c *tracker) event(l clientLine, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch l.Event {
	case "next":
		c.got = append(c.got, received{seq: l.Seq, at: at})
	case "open", "connected":
		c.opens++
	case "complete":
		c.completes++
	case "error":
		c.errorsSeen++
		if c.kind == "sse" {
			c.lostAt = append(c.lostAt, at)
		}
	case "closed":
		c.lostAt = append(c.lostAt, at)
	case "fatal":
		c.fatal = append(c.fatal, fmt.Sprintf("%s (code %d)", l.Msg, l.Code))
	}
}

// reconnects is how many times the client opened again after its first stream.
func (c *tracker) reconnects() int { return max(0, c.opens-1) }

func (c *tracker) snapshot() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// nodeClients runs the real npm clients (clients/clients.mjs: the eventsource package and
// graphql-ws) in one Node process and feeds what they print to the trackers.
type nodeClients struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan struct{} // closed when stdout has ended

	mu       sync.Mutex
	trackers map[string]*tracker
	bad      []string // lines that were not JSON, or named no client
}

// clientLine is one line clients.mjs prints.
type clientLine struct {
	Client string `json:"c"`
	Event  string `json:"ev"`
	Seq    int    `json:"seq"`
	ID     string `json:"id"`
	Code   int    `json:"code"`
	Msg    string `json:"msg"`
}

func startNodeClients(t *testing.T, graphqlURL string) *nodeClients {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed (the fleet test runs the npm eventsource and graphql-ws clients)")
	}
	if _, err := os.Stat("clients/node_modules/graphql-ws"); err != nil {
		t.Fatal("the npm clients are not installed: run npm ci in e2e/fleet/clients")
	}
	nc := &nodeClients{trackers: map[string]*tracker{}, done: make(chan struct{})}
	nc.cmd = exec.Command(node, "clients.mjs", graphqlURL)
	nc.cmd.Dir = "clients"
	nc.cmd.Stderr = os.Stderr
	nc.stdin, err = nc.cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := nc.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nc.cmd.Start(); err != nil {
		t.Fatalf("start node clients: %v", err)
	}
	go func() {
		defer close(nc.done)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			at := time.Now()
			var l clientLine
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				nc.note(sc.Text())
				continue
			}
			nc.mu.Lock()
			c := nc.trackers[l.Client]
			nc.mu.Unlock()
			if c == nil {
				nc.note(sc.Text())
				continue
			}
			c.event(l, at)
		}
	}()
	// Closing stdin makes clients.mjs close its clients and exit; the wait is bounded so
	// a stuck Node process cannot hang the test.
	t.Cleanup(func() {
		_ = nc.stdin.Close()
		select {
		case <-nc.done:
		case <-time.After(10 * time.Second):
			_ = nc.cmd.Process.Kill()
		}
		_ = nc.cmd.Wait()
	})
	return nc
}

func (nc *nodeClients) note(line string) {
	nc.mu.Lock()
	defer nc.mu.Unlock()
	nc.bad = append(nc.bad, line)
}

// open starts a client of kind "sse" (EventSource) or "ws" (graphql-ws) on field.
func (nc *nodeClients) open(t *testing.T, kind string, c *tracker) {
	t.Helper()
	nc.mu.Lock()
	nc.trackers[c.name] = c
	nc.mu.Unlock()
	b, _ := json.Marshal(map[string]string{"open": kind, "name": c.name, "field": c.field})
	if _, err := nc.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("open %s: %v", c.name, err)
	}
}

// countLostRepeated counts the seqs in [from, to] that got holds no time and the extra
// times it holds the others.
func countLostRepeated(got []received, from, to int) (lost, repeated int) {
	seen := map[int]int{}
	for _, r := range got {
		seen[r.seq]++
	}
	for seq := from; seq <= to; seq++ {
		switch n := seen[seq]; {
		case n == 0:
			lost++
		case n > 1:
			repeated += n - 1
		}
	}
	return lost, repeated
}

// ---- publisher ----

type publisher struct {
	js jetstream.JetStream
	kc *kgo.Client

	mu   sync.Mutex
	seq  int
	sent map[int]time.Time // seq → publish time (both fields publish seq at once)
}

func (p *publisher) run(ctx context.Context, t *testing.T) {
	tick := time.NewTicker(publishEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.mu.Lock()
		seq := p.seq + 1
		p.mu.Unlock()
		body := fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, seq)
		at := time.Now()
		// Retried until acknowledged; the message id makes a retry of a publish that did
		// land a no-op, so the stream holds each seq once.
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			_, err := p.js.Publish(pctx, jsSubject, body, jetstream.WithMsgID(strconv.Itoa(seq)))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		for {
			pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
			err := p.kc.ProduceSync(pctx, &kgo.Record{Topic: kafkaTopic, Value: body}).FirstErr()
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return
			}
		}
		p.mu.Lock()
		p.seq = seq
		p.sent[seq] = at
		p.mu.Unlock()
	}
}

func (p *publisher) last() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.seq
}

// ---- the test ----

func TestFleet_FaultsLoseAndRepeatNothing(t *testing.T) {
	haproxyBin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed (Debian: apt-get install haproxy)")
	}
	root, _ := filepath.Abs("../..")
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "edgate")
	build := exec.Command("go", "build", "-o", bin, "./cmd/edgate")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build edgate: %v\n%s", err, out)
	}

	// Brokers.
	nodes := startNATSCluster(t)
	var allURLs []string
	for _, n := range nodes {
		allURLs = append(allURLs, n.url())
	}
	pubNC, err := nats.Connect(strings.Join(allURLs[1:], ","), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer pubNC.Close()
	js, _ := jetstream.New(pubNC)
	waitFor(t, 60*time.Second, "the R3 stream", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{Name: "FLEET", Subjects: []string{jsSubject}, Replicas: 3})
		return err == nil
	})
	kafka, err := kfake.NewCluster(kfake.NumBrokers(3), kfake.SeedTopics(1, kafkaTopic))
	if err != nil {
		t.Fatal(err)
	}
	defer kafka.Close()
	kc, err := kgo.NewClient(kgo.SeedBrokers(kafka.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer kc.Close()

	// The employees subgraph, for composition (the clients select only the key).
	employees := demo.Employees()
	es := httptest.NewServer(employees.Handler())
	defer es.Close()
	if err := os.WriteFile(filepath.Join(tmp, "employees.graphql"), []byte(employees.SDL), 0o644); err != nil {
		t.Fatal(err)
	}
	sdl, err := os.ReadFile("testdata/events.graphql")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "events.graphql"), sdl, 0o644); err != nil {
		t.Fatal(err)
	}

	// Two instances. They connect to NATS node 1 (and learn the others from it), the one
	// the first fault stops.
	instances := make([]*instance, 2)
	for i := range instances {
		in := &instance{name: fmt.Sprintf("edgate%d", i+1), addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), bin: bin}
		in.config = filepath.Join(tmp, in.name+".yaml")
		in.logFile = filepath.Join(tmp, in.name+".log")
		cfg := fmt.Sprintf(`listen_addr: %q
subgraphs:
  - name: employees
    routing_url: %s
    schema: { file: employees.graphql }
  - name: events
    schema: { file: events.graphql }
events:
  providers:
    nats: [ { id: default, url: %q } ]
    kafka: [ { id: default, brokers: [%s] } ]
sse: { heartbeat_interval: 1s, retry_interval: 500ms }
shutdown: { drain_delay: 1500ms, drain_window: 1s }
shutdown_timeout: 10s
log: { level: info, format: json }
`, in.addr, es.URL, nodes[0].url(), strings.Join(kafka.ListenAddrs(), ", "))
		if err := os.WriteFile(in.config, []byte(cfg), 0o644); err != nil {
			t.Fatal(err)
		}
		instances[i] = in
		in.start(t)
	}
	t.Cleanup(func() {
		for _, in := range instances {
			if in.cmd == nil {
				continue
			}
			select {
			case <-in.exited:
			default:
				in.signal(syscall.SIGKILL)
				<-in.exited
			}
		}
		if t.Failed() {
			// FLEET_KEEP=dir keeps the logs of a failed run there.
			keep := os.Getenv("FLEET_KEEP")
			for _, in := range instances {
				b, _ := os.ReadFile(in.logFile)
				if keep != "" {
					_ = os.WriteFile(filepath.Join(keep, in.name+".log"), b, 0o644)
				}
				var lines []string
				for l := range strings.Lines(string(b)) {
					if !strings.Contains(l, `"level":"info"`) && !strings.Contains(l, `"level":"debug"`) {
						lines = append(lines, strings.TrimSpace(l))
					}
				}
				t.Logf("%s log (warnings and errors, last 40):\n%s", in.name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
			}
		}
	})

	// HAProxy with the configuration deploy/ ships.
	lb := &haproxy{addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), stats: fmt.Sprintf("127.0.0.1:%d", freePort(t))}
	lb.cmd = exec.Command(haproxyBin, "-db", "-f", filepath.Join(root, "deploy/haproxy/haproxy.cfg"))
	lb.cmd.Env = append(os.Environ(), "EDGATE_LB_BIND="+lb.addr, "EDGATE_LB_STATS="+lb.stats,
		"EDGATE_1="+instances[0].addr, "EDGATE_2="+instances[1].addr)
	lbLog, _ := os.Create(filepath.Join(tmp, "haproxy.log"))
	lb.cmd.Stdout, lb.cmd.Stderr = lbLog, lbLog
	if err := lb.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = lb.cmd.Process.Kill(); _ = lb.cmd.Wait() }()
	waitFor(t, 20*time.Second, "HAProxy to see both instances", func() bool { return lb.up("edgate1") && lb.up("edgate2") })

	// The npm clients, spread over both instances by the balancer.
	nc := startNodeClients(t, "http://"+lb.addr+"/graphql")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var clients []*tracker
	for _, field := range []string{"fleetJetStream", "fleetKafka"} {
		for i := range clientsPer + wsClientsPer {
			kind, name := "sse", fmt.Sprintf("%s-eventsource-%d", field, i)
			if i >= clientsPer {
				kind, name = "ws", fmt.Sprintf("%s-graphql-ws-%d", field, i-clientsPer)
			}
			c := &tracker{name: name, kind: kind, field: field}
			clients = append(clients, c)
			nc.open(t, kind, c)
			// one at a time, so that leastconn alternates
			want := len(clients)
			waitFor(t, 20*time.Second, "subscription "+c.name, func() bool {
				return instances[0].subscriptions()+instances[1].subscriptions() == want
			})
		}
	}
	for _, in := range instances {
		if in.subscriptions() == 0 {
			t.Fatalf("%s got no client: the balancer did not spread them", in.name)
		}
	}

	pub := &publisher{js: js, kc: kc, sent: map[int]time.Time{}}
	pubCtx, stopPub := context.WithCancel(ctx)
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); pub.run(pubCtx, t) }()
	defer func() { stopPub(); <-pubDone }()

	// everyoneGets waits until every client has received events up to seq.
	everyoneGets := func(seq int, d time.Duration, what string) {
		t.Helper()
		waitFor(t, d, what, func() bool {
			for _, c := range clients {
				c.mu.Lock()
				fatal := slices.Clone(c.fatal)
				c.mu.Unlock()
				if len(fatal) > 0 {
					t.Fatalf("%s gave up (it will not reconnect): %q", c.name, fatal)
				}
				got := c.snapshot()
				if len(got) == 0 || got[len(got)-1].seq < seq {
					return false
				}
			}
			return true
		})
	}
	type faultReport struct {
		name string
		at   time.Time
	}
	var reports []*faultReport
	// survive marks a fault and waits until every client has afterFault more events.
	survive := func(name string, fault func()) *faultReport {
		t.Helper()
		r := &faultReport{name: name, at: time.Now()}
		fault()
		everyoneGets(pub.last()+afterFault, 60*time.Second, "events after: "+name)
		reports = append(reports, r)
		return r
	}

	everyoneGets(afterFault, 30*time.Second, "the first events")

	// 1. The NATS node the instances are connected to stops.
	survive("NATS node 1 (the instances' server) stops", func() { nodes[0].stop() })
	nodes[0].start(t)

	// 2. An instance is killed while events flow, then started again.
	survive("edgate1 SIGKILL", func() {
		instances[0].signal(syscall.SIGKILL)
		instances[0].wait(t, 10*time.Second)
	})
	instances[0].start(t)
	waitFor(t, 20*time.Second, "HAProxy to see edgate1 again", func() bool { return lb.up("edgate1") })

	// 3. Rolling restart: SIGTERM each instance in turn, start it again. The clients stay
	// where they are after a restart (the restarted instance is empty), so the busiest
	// instance goes first: its clients move to the other, which then goes and sends them
	// all back. Each step must move clients, or it tests nothing.
	order := slices.Clone(instances)
	slices.SortStableFunc(order, func(a, b *instance) int { return b.subscriptions() - a.subscriptions() })
	rollStart := time.Now()
	for _, in := range order {
		subs := in.subscriptions()
		t.Logf("FLEET %s has %d subscriptions at its SIGTERM", in.name, subs)
		if subs <= 0 {
			t.Errorf("%s has no subscriptions to move at its SIGTERM", in.name)
		}
		survive(in.name+" SIGTERM (rolling restart)", func() {
			in.signal(syscall.SIGTERM)
			in.wait(t, 15*time.Second)
		})
		in.start(t)
		waitFor(t, 20*time.Second, "HAProxy to see "+in.name+" again", func() bool { return lb.up(in.name) })
	}
	rollEnd := time.Now()

	stopPub()
	<-pubDone
	last := pub.last()
	everyoneGets(last, 30*time.Second, "every client to have the last event")

	// Exactly once, in order, for every client, over the whole run.
	for _, c := range clients {
		got := c.snapshot()
		lost, repeated := countLostRepeated(got, 1, last)
		ordered := slices.IsSortedFunc(got, func(a, b received) int { return a.seq - b.seq })
		c.mu.Lock()
		t.Logf("%s: %d events, lost %d, repeated %d, in order %v, reconnects %d, recovered errors %d, complete events %d",
			c.name, len(got), lost, repeated, ordered, c.reconnects(), c.errorsSeen, c.completes)
		if lost != 0 || repeated != 0 || !ordered || c.completes != 0 || len(c.fatal) != 0 {
			t.Errorf("%s: lost %d, repeated %d, in order %v, complete events %d, gave up: %q",
				c.name, lost, repeated, ordered, c.completes, c.fatal)
			// where the order broke, with the times
			n := 0
			for i := 1; i < len(got) && n < 5; i++ {
				if got[i].seq != got[i-1].seq+1 {
					t.Logf("  %s: event %d after %d at %s (the previous at %s)", c.name, got[i].seq, got[i-1].seq,
						got[i].at.Format("15:04:05.000"), got[i-1].at.Format("15:04:05.000"))
					n++
				}
			}
			for _, l := range c.lostAt {
				t.Logf("  %s: connection lost at %s", c.name, l.Format("15:04:05.000"))
			}
		}
		c.mu.Unlock()
	}
	nc.mu.Lock()
	if len(nc.bad) > 0 {
		t.Errorf("lines from the node clients that name no client: %q", nc.bad)
	}
	nc.mu.Unlock()

	// The clients are on resumed streams now: their JetStream consumers are as replicated
	// as the stream (the server would make them R1).
	stream, err := js.Stream(context.Background(), "FLEET")
	if err != nil {
		t.Fatal(err)
	}
	resumeConsumers := 0
	lister := stream.ListConsumers(context.Background())
	for info := range lister.Info() {
		if strings.Contains(info.Name, "-resume-") {
			resumeConsumers++
			if info.Config.Replicas != 3 {
				t.Errorf("resume consumer %s has %d replicas, want the stream's 3", info.Name, info.Config.Replicas)
			}
		}
	}
	if err := lister.Err(); err != nil {
		t.Fatalf("list consumers: %v", err)
	}
	if resumeConsumers == 0 {
		t.Error("no resume consumer on the stream: the clients did not resume")
	}
	t.Logf("FLEET %d resume consumers, each with 3 replicas", resumeConsumers)

	// Per fault and client library: the events published from 1s before the fault until
	// 1s before the next one (events in flight when the fault hit are the fault's),
	// lost and repeated over the clients of that library; the time from the fault to the
	// next event of the slowest client, the longest gap a client saw in the window, and
	// the longest time from a client's connection ending to its next event (its failover;
	// on SIGTERM the connection ends only after the drain delay).
	pub.mu.Lock()
	sent := maps.Clone(pub.sent)
	pub.mu.Unlock()
	firstSeqFrom := func(at time.Time) int { // the first seq published at or after at
		for seq := 1; seq <= last; seq++ {
			if !sent[seq].Before(at) {
				return seq
			}
		}
		return last + 1
	}
	for i, r := range reports {
		end := time.Now()
		if i+1 < len(reports) {
			end = reports[i+1].at
		}
		from, to := firstSeqFrom(r.at.Add(-time.Second)), last
		if i+1 < len(reports) {
			to = firstSeqFrom(end.Add(-time.Second)) - 1
		}
		for _, kind := range []string{"sse", "ws"} {
			var lost, repeated int
			var toNext, maxGap time.Duration
			worst := ""
			var reconnectToNext time.Duration // connection lost → next event, slowest client
			for _, c := range clients {
				if c.kind != kind {
					continue
				}
				got := c.snapshot()
				c.mu.Lock()
				lostAt := slices.Clone(c.lostAt)
				c.mu.Unlock()
				for _, l := range lostAt {
					if l.Before(r.at) || l.After(end) {
						continue
					}
					if i := slices.IndexFunc(got, func(e received) bool { return e.at.After(l) }); i >= 0 {
						reconnectToNext = max(reconnectToNext, got[i].at.Sub(l))
					}
				}
				l, rep := countLostRepeated(got, from, to)
				lost, repeated = lost+l, repeated+rep
				prev, first := r.at, true
				for _, e := range got {
					if e.at.Before(r.at) {
						continue
					}
					if e.at.After(end) {
						break
					}
					if first {
						if d := e.at.Sub(r.at); d > toNext {
							toNext, worst = d, c.name
						}
						first = false
					}
					maxGap = max(maxGap, e.at.Sub(prev))
					prev = e.at
				}
			}
			over := ""
			if toNext > 2*time.Second {
				over = " (over the 2s target)"
			}
			lib := map[string]string{"sse": "eventsource", "ws": "graphql-ws"}[kind]
			t.Logf("FLEET fault %-42s %-11s events %4d-%4d lost %d repeated %d; fault→next event %5dms%s (%s); longest gap %5dms; connection lost→next event %5dms",
				r.name, lib, from, to, lost, repeated, toNext.Milliseconds(), over, worst, maxGap.Milliseconds(), reconnectToNext.Milliseconds())
			if lost != 0 || repeated != 0 {
				t.Errorf("%s, %s clients: lost %d, repeated %d of events %d-%d", r.name, lib, lost, repeated, from, to)
			}
		}
	}

	// Latency from publish to client during the rolling restart.
	var lat []time.Duration
	for _, c := range clients {
		for _, e := range c.snapshot() {
			if at, ok := sent[e.seq]; ok && !at.Before(rollStart) && at.Before(rollEnd) {
				lat = append(lat, e.at.Sub(at))
			}
		}
	}
	slices.Sort(lat)
	if len(lat) == 0 {
		t.Fatal("no events during the rolling restart")
	}
	pct := func(p float64) time.Duration { return lat[min(len(lat)-1, int(p*float64(len(lat))))] }
	t.Logf("FLEET rolling restart: %d deliveries, latency p50 %dms, p99 %dms, max %dms (publish → client, includes replays after reconnects)",
		len(lat), pct(0.5).Milliseconds(), pct(0.99).Milliseconds(), lat[len(lat)-1].Milliseconds())
	t.Logf("FLEET %d events per field, %d clients", last, len(clients))
}
