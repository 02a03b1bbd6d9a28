package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/edgate/edgate/testkit/loadgen"
	"github.com/rs/zerolog"
)

// group is a set of subscriptions the benchmark drives: an in-process pool or a worker
// process.
type group interface {
	Status() (loadgen.Status, error)
	Published(seq, at int64) error
	Mark() error
	Result(published int64) (loadgen.Result, error)
	Close() error
}

type localGroup struct{ pool *loadgen.Pool }

func (g localGroup) Status() (loadgen.Status, error)        { return g.pool.Status(), nil }
func (g localGroup) Published(seq, at int64) error          { g.pool.Published(seq, at); return nil }
func (g localGroup) Mark() error                            { g.pool.Mark(); return nil }
func (g localGroup) Result(n int64) (loadgen.Result, error) { return g.pool.Result(n), nil }
func (g localGroup) Close() error                           { g.pool.Close(); return nil }

// groups is every group of a run, driven together.
type groups []group

func (gs groups) status() (loadgen.Status, error) {
	var sum loadgen.Status
	for _, g := range gs {
		s, err := g.Status()
		if err != nil {
			return sum, err
		}
		sum.Subscribers += s.Subscribers
		sum.Connected += s.Connected
		sum.Failed += s.Failed
		sum.Ended += s.Ended
		sum.Warm += s.Warm
		sum.Received += s.Received
	}
	return sum, nil
}

func (gs groups) close(log zerolog.Logger) {
	for _, g := range gs {
		if err := g.Close(); err != nil {
			log.Warn().Err(err).Msg("closing subscribers")
		}
	}
}

