package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Config says which subscriptions one process opens. It travels as JSON to worker
// processes.
type Config struct {
	URL       string `json:"url"`       // the gateway's GraphQL endpoint, http://host:port/path
	Transport string `json:"transport"` // "sse" or "ws"
	Query     string `json:"query"`
	// Variables, when set, is the JSON object sent as the operation's variables, with
	// SubjectPlaceholder replaced like in Query: per-user subscriptions as generated
	// clients send them (one operation text, a value per user).
	Variables string `json:"variables,omitempty"`
	// Subscribers is the number of subscriptions this process opens.
	Subscribers int `json:"subscribers"`
	// WSSubsPerConn puts that many subscriptions on one WebSocket connection (default 1).
	WSSubsPerConn int `json:"ws_subs_per_conn"`
	// SSEH2 multiplexes SSE streams over HTTP/2 connections, H2StreamsPerConn of them on
	// each (default 100): cleartext with prior knowledge for an http:// URL, TLS (ALPN h2,
	// certificate not verified) for https://.
	SSEH2            bool `json:"sse_h2"`
	H2StreamsPerConn int  `json:"h2_streams_per_conn"`
	// H2Client is the HTTP/2 client: H2ClientFramer (default) reads a connection's streams
	// on one goroutine, H2ClientNetHTTP is net/http's client (a goroutine per stream).
	H2Client string `json:"h2_client"`
	// SSEGet sends GET ?query= instead of a POST with a JSON body.
	SSEGet bool `json:"sse_get"`
	// SeqField names the result field that carries the sequence (default "id").
	SeqField string `json:"seq_field"`
	// Sources are the local addresses connections are made from, round robin by global
	// connection index; empty lets the kernel choose. One source address reaches about
	// 28k ports of one destination.
	Sources []string `json:"sources"`
	// FirstConn is the global index of this process's first connection, so that workers
	// continue the round robin over Sources where the previous one stopped.
	FirstConn int `json:"first_conn"`
	// DialConcurrency bounds connections being opened at once (default 64).
	DialConcurrency int `json:"dial_concurrency"`
	// ReadBuffer is the read buffer per connection (default 1024 bytes).
	ReadBuffer int `json:"read_buffer"`
	// MaxSeq is the highest sequence that will be published.
	MaxSeq int64 `json:"max_seq"`
	// Subjects spreads the subscribers over that many subjects (0 or 1: all share one):
	// subscriber i (counted from FirstSub over all processes) takes subject i%Subjects+1,
	// which replaces SubjectPlaceholder in Query, and receives only the events published
	// on it (see SubjectOfSeq).
	Subjects int `json:"subjects"`
	// FirstSub is the global index of this process's first subscriber.
	FirstSub int `json:"first_sub"`
}

func (c *Config) defaults() error {
	if c.WSSubsPerConn <= 0 {
		c.WSSubsPerConn = 1
	}
	if c.H2StreamsPerConn <= 0 {
		c.H2StreamsPerConn = 100
	}
	switch c.H2Client {
	case "":
		c.H2Client = H2ClientFramer
	case H2ClientFramer, H2ClientNetHTTP:
	default:
		return fmt.Errorf("h2 client %q: want %s or %s", c.H2Client, H2ClientFramer, H2ClientNetHTTP)
	}
	if c.SeqField == "" {
		c.SeqField = "id"
	}
	if c.DialConcurrency <= 0 {
		c.DialConcurrency = 64
	}
	if c.ReadBuffer <= 0 {
		c.ReadBuffer = 1024
	}
	if c.Transport != "sse" && c.Transport != "ws" {
		return fmt.Errorf("transport %q: want sse or ws", c.Transport)
	}
	if c.Query == "" {
		return errors.New("no subscription query")
	}
	return nil
}

// HTTP/2 clients (Config.H2Client).
const (
	H2ClientFramer  = "framer"
	H2ClientNetHTTP = "nethttp"
)

// Connections is how many connections c opens for subs subscriptions.
func (c Config) Connections(subs int) int {
	per := 1
	switch {
	case c.Transport == "ws" && c.WSSubsPerConn > 1:
		per = c.WSSubsPerConn
	case c.Transport == "sse" && c.SSEH2:
		per = c.H2StreamsPerConn
		if per <= 0 {
			per = 100
		}
	}
	return (subs + per - 1) / per
}

