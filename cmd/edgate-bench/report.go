package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"sort"
	"strings"
	"time"

	"github.com/edgate/edgate/testkit/loadgen"
)

// report is the outcome of one run, printed as text and written as JSON with -json.
type report struct {
	Scenario struct {
		Transport        string  `json:"transport"`
		Subscribers      int     `json:"subscribers"`
		Subjects         int     `json:"subjects"` // subscribers spread over this many subjects
		WSSubsPerConn    int     `json:"ws_subs_per_conn,omitempty"`
		SSEH2            bool    `json:"sse_h2,omitempty"`
		H2StreamsPerConn int     `json:"h2_streams_per_conn,omitempty"`
		H2Client         string  `json:"h2_client,omitempty"`
		TLS              bool    `json:"tls,omitempty"`
		Rate             float64 `json:"rate,omitempty"`
		DurationSeconds  float64 `json:"duration_seconds,omitempty"`
		Burst            int     `json:"burst,omitempty"`
		Query            string  `json:"query"`
		Entities         bool    `json:"entities,omitempty"`
		Cores            int     `json:"cores"`
		Started          string  `json:"started"`
	} `json:"scenario"`

	Subscribers struct {
		Connected      int            `json:"connected"`
		Failed         int            `json:"failed"`
		FailReasons    map[string]int `json:"fail_reasons,omitempty"`
		Ended          int            `json:"ended"`
		EndReasons     map[string]int `json:"end_reasons,omitempty"`
		WarmAtStart    int            `json:"warm_at_start"`
		ConnectSeconds float64        `json:"connect_seconds"`
		Complete       int            `json:"complete"` // received every published event
		MinPerSub      int64          `json:"min_received_per_subscriber"`
	} `json:"subscribers"`

	Published       int64   `json:"published"`
	PublishLagMaxMS float64 `json:"publish_lag_max_ms"`
	Expected        int64   `json:"deliveries_expected"`
	Received        int64   `json:"deliveries_received"`
	Lost            int64   `json:"deliveries_lost"`
	LossPercent     float64 `json:"loss_percent"`
	OutOfOrder      int64   `json:"out_of_order"`
	InOrder         bool    `json:"in_order"`
	Duplicates      int64   `json:"duplicates"`
	Errors          int64   `json:"errors"`
	ErrorSample     string  `json:"error_sample,omitempty"`
	Unparsed        int64   `json:"unparsed"`
	Unmatched       int64   `json:"unmatched"`

	WindowSeconds      float64 `json:"window_seconds"` // first publish to last delivery
	DeliveredPerSecond float64 `json:"delivered_per_second"`
	LatencyMS          struct {
		P50 float64 `json:"p50"`
		P90 float64 `json:"p90"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_ms"`

	Gateway struct {
		PID                  int     `json:"pid,omitempty"`
		CPUSeconds           float64 `json:"cpu_seconds"`
		CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
		// CPUMicrosPerSubscribe is the gateway's CPU while the subscriptions opened, per
		// subscription opened (connection, request, preparation, broker subscription).
		CPUMicrosPerSubscribe  float64 `json:"cpu_us_per_subscribe"`
		RSSBefore              int64   `json:"rss_before_bytes"`
		RSSIdle                int64   `json:"rss_idle_bytes"`
		RSSEnd                 int64   `json:"rss_end_bytes"`
		BytesPerIdleSubscriber float64 `json:"bytes_per_idle_subscriber"`
	} `json:"gateway"`

	Loadgen struct {
		CPUSeconds float64 `json:"cpu_seconds"`
		Cores      float64 `json:"cores"` // CPU seconds per second of the measured window
		Processes  int     `json:"processes"`
	} `json:"loadgen"`

	// Hostile: the -hostile requests answered while the events were published.
	Hostile *hostileReport `json:"hostile,omitempty"`

	EntitiesFetches *int64 `json:"entities_fetches,omitempty"`
	// SubgraphRequestsPerEvent is EntitiesFetches divided by the published events.
	SubgraphRequestsPerEvent float64 `json:"subgraph_requests_per_event,omitempty"`
}

func newReport(o *options) *report {
	r := &report{}
	s := &r.Scenario
	s.Transport = o.transport
	s.Subscribers = o.subscribers
	s.Subjects = o.subjects
	if o.transport == "ws" {
		s.WSSubsPerConn = o.wsSubsPerConn
	}
	if o.transport == "sse" && o.sseH2 {
		s.SSEH2 = true
		s.H2StreamsPerConn = o.h2StreamsPerConn
		s.H2Client = o.h2Client
	}
	s.TLS = strings.HasPrefix(o.url, "https:")
	if o.burst > 0 {
		s.Burst = o.burst
	} else {
		s.Rate = o.rate
		s.DurationSeconds = o.duration.Seconds()
	}
	s.Query = o.query
	s.Entities = o.entities
	s.Cores = runtime.NumCPU()
	s.Started = time.Now().UTC().Format(time.RFC3339)
	return r
}

// fill copies the merged subscriber result into the report.
func (r *report) fill(res loadgen.Result) {
	s := &r.Subscribers
	s.Connected = res.Connected
	s.Failed = res.Failed
	s.FailReasons = res.FailReasons
	s.Ended = res.Ended
	s.EndReasons = res.EndReasons
	s.Complete = res.Complete
	s.MinPerSub = res.MinPerSubscriber
	r.Received = res.Received
	r.OutOfOrder = res.OutOfOrder
	r.InOrder = res.OutOfOrder == 0 && res.Duplicates == 0
	r.Duplicates = res.Duplicates
	r.Errors = res.Errors
	r.ErrorSample = res.ErrorSample
	r.Unparsed = res.Unparsed
	r.Unmatched = res.Unmatched
	// a percentile is a bucket's upper bound, which may lie above the exact maximum
	q := func(p float64) float64 { return ms(min(res.Quantile(p), res.MaxLatency)) }
	r.LatencyMS.P50 = q(0.50)
	r.LatencyMS.P90 = q(0.90)
	r.LatencyMS.P99 = q(0.99)
	r.LatencyMS.Max = ms(res.MaxLatency)
	r.Loadgen.CPUSeconds = res.CPU.Seconds()
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r *report) writeJSON(path string) error { return writeJSONFile(path, r) }

func writeJSONFile(path string, r any) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("encode report: %w", err)
	}
	if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write report: %w", err)
	}
	return nil
}

