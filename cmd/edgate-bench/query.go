package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/testkit/loadgen"
)

// Operations of -mode query, by -op name. Each is a complete GraphQL document; with
// -distinct N the benchmark names it Q0..Q(N-1) so the gateway sees N different texts.
var queryOps = map[string]string{
	// one fetch from the employees subgraph
	"one-fetch": "query { employee(id: 1) { id name } }",
	// the employee from the employees subgraph, then its department with an _entities
	// fetch from the details subgraph
	"entity-jump": "query { employee(id: 1) { id name department } }",
	// no subgraph at all: the request path alone
	"typename": "query { __typename }",
	// a publish to NATS (employeePublished.1, which nothing subscribes to)
	"publish": "mutation { publishEmployee(id: 1) { success } }",
}

// queryReport is the outcome of a -mode query run.
type queryReport struct {
	Scenario struct {
		Op              string  `json:"op"`
		Query           string  `json:"query"`
		Clients         int     `json:"clients"`
		Distinct        int     `json:"distinct"`
		DurationSeconds float64 `json:"duration_seconds"`
		Cores           int     `json:"cores"`
		Started         string  `json:"started"`
	} `json:"scenario"`
	Requests      int64   `json:"requests"`
	Errors        int64   `json:"errors"`
	ErrorSample   string  `json:"error_sample,omitempty"`
	WindowSeconds float64 `json:"window_seconds"`
	PerSecond     float64 `json:"requests_per_second"`
	LatencyMS     struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`
	Gateway struct {
		PID                 int     `json:"pid,omitempty"`
		CPUSeconds          float64 `json:"cpu_seconds"`
		CPUMicrosPerRequest float64 `json:"cpu_us_per_request"`
		RSSEnd              int64   `json:"rss_end_bytes"`
	} `json:"gateway"`
	Loadgen struct {
		CPUSeconds float64 `json:"cpu_seconds"`
		Cores      float64 `json:"cores"`
	} `json:"loadgen"`
}

// queryBodies returns the request bodies the clients cycle through: the operation's text
// once, or -distinct named variants of it.
func queryBodies(query string, distinct int) [][]byte {
	if distinct <= 1 {
		b, _ := json.Marshal(map[string]string{"query": query})
		return [][]byte{b}
	}
	out := make([][]byte, distinct)
	for i := range out {
		// "query { ... }" → "query Q7 { ... }": same plan, different text
		kw, rest, _ := strings.Cut(query, " ")
		b, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("%s Q%d %s", kw, i, rest)})
		out[i] = b
	}
	return out
}

// runQueries drives -mode query: -clients closed-loop clients, each on its own keep-alive
// connection, POST the operation back to back for -duration after -query-warmup.
func runQueries(ctx context.Context, o *options, log zerolog.Logger) (*queryReport, error) {
	rep := &queryReport{}
	s := &rep.Scenario
	s.Op, s.Query, s.Clients, s.Distinct = o.op, o.query, o.clients, max(o.distinct, 1)
	s.DurationSeconds = o.duration.Seconds()
	s.Cores = runtime.NumCPU()
	s.Started = time.Now().UTC().Format(time.RFC3339)

	if o.entitiesAddr != "" { // empty: the subgraphs are served elsewhere
		subgraphs, err := startEntitiesSubgraph(o.entitiesAddr)
		if err != nil {
			return nil, err
		}
		defer subgraphs.Close()
	}
	gw, err := openGateway(ctx, o, log)
	if err != nil {
		return nil, err
	}
	defer gw.stop(15 * time.Second)
	rep.Gateway.PID = gw.pid

	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		MaxIdleConns:        o.clients,
		MaxIdleConnsPerHost: o.clients,
		MaxConnsPerHost:     o.clients,
		DisableCompression:  true,
		IdleConnTimeout:     time.Minute,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	bodies := queryBodies(o.query, o.distinct)

	// one request first: a broken setup fails fast with the gateway's answer
	if _, err := postQuery(ctx, client, o.url, bodies[0], nil); err != nil {
		return rep, fmt.Errorf("first request: %w", err)
	}

	var (
		measuring atomic.Bool
		stop      atomic.Bool
		wg        sync.WaitGroup
		hists     = make([]loadgen.Histogram, o.clients)
		counts    = make([]int64, o.clients)
		errs      = make([]int64, o.clients)
		sampleMu  sync.Mutex
		sample    string
	)
	for c := 0; c < o.clients; c++ {
		wg.Add(1)
		go func(c int) {
			defer wg.Done()
			buf := new(bytes.Buffer)
			for i := c; !stop.Load(); i++ {
				began := time.Now()
				_, err := postQuery(ctx, client, o.url, bodies[i%len(bodies)], buf)
				if !measuring.Load() {
					continue
				}
				hists[c].Record(time.Since(began).Microseconds())
				counts[c]++
				if err != nil {
					errs[c]++
					sampleMu.Lock()
					if sample == "" {
						sample = err.Error()
					}
					sampleMu.Unlock()
				}
			}
		}(c)
	}
	log.Info().Int("clients", o.clients).Dur("warmup", o.queryWarmup).Msg("warming up")
	err = sleep(ctx, o.queryWarmup)
	cpu0, _ := gw.sample()
	self0, _ := loadgen.ReadProc(0)
	began := time.Now()
	measuring.Store(true)
	if err == nil {
		log.Info().Dur("duration", o.duration).Msg("measuring")
		err = sleep(ctx, o.duration)
	}
	measuring.Store(false)
	window := time.Since(began)
	cpu1, sampled := gw.sample()
	self1, _ := loadgen.ReadProc(0)
	stop.Store(true)
	wg.Wait()

	var h loadgen.Histogram
	for c := range hists {
		h.Merge(&hists[c])
		rep.Requests += counts[c]
		rep.Errors += errs[c]
	}
	rep.ErrorSample = sample
	rep.WindowSeconds = window.Seconds()
	rep.PerSecond = float64(rep.Requests) / window.Seconds()
	q := func(p float64) float64 { return float64(h.Quantile(p)) / 1000 }
	rep.LatencyMS.P50, rep.LatencyMS.P90, rep.LatencyMS.P99, rep.LatencyMS.Max = q(0.5), q(0.9), q(0.99), q(1)
	if sampled && rep.Requests > 0 {
		cpu := cpu1.CPU - cpu0.CPU
		rep.Gateway.CPUSeconds = cpu.Seconds()
		rep.Gateway.CPUMicrosPerRequest = float64(cpu.Microseconds()) / float64(rep.Requests)
		rep.Gateway.RSSEnd = cpu1.RSS
	}
	rep.Loadgen.CPUSeconds = (self1.CPU - self0.CPU).Seconds()
	rep.Loadgen.Cores = rep.Loadgen.CPUSeconds / window.Seconds()
	return rep, err
}

// postQuery sends one request and checks for a 200 without "errors"; buf (optional) is
// reused for the response body.
func postQuery(ctx context.Context, client *http.Client, url string, body []byte, buf *bytes.Buffer) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json, application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if buf == nil {
		buf = new(bytes.Buffer)
	}
	buf.Reset()
	if _, err := io.Copy(buf, resp.Body); err != nil {
		return nil, err
	}
	out := buf.Bytes()
	if resp.StatusCode != http.StatusOK || bytes.Contains(out, []byte(`"errors"`)) || !bytes.HasPrefix(out, []byte(`{"data":{`)) {
		return out, fmt.Errorf("%s: %.200s", resp.Status, out)
	}
	return out, nil
}

func (r *queryReport) writeJSON(path string) error { return writeJSONFile(path, r) }

func (r *queryReport) writeText(w io.Writer) {
	s := r.Scenario
	var b strings.Builder
	fmt.Fprintf(&b, "edgate-bench  query mode, %d keep-alive clients, %gs, %d cores\n", s.Clients, s.DurationSeconds, s.Cores)
	fmt.Fprintf(&b, "  operation     %s (%s", s.Query, s.Op)
	if s.Distinct > 1 {
		fmt.Fprintf(&b, ", %d distinct texts", s.Distinct)
	}
	b.WriteString(")\n")
	fmt.Fprintf(&b, "  requests      %d in %.2fs: %.0f req/s, %d errors\n", r.Requests, r.WindowSeconds, r.PerSecond, r.Errors)
	if r.ErrorSample != "" {
		fmt.Fprintf(&b, "                e.g. %s\n", r.ErrorSample)
	}
	fmt.Fprintf(&b, "  latency       p50 %.2f ms, p90 %.2f ms, p99 %.2f ms, max %.2f ms\n", r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	if r.Gateway.PID == 0 {
		fmt.Fprintf(&b, "  gateway       not sampled (give -gateway-pid, -start or -gateway-bin)\n")
	} else {
		fmt.Fprintf(&b, "  gateway CPU   %.1f µs per request (%.2fs CPU, pid %d), RSS %s at the end\n", r.Gateway.CPUMicrosPerRequest, r.Gateway.CPUSeconds, r.Gateway.PID, mib(r.Gateway.RSSEnd))
	}
	fmt.Fprintf(&b, "  load gen CPU  %.2f cores (%.2fs CPU, subgraphs included)\n", r.Loadgen.Cores, r.Loadgen.CPUSeconds)
	_, _ = io.WriteString(w, b.String())
}