// Pool opens and reads the subscriptions of one process.
type Pool struct {
	cfg     Config
	log     zerolog.Logger
	tracker *Tracker
	target  *url.URL
	dialers []*net.Dialer
	seq     SeqExtractor

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// NewPool checks cfg; Start opens the subscriptions.
func NewPool(cfg Config, log zerolog.Logger) (*Pool, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("gateway url %q: want http://host:port/path", cfg.URL)
	}
	if u.Scheme == "https" && !(cfg.Transport == "sse" && cfg.SSEH2) {
		return nil, fmt.Errorf("gateway url %q: https is supported for SSE over HTTP/2 (-sse-h2) only", cfg.URL)
	}
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		u.Host = net.JoinHostPort(u.Hostname(), port)
	}
	p := &Pool{cfg: cfg, log: log, tracker: NewTracker(cfg.MaxSeq), target: u, seq: NewSeqExtractor(cfg.SeqField)}
	p.tracker.SetSubjects(cfg.Subjects, cfg.FirstSub)
	if len(cfg.Sources) == 0 {
		p.dialers = []*net.Dialer{{Timeout: 30 * time.Second}}
	}
	for _, s := range cfg.Sources {
		ip := net.ParseIP(s)
		if ip == nil {
			return nil, fmt.Errorf("source address %q is not an IP address", s)
		}
		p.dialers = append(p.dialers, &net.Dialer{Timeout: 30 * time.Second, LocalAddr: &net.TCPAddr{IP: ip}})
	}
	return p, nil
}

// Start opens the subscriptions in the background; Status tells how far it got.
func (p *Pool) Start(ctx context.Context) {
	p.ctx, p.cancel = context.WithCancel(ctx)
	subs := make([]*Sub, p.cfg.Subscribers)
	for i := range subs {
		subs[i] = p.tracker.NewSub()
	}
	sem := make(chan struct{}, p.cfg.DialConcurrency)
	p.wg.Go(func() {
		switch {
		case p.cfg.Transport == "ws":
			p.startGroups(sem, subs, p.cfg.WSSubsPerConn, p.runWS)
		case p.cfg.SSEH2 && p.cfg.H2Client == H2ClientNetHTTP:
			p.startGroups(sem, subs, p.cfg.H2StreamsPerConn, p.runSSEH2)
		case p.cfg.SSEH2:
			p.startGroups(sem, subs, p.cfg.H2StreamsPerConn, p.runSSEH2Framer)
		default:
			p.startGroups(sem, subs, 1, func(conn int, subs []*Sub, opened func()) {
				p.runSSE(conn, subs[0], opened)
			})
		}
	})
}

// startGroups runs one goroutine per connection, each holding up to per subscriptions,
// with at most cap(sem) connections being opened at once.
func (p *Pool) startGroups(sem chan struct{}, subs []*Sub, per int, run func(conn int, subs []*Sub, opened func())) {
	for conn := 0; len(subs) > 0; conn++ {
		n := min(per, len(subs))
		group := subs[:n]
		subs = subs[n:]
		select {
		case sem <- struct{}{}:
		case <-p.ctx.Done():
			for _, s := range group {
				s.Failed("cancelled")
			}
			for _, s := range subs {
				s.Failed("cancelled")
			}
			return
		}
		p.wg.Go(func() {
			var once sync.Once
			opened := func() { once.Do(func() { <-sem }) }
			defer opened()
			run(p.cfg.FirstConn+conn, group, opened)
		})
	}
}

func (p *Pool) dialer(conn int) *net.Dialer { return p.dialers[conn%len(p.dialers)] }

// query is the subscription operation sub sends.
func (p *Pool) query(sub *Sub) string { return withSubject(p.cfg.Query, sub.subject) }

// payload is a subscription's GraphQL request: the query and, with Config.Variables, its
// variables.
func (p *Pool) payload(sub *Sub) map[string]any {
	m := map[string]any{"query": p.query(sub)}
	if p.cfg.Variables != "" {
		m["variables"] = json.RawMessage(withSubject(p.cfg.Variables, sub.subject))
	}
	return m
}

// setQuery puts a subscription's request into URL parameters (GET).
func (p *Pool) setQuery(q url.Values, sub *Sub) {
	q.Set("query", p.query(sub))
	if p.cfg.Variables != "" {
		q.Set("variables", withSubject(p.cfg.Variables, sub.subject))
	}
}

// Status returns a snapshot of the subscriptions.
func (p *Pool) Status() Status { return p.tracker.Status() }

// Published records the publish time of seq.
func (p *Pool) Published(seq, at int64) { p.tracker.Published(seq, at) }

// Mark starts the CPU measurement window.
func (p *Pool) Mark() { p.tracker.Mark() }

// Result summarizes what the subscriptions received of published events.
func (p *Pool) Result(published int64) Result { return p.tracker.Result(published) }

// Close ends every subscription and waits for the connection goroutines.
func (p *Pool) Close() {
	if p.cancel != nil {
		p.cancel()
	}
	p.wg.Wait()
}

// endReason names why a connection ended: the pool closing it is "closed".
func (p *Pool) endReason(err error) string {
	if p.ctx.Err() != nil {
		return "closed by the load generator"
	}
	if err == nil {
		return "eof"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	if errors.Is(err, net.ErrClosed) {
		return "closed"
	}
	return shortError(err)
}

// shortError keeps failure reasons groupable: per-connection details such as port
// numbers would make every reason distinct.
func shortError(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Op + ": " + op.Err.Error()
	}
	return err.Error()
}