func (r *report) writeText(w io.Writer) {
	s := r.Scenario
	var b strings.Builder
	fmt.Fprintf(&b, "edgate-bench  %s", s.Transport)
	if s.SSEH2 {
		proto := "h2c"
		if s.TLS {
			proto = "h2 (TLS)"
		}
		fmt.Fprintf(&b, " over %s (%d streams/conn, %s client)", proto, s.H2StreamsPerConn, s.H2Client)
	}
	if s.WSSubsPerConn > 1 {
		fmt.Fprintf(&b, " (%d subscriptions/conn)", s.WSSubsPerConn)
	}
	fmt.Fprintf(&b, ", %d subscribers, ", s.Subscribers)
	switch {
	case s.Subjects == s.Subscribers && s.Subjects > 1:
		fmt.Fprintf(&b, "each on its own subject, ")
	case s.Subjects > 1:
		fmt.Fprintf(&b, "over %d subjects, ", s.Subjects)
	}
	if s.Burst > 0 {
		fmt.Fprintf(&b, "burst of %d", s.Burst)
	} else {
		fmt.Fprintf(&b, "%g events/s for %gs", s.Rate, s.DurationSeconds)
	}
	fmt.Fprintf(&b, ", %d cores\n", s.Cores)
	fmt.Fprintf(&b, "  query         %s\n", s.Query)
	sub := r.Subscribers
	fmt.Fprintf(&b, "  subscribers   %d connected (in %.1fs), %d failed, %d ended early\n", sub.Connected, sub.ConnectSeconds, sub.Failed, sub.Ended)
	writeReasons(&b, "failed", sub.FailReasons)
	writeReasons(&b, "ended", sub.EndReasons)
	if r.Published > 0 {
		fmt.Fprintf(&b, "  published     %d events (publisher fell behind its schedule by %.1f ms at most)\n", r.Published, r.PublishLagMaxMS)
		fmt.Fprintf(&b, "  deliveries    %d expected, %d received, %d lost (%.3f%%)\n", r.Expected, r.Received, r.Lost, r.LossPercent)
		order := "in order"
		if !r.InOrder {
			order = "NOT in order"
		}
		fmt.Fprintf(&b, "  order         %s: %d out of order, %d duplicates; %d of %d subscribers got every event (fewest: %d)\n",
			order, r.OutOfOrder, r.Duplicates, sub.Complete, sub.Connected, sub.MinPerSub)
		if r.Errors > 0 || r.Unparsed > 0 || r.Unmatched > 0 {
			fmt.Fprintf(&b, "  anomalies     %d error results, %d without a sequence, %d unmatched\n", r.Errors, r.Unparsed, r.Unmatched)
			if r.ErrorSample != "" {
				fmt.Fprintf(&b, "                e.g. %s\n", r.ErrorSample)
			}
		}
		fmt.Fprintf(&b, "  throughput    %.0f msg/s delivered over %.2fs (first publish to last delivery)\n", r.DeliveredPerSecond, r.WindowSeconds)
		fmt.Fprintf(&b, "  latency       p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, max %.1f ms (publish -> client)\n",
			r.LatencyMS.P50, r.LatencyMS.P90, r.LatencyMS.P99, r.LatencyMS.Max)
	}
	g := r.Gateway
	if g.PID == 0 {
		fmt.Fprintf(&b, "  gateway       not sampled (give -gateway-pid, -start or -gateway-bin)\n")
	} else {
		if r.Published > 0 {
			fmt.Fprintf(&b, "  gateway CPU   %.2f µs per delivery (%.3fs CPU, pid %d)\n", g.CPUMicrosPerDelivery, g.CPUSeconds, g.PID)
		}
		if g.CPUMicrosPerSubscribe > 0 {
			fmt.Fprintf(&b, "  subscribe CPU %.1f µs per subscription opened (gateway CPU while they opened)\n", g.CPUMicrosPerSubscribe)
		}
		fmt.Fprintf(&b, "  gateway RSS   %s before, %s with %d idle subscribers: %s per idle subscriber; %s at the end\n",
			mib(g.RSSBefore), mib(g.RSSIdle), sub.Connected, kib(g.BytesPerIdleSubscriber), mib(g.RSSEnd))
	}
	if h := r.Hostile; h != nil {
		fmt.Fprintf(&b, "  hostile       %d clients: %d answered (%.1f/s; status:count %v), %d transport failures",
			h.Clients, h.Answered, h.PerSecond, h.Statuses, h.Failures)
		if h.AnswerMS != nil {
			fmt.Fprintf(&b, "; answer p50 %.1f ms, p99 %.1f ms, max %.1f ms", h.AnswerMS["p50"], h.AnswerMS["p99"], h.AnswerMS["max"])
		}
		if h.Process {
			fmt.Fprintf(&b, "; in their own process: %.2fs CPU", h.CPUSeconds)
		} else {
			b.WriteString("; in the measuring process (within its load gen CPU)")
		}
		b.WriteString("\n")
	}
	if r.EntitiesFetches != nil {
		per := 0.0
		if r.Published > 0 {
			per = float64(*r.EntitiesFetches) / float64(r.Published)
		}
		fmt.Fprintf(&b, "  _entities     %d fetches (%.2f per event)\n", *r.EntitiesFetches, per)
	}
	if r.Published > 0 {
		fmt.Fprintf(&b, "  load gen CPU  %.2f cores (%.2fs CPU, %d processes)\n", r.Loadgen.Cores, r.Loadgen.CPUSeconds, r.Loadgen.Processes)
	}
	_, _ = io.WriteString(w, b.String())
}

func writeReasons(b *strings.Builder, what string, reasons map[string]int) {
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return reasons[keys[i]] > reasons[keys[j]] })
	for i, k := range keys {
		if i == 5 {
			fmt.Fprintf(b, "                ... %d more reasons\n", len(keys)-5)
			break
		}
		fmt.Fprintf(b, "                %s %d: %s\n", what, reasons[k], k)
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func kib(n float64) string { return fmt.Sprintf("%.2f KiB", n/1024) }