func run(ctx context.Context, o *options, log zerolog.Logger) (*report, error) {
	rep := newReport(o)
	var ents *entitiesSubgraph
	if o.entities {
		var err error
		if ents, err = startEntitiesSubgraph(o.entitiesAddr); err != nil {
			return nil, err
		}
		defer ents.Close()
		log.Info().Str("addr", ents.Addr()).Msg("employees subgraph serving _entities")
	}
	if o.otlpSink != "" {
		sink, err := startOTLPSink(o.otlpSink)
		if err != nil {
			return nil, err
		}
		defer func() {
			sink.Close()
			log.Info().Int64("exports", sink.requests.Load()).Int64("bytes", sink.bytes.Load()).Msg("OTLP trace exports received")
		}()
	}
	gw, err := openGateway(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer gw.stop(15 * time.Second)
	rep.Gateway.PID = gw.pid
	// a freshly started gateway is still growing its heap; give it the same settling time
	// as the idle sample gets
	if err := sleep(ctx, o.settle); err != nil {
		return nil, err
	}
	if s, ok := gw.sample(); ok {
		rep.Gateway.RSSBefore = s.RSS
	}

	pub, err := loadgen.NewPublisher(o.natsURL, o.subject, o.payload)
	if err != nil {
		return nil, err
	}
	defer pub.Close()
	if err := pub.SetSubjects(o.subjects); err != nil {
		return nil, err
	}

	openCPU, _ := gw.sample()
	gs, err := startGroups(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer gs.close(log)
	rep.Loadgen.Processes = len(gs)
	if _, remote := gs[0].(*loadgen.Remote); remote {
		rep.Loadgen.Processes++
	}

	// 1. open every subscription
	began := time.Now()
	st, err := waitConnected(ctx, gs, o.connectTimeout, log)
	rep.Subscribers.ConnectSeconds = time.Since(began).Seconds()
	if err != nil {
		return rep, err
	}
	if s, ok := gw.sample(); ok && st.Connected > 0 {
		rep.Gateway.CPUMicrosPerSubscribe = float64((s.CPU - openCPU.CPU).Microseconds()) / float64(st.Connected)
	}
	if st.Connected == 0 {
		res, _ := collect(gs, 0)
		rep.fill(res)
		return rep, fmt.Errorf("no subscription opened: %v", res.FailReasons)
	}

	// 2. idle memory
	if err := sleep(ctx, o.settle); err != nil {
		return rep, err
	}
	if s, ok := gw.sample(); ok {
		rep.Gateway.RSSIdle = s.RSS
	}

	// 3. warm-up: sequence 0 until every open subscription has seen one, so that the
	// measured events find every subscription registered in the gateway
	if st, err = warmUp(ctx, gs, pub, o.warmup, log); err != nil {
		return rep, err
	}
	live := st.Connected - st.Ended
	rep.Subscribers.WarmAtStart = st.Warm

	// 4. measure
	events := o.events()
	cpu0, _ := gw.sample()
	self0, _ := loadgen.ReadProc(0)
	var fetches0 int64
	if ents != nil {
		fetches0 = ents.fetches.Load()
	}
	for _, g := range gs {
		if err := g.Mark(); err != nil {
			return rep, err
		}
	}
	rate := o.rate
	if o.burst > 0 {
		rate = 0
	}
	var hostile hostileRunner
	if o.hostile > 0 {
		if o.hostileProcess {
			if hostile, err = startHostileProcess(o.url, o.hostile); err != nil {
				return rep, err
			}
		} else {
			hostile = startHostileLoad(o.url, o.hostile)
		}
		log.Info().Int("clients", o.hostile).Bool("own_process", o.hostileProcess).Msg("hostile requests running")
	}
	log.Info().Int64("events", events).Float64("rate", rate).Int("subscribers", live).Msg("publishing")
	var pubErr error
	ps, err := pub.Run(ctx, events, rate, func(seq, at int64) {
		for _, g := range gs {
			if err := g.Published(seq, at); err != nil && pubErr == nil {
				pubErr = err
			}
		}
	})
	if err == nil {
		err = pubErr
	}
	if err != nil && hostile != nil {
		hostile.stop(o.hostile, 0)
	}
	rep.Published = ps.Published
	rep.PublishLagMaxMS = ms(ps.MaxLag)
	if err != nil {
		return rep, err
	}
	expected := ps.Published * int64(live)
	if o.subjects > 1 {
		// each subscriber expects the events of its own subject only
		if res, err := collect(gs, ps.Published); err == nil {
			expected = res.Expected
		}
	}
	end := drain(ctx, gs, expected, o.drain, log)
	if hostile != nil {
		rep.Hostile = hostile.stop(o.hostile, time.Since(ps.Start))
	}

	cpu1, sampled := gw.sample()
	self1, _ := loadgen.ReadProc(0)
	res, err := collect(gs, ps.Published)
	if err != nil {
		return rep, err
	}
	rep.fill(res)
	if o.subjects > 1 {
		expected = res.Expected
	}
	rep.Expected = expected
	rep.Lost = expected - res.Received
	if expected > 0 {
		rep.LossPercent = 100 * float64(rep.Lost) / float64(expected)
	}
	last := res.LastReceive
	if last.IsZero() || last.Before(ps.Start) {
		last = end
	}
	rep.WindowSeconds = last.Sub(ps.Start).Seconds()
	if rep.WindowSeconds > 0 {
		rep.DeliveredPerSecond = float64(res.Received) / rep.WindowSeconds
	}
	if sampled {
		cpu := cpu1.CPU - cpu0.CPU
		rep.Gateway.CPUSeconds = cpu.Seconds()
		if res.Received > 0 {
			rep.Gateway.CPUMicrosPerDelivery = float64(cpu.Microseconds()) / float64(res.Received)
		}
		rep.Gateway.RSSEnd = cpu1.RSS
		if rep.Gateway.RSSIdle > 0 && live > 0 {
			rep.Gateway.BytesPerIdleSubscriber = float64(rep.Gateway.RSSIdle-rep.Gateway.RSSBefore) / float64(live)
		}
	}
	loadCPU := res.CPU
	if _, remote := gs[0].(*loadgen.Remote); remote {
		loadCPU += self1.CPU - self0.CPU
	}
	rep.Loadgen.CPUSeconds = loadCPU.Seconds()
	if w := end.Sub(ps.Start).Seconds(); w > 0 {
		rep.Loadgen.Cores = loadCPU.Seconds() / w
	}
	if ents != nil {
		n := ents.fetches.Load() - fetches0
		rep.EntitiesFetches = &n
		if ps.Published > 0 {
			rep.SubgraphRequestsPerEvent = float64(n) / float64(ps.Published)
		}
	}
	return rep, nil
}

// openGateway starts the gateway or adopts a running one, and waits until it is ready.
func openGateway(ctx context.Context, o *options, log zerolog.Logger) (*gateway, error) {
	ready, err := readyURL(o.url)
	if err != nil {
		return nil, err
	}
	var argv []string
	switch {
	case o.start != "":
		argv = strings.Fields(o.start)
	case o.gatewayBin != "":
		argv = []string{o.gatewayBin, "-config", o.config}
	default:
		g := &gateway{pid: o.gatewayPID}
		if err := g.waitReady(ctx, ready, o.readyTimeout); err != nil {
			return nil, err
		}
		if g.pid == 0 {
			log.Warn().Msg("no -gateway-pid: gateway CPU and memory are not measured")
		}
		return g, nil
	}
	// A gateway left over from another run on the same address would answer the readiness
	// probe for the one started here, which then fails to listen: the run would measure
	// the wrong process.
	if busy, said := answers(ctx, ready); busy {
		return nil, fmt.Errorf("%s already answers before the gateway is started (%s): another gateway on that address? stop it, or give -url", ready, said)
	}
	logPath := o.gatewayLog
	if logPath == "" {
		logPath = filepath.Join(os.TempDir(), "edgate-bench-gateway-"+strconv.Itoa(os.Getpid())+".log")
	}
	g, err := startGateway(argv, logPath)
	if err != nil {
		return nil, err
	}
	log.Info().Strs("command", argv).Str("log", logPath).Msg("gateway starting")
	if err := g.waitReady(ctx, ready, o.readyTimeout); err != nil {
		g.stop(5 * time.Second)
		return nil, err
	}
	g.adoptServer()
	log.Info().Int("pid", g.pid).Msg("gateway ready")
	return g, nil
}

// answers reports whether anything serves HTTP at target, with what it said.
func answers(ctx context.Context, target string) (bool, string) {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, target, nil)
	if err != nil {
		return false, err.Error()
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // probing our own test gateways
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	resp.Body.Close()
	return true, resp.Status
}

// startGroups opens the subscriptions in this process, or in worker processes when one
// process would hold more than -conns-per-process connections.
func startGroups(ctx context.Context, o *options, log zerolog.Logger) (groups, error) {
	cfg := loadgen.Config{
		URL:              o.url,
		Transport:        o.transport,
		Query:            o.query,
		Variables:        o.variablesJSON(),
		WSSubsPerConn:    o.wsSubsPerConn,
		SSEH2:            o.sseH2,
		H2StreamsPerConn: o.h2StreamsPerConn,
		H2Client:         o.h2Client,
		SSEGet:           o.sseGet,
		SeqField:         o.seqField,
		DialConcurrency:  o.dialConcurrency,
		MaxSeq:           o.events(),
		Subjects:         o.subjects,
	}
	conns := cfg.Connections(o.subscribers)
	perConn := max(1, (o.subscribers+conns-1)/conns)
	var err error
	if cfg.Sources, err = sourceAddrs(o.url, o.sources, conns); err != nil {
		return nil, err
	}
	procs := (conns + o.connsPerProcess - 1) / o.connsPerProcess
	if procs <= 1 {
		cfg.Subscribers = o.subscribers
		pool, err := loadgen.NewPool(cfg, log)
		if err != nil {
			return nil, err
		}
		pool.Start(ctx)
		log.Info().Int("subscribers", o.subscribers).Int("connections", conns).Strs("sources", cfg.Sources).Msg("opening subscriptions")
		return groups{localGroup{pool}}, nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for worker processes: %w", err)
	}
	connsPer := (conns + procs - 1) / procs
	var gs groups
	left := o.subscribers
	for i := 0; left > 0; i++ {
		c := cfg
		c.Subscribers = min(left, connsPer*perConn)
		c.FirstConn = i * connsPer
		c.FirstSub = o.subscribers - left
		left -= c.Subscribers
		w, err := loadgen.StartWorker(exe, []string{"-worker"}, c, os.Stderr)
		if err != nil {
			gs.close(log)
			return nil, err
		}
		gs = append(gs, w)
	}
	log.Info().Int("subscribers", o.subscribers).Int("connections", conns).Int("workers", len(gs)).Strs("sources", cfg.Sources).Msg("opening subscriptions")
	return gs, nil
}

// sourceAddrs lists the loopback addresses to connect from: n of them, or with n = 0 one
// per 10,000 connections (one source address reaches about 28k ports of one destination,
// and sockets in TIME_WAIT from an earlier run still hold some). Only a loopback target
// can be reached from 127.0.0.x; for others the kernel picks the address.
func sourceAddrs(target string, n, conns int) ([]string, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("gateway url %q: %w", target, err)
	}
	ip := net.ParseIP(u.Hostname())
	if ip == nil || !ip.IsLoopback() || ip.To4() == nil {
		if n > 0 {
			return nil, fmt.Errorf("-sources needs an IPv4 loopback gateway address, not %q", u.Hostname())
		}
		return nil, nil
	}
	if n == 0 {
		n = (conns + 9999) / 10000
	}
	if n > 254 {
		return nil, fmt.Errorf("-sources %d: at most 254", n)
	}
	out := make([]string, n)
	for i := range out {
		out[i] = "127.0.0." + strconv.Itoa(i+1)
	}
	return out, nil
}

func waitConnected(ctx context.Context, gs groups, timeout time.Duration, log zerolog.Logger) (loadgen.Status, error) {
	deadline := time.Now().Add(timeout)
	lastLog := time.Now()
	for {
		st, err := gs.status()
		if err != nil {
			return st, err
		}
		if st.Pending() == 0 {
			log.Info().Int("connected", st.Connected).Int("failed", st.Failed).Msg("subscriptions opened")
			return st, nil
		}
		if time.Since(lastLog) > 2*time.Second {
			log.Info().Int("connected", st.Connected).Int("failed", st.Failed).Int("pending", st.Pending()).Msg("opening")
			lastLog = time.Now()
		}
		if time.Now().After(deadline) {
			return st, fmt.Errorf("%d subscriptions still opening after %v", st.Pending(), timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return st, err
		}
	}
}

func warmUp(ctx context.Context, gs groups, pub *loadgen.Publisher, timeout time.Duration, log zerolog.Logger) (loadgen.Status, error) {
	deadline := time.Now().Add(timeout)
	for {
		for subject := 1; subject <= pub.Subjects(); subject++ {
			if _, err := pub.PublishOn(subject, 0); err != nil {
				return loadgen.Status{}, err
			}
		}
		// give each warm-up event a second to arrive before sending another
		round := time.Now().Add(time.Second)
		for time.Now().Before(round) {
			if err := sleep(ctx, 50*time.Millisecond); err != nil {
				return loadgen.Status{}, err
			}
			st, err := gs.status()
			if err != nil {
				return st, err
			}
			if st.Warm >= st.Connected-st.Ended {
				log.Info().Int("warm", st.Warm).Msg("every subscription receives events")
				// let the last warm-up deliveries leave the gateway before the CPU window
				return st, sleep(ctx, 500*time.Millisecond)
			}
			if time.Now().After(deadline) {
				log.Warn().Int("warm", st.Warm).Int("open", st.Connected-st.Ended).Msg("warm-up timed out: some subscriptions never received an event")
				return st, nil
			}
		}
	}
}

// drain waits until expected deliveries arrived or none arrived for idle; it returns when
// it stopped waiting.
func drain(ctx context.Context, gs groups, expected int64, idle time.Duration, log zerolog.Logger) time.Time {
	var last int64 = -1
	progress := time.Now()
	for {
		st, err := gs.status()
		now := time.Now()
		if err != nil {
			log.Warn().Err(err).Msg("status")
			return now
		}
		if st.Received >= expected {
			return now
		}
		if st.Received != last {
			last, progress = st.Received, now
		}
		if now.Sub(progress) > idle {
			log.Warn().Int64("received", st.Received).Int64("expected", expected).Msg("deliveries stopped arriving")
			return now
		}
		if sleep(ctx, 50*time.Millisecond) != nil {
			return time.Now()
		}
	}
}

func collect(gs groups, published int64) (loadgen.Result, error) {
	rs := make([]loadgen.Result, 0, len(gs))
	for _, g := range gs {
		r, err := g.Result(published)
		if err != nil {
			return loadgen.Result{}, err
		}
		rs = append(rs, r)
	}
	return loadgen.Merge(rs...), nil
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return errors.New("interrupted")
	}
}

// variablesJSON is the variables template of -variables, or "" without it.
func (o *options) variablesJSON() string {
	if !o.variables {
		return ""
	}
	return varTemplate
}
