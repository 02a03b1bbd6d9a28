package loadgen

import (
	"maps"
	"time"
)

// Status is a snapshot of one process's subscribers while a run goes on.
type Status struct {
	Subscribers int   `json:"subscribers"` // subscriptions this process was asked to open
	Connected   int   `json:"connected"`   // opened (SSE: 200 and headers; WS: subscribe sent)
	Failed      int   `json:"failed"`      // could not be opened
	Ended       int   `json:"ended"`       // were open and ended (EOF, complete, error)
	Warm        int   `json:"warm"`        // have received a warm-up event (sequence 0)
	Received    int64 `json:"received"`    // distinct measured events received, all subscribers
}

// Pending reports whether some subscriptions are still being opened.
func (s Status) Pending() int { return s.Subscribers - s.Connected - s.Failed }

// Result is what one process measured; results of several processes are combined with
// Merge.
type Result struct {
	Status
	FailReasons map[string]int `json:"fail_reasons,omitempty"`
	EndReasons  map[string]int `json:"end_reasons,omitempty"`

	Duplicates int64 `json:"duplicates"`   // a measured sequence received again by the same subscriber
	OutOfOrder int64 `json:"out_of_order"` // a sequence received after a higher one
	// Errors counts results carrying GraphQL errors; ErrorSample is one of them.
	Errors      int64  `json:"errors"`
	ErrorSample string `json:"error_sample,omitempty"`
	// Unparsed counts messages without a sequence (and without errors).
	Unparsed int64 `json:"unparsed"`
	// Unmatched counts sequences outside the published range or whose publish time never
	// became known.
	Unmatched int64 `json:"unmatched"`

	// Complete is the number of subscribers that received every published event;
	// MinPerSubscriber the fewest events one connected subscriber received.
	Complete         int   `json:"complete"`
	MinPerSubscriber int64 `json:"min_per_subscriber"`
	// Expected is how many deliveries the subscriptions open at Mark should receive: each
	// the events published on its subject.
	Expected int64 `json:"expected"`

	LastReceive time.Time     `json:"last_receive"` // when the last measured event arrived
	MaxLatency  time.Duration `json:"max_latency_ns"`
	Latency     [][2]uint64   `json:"latency_us_buckets"` // Histogram.Sparse form

	CPU       time.Duration `json:"cpu_ns"` // this process's CPU time between Mark and Finish
	Processes int           `json:"processes"`
}

// Merge combines the results of several processes.
func Merge(rs ...Result) Result {
	var out Result
	var h Histogram
	first := true
	for _, r := range rs {
		out.Subscribers += r.Subscribers
		out.Connected += r.Connected
		out.Failed += r.Failed
		out.Ended += r.Ended
		out.Warm += r.Warm
		out.Received += r.Received
		out.FailReasons = addCounts(out.FailReasons, r.FailReasons)
		out.EndReasons = addCounts(out.EndReasons, r.EndReasons)
		out.Duplicates += r.Duplicates
		out.OutOfOrder += r.OutOfOrder
		out.Errors += r.Errors
		if out.ErrorSample == "" {
			out.ErrorSample = r.ErrorSample
		}
		out.Unparsed += r.Unparsed
		out.Unmatched += r.Unmatched
		out.Complete += r.Complete
		out.Expected += r.Expected
		if r.Connected > 0 {
			if first || r.MinPerSubscriber < out.MinPerSubscriber {
				out.MinPerSubscriber = r.MinPerSubscriber
			}
			first = false
		}
		if r.LastReceive.After(out.LastReceive) {
			out.LastReceive = r.LastReceive
		}
		out.MaxLatency = max(out.MaxLatency, r.MaxLatency)
		h.AddSparse(r.Latency)
		out.CPU += r.CPU
		out.Processes += max(r.Processes, 1)
	}
	out.Latency = h.Sparse()
	return out
}

func addCounts(dst, src map[string]int) map[string]int {
	if len(src) == 0 {
		return dst
	}
	if dst == nil {
		dst = make(map[string]int, len(src))
	}
	for k, v := range maps.All(src) {
		dst[k] += v
	}
	return dst
}

// Quantile returns a latency percentile of the result (q in [0,1]).
func (r Result) Quantile(q float64) time.Duration {
	var h Histogram
	h.AddSparse(r.Latency)
	return time.Duration(h.Quantile(q)) * time.Microsecond
}
