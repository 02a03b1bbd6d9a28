package loadgen

import (
	"sync"
	"sync/atomic"
	"time"
)

// trackerShards spreads the latency histogram and the last-receive time over several
// copies so that thousands of reader goroutines do not all hit the same cache lines.
const trackerShards = 16

// Tracker accounts the deliveries of one process's subscribers: loss, duplicates, order
// and publish-to-receive latency. Publish times come from the publisher (in this process or,
// for a worker, over its stdin) and may arrive after the event itself; such deliveries wait
// in a pending list until the time is known.
type Tracker struct {
	maxSeq int64
	pubAt  []atomic.Int64 // unix nanos per sequence; 0 while unknown
	// subjects and firstSub deal the subscribers over subjects (SetSubjects).
	subjects, firstSub int

	shards [trackerShards]trackerShard

	received, duplicates, outOfOrder, errors, unparsed, unmatched atomic.Int64
	connected, failed, ended, warm                                atomic.Int64

	mu          sync.Mutex
	pending     []pendingDelivery
	subs        []*Sub
	failReasons map[string]int
	endReasons  map[string]int
	errorSample string
	markCPU     time.Duration
	marked      bool
}

type trackerShard struct {
	hist        Histogram
	maxLatency  atomic.Int64
	lastReceive atomic.Int64
	_           [64]byte
}

type pendingDelivery struct {
	shard     int
	seq, recv int64
}

// Sub is the accounting state of one subscription. Its methods must be called from one
// goroutine (the one reading the subscription's connection).
type Sub struct {
	t      *Tracker
	shard  int
	warm   bool
	open   bool
	done   bool
	last   int64
	seen   []uint64 // bit per sequence, allocated on the first measured event
	got    atomic.Int64
	opened atomic.Bool // set once by Opened, read by Result
	ended  atomic.Bool // set once by End, read by Mark
	// subject is the subscription's subject, 1..subjects (1 when all share one).
	subject int
	// live is whether the subscription was open when the measurement began (Mark).
	live bool
}

// NewTracker accounts sequences 1..maxSeq.
func NewTracker(maxSeq int64) *Tracker {
	return &Tracker{
		maxSeq:      maxSeq,
		pubAt:       make([]atomic.Int64, maxSeq+1),
		failReasons: make(map[string]int),
		endReasons:  make(map[string]int),
	}
}

// SetSubjects deals the subscriptions registered from now on over k subjects, the first
// being the global subscriber firstSub (see Config.Subjects).
func (t *Tracker) SetSubjects(k, firstSub int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.subjects, t.firstSub = k, firstSub
}

// NewSub registers one subscription.
func (t *Tracker) NewSub() *Sub {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := &Sub{t: t, shard: len(t.subs) % trackerShards, subject: SubjectOf(t.firstSub+len(t.subs), t.subjects)}
	t.subs = append(t.subs, s)
	return s
}

// Published records when sequence seq was published (unix nanos).
func (t *Tracker) Published(seq, at int64) {
	if seq < 1 || seq > t.maxSeq {
		return
	}
	t.pubAt[seq].Store(at)
	t.mu.Lock()
	defer t.mu.Unlock()
	kept := t.pending[:0]
	for _, p := range t.pending {
		if p.seq == seq {
			t.shards[p.shard].recordLatency(p.recv - at)
			continue
		}
		kept = append(kept, p)
	}
	t.pending = kept
}

// Mark starts the measurement window of this process's CPU time and notes which
// subscriptions are open: those are expected to receive the measured events.
func (t *Tracker) Mark() {
	s, err := ReadProc(0)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err == nil {
		t.markCPU = s.CPU
	}
	t.marked = true
	for _, sub := range t.subs {
		sub.live = sub.opened.Load() && !sub.ended.Load()
	}
}

// Opened marks the subscription open.
func (s *Sub) Opened() {
	if s.open || s.done {
		return
	}
	s.open = true
	s.opened.Store(true)
	s.t.connected.Add(1)
}

// Failed marks a subscription that could not be opened.
func (s *Sub) Failed(reason string) {
	if s.open || s.done {
		s.End(reason)
		return
	}
	s.done = true
	s.t.failed.Add(1)
	s.t.mu.Lock()
	s.t.failReasons[reason]++
	s.t.mu.Unlock()
}

// End marks an open subscription ended (first reason wins).
func (s *Sub) End(reason string) {
	if !s.open || s.done {
		return
	}
	s.done = true
	s.ended.Store(true)
	s.t.ended.Add(1)
	s.t.mu.Lock()
	s.t.endReasons[reason]++
	s.t.mu.Unlock()
}

// Deliver accounts one event with sequence seq received at recv (unix nanos). Sequence 0
// is the warm-up event: it proves the subscription is live and is not measured.
func (s *Sub) Deliver(seq, recv int64) {
	t := s.t
	if seq == 0 {
		if !s.warm {
			s.warm = true
			t.warm.Add(1)
		}
		return
	}
	if seq < 0 || seq > t.maxSeq {
		t.unmatched.Add(1)
		return
	}
	if s.seen == nil {
		s.seen = make([]uint64, t.maxSeq/64+1)
	}
	w, bit := seq/64, uint64(1)<<(seq%64)
	if s.seen[w]&bit != 0 {
		t.duplicates.Add(1)
		return
	}
	s.seen[w] |= bit
	s.got.Add(1)
	t.received.Add(1)
	if seq < s.last {
		t.outOfOrder.Add(1)
	} else {
		s.last = seq
	}
	sh := &t.shards[s.shard]
	if recv > sh.lastReceive.Load() {
		sh.lastReceive.Store(recv)
	}
	if at := t.pubAt[seq].Load(); at != 0 {
		sh.recordLatency(recv - at)
		return
	}
	// Published stores the time before taking the lock, so either the time is visible
	// here or this entry is in the list before Published scans it.
	t.mu.Lock()
	defer t.mu.Unlock()
	if at := t.pubAt[seq].Load(); at != 0 {
		sh.recordLatency(recv - at)
		return
	}
	t.pending = append(t.pending, pendingDelivery{shard: s.shard, seq: seq, recv: recv})
}

// Error accounts a result carrying GraphQL errors.
func (s *Sub) Error(msg []byte) {
	s.t.errors.Add(1)
	s.t.mu.Lock()
	defer s.t.mu.Unlock()
	if s.t.errorSample == "" {
		s.t.errorSample = string(truncate(msg, 300))
	}
}

// Unparsed accounts a message that carried neither a sequence nor errors.
func (s *Sub) Unparsed() { s.t.unparsed.Add(1) }

func (sh *trackerShard) recordLatency(ns int64) {
	sh.hist.Record(ns / 1000)
	for {
		cur := sh.maxLatency.Load()
		if ns <= cur || sh.maxLatency.CompareAndSwap(cur, ns) {
			return
		}
	}
}

// Status returns a snapshot.
func (t *Tracker) Status() Status {
	t.mu.Lock()
	n := len(t.subs)
	t.mu.Unlock()
	return Status{
		Subscribers: n,
		Connected:   int(t.connected.Load()),
		Failed:      int(t.failed.Load()),
		Ended:       int(t.ended.Load()),
		Warm:        int(t.warm.Load()),
		Received:    t.received.Load(),
	}
}

// Result summarizes the run so far; published is how many measured events were published.
func (t *Tracker) Result(published int64) Result {
	r := Result{Status: t.Status(), Processes: 1}
	t.mu.Lock()
	defer t.mu.Unlock()
	r.FailReasons = copyCounts(t.failReasons)
	r.EndReasons = copyCounts(t.endReasons)
	r.Duplicates = t.duplicates.Load()
	r.OutOfOrder = t.outOfOrder.Load()
	r.Errors = t.errors.Load()
	r.ErrorSample = t.errorSample
	r.Unparsed = t.unparsed.Load()
	r.Unmatched = t.unmatched.Load() + int64(len(t.pending))
	first := true
	for _, s := range t.subs {
		// a subscription that never opened is reported as failed, not as a loser
		if !s.opened.Load() {
			continue
		}
		got := s.got.Load()
		want := EventsOn(s.subject, t.subjects, published)
		if !t.marked || s.live {
			r.Expected += want
		}
		if got >= want {
			r.Complete++
		}
		if first || got < r.MinPerSubscriber {
			r.MinPerSubscriber = got
			first = false
		}
	}
	var h Histogram
	for i := range t.shards {
		sh := &t.shards[i]
		h.Merge(&sh.hist)
		r.MaxLatency = max(r.MaxLatency, time.Duration(sh.maxLatency.Load()))
		if ns := sh.lastReceive.Load(); ns > 0 && time.Unix(0, ns).After(r.LastReceive) {
			r.LastReceive = time.Unix(0, ns)
		}
	}
	r.Latency = h.Sparse()
	if s, err := ReadProc(0); err == nil {
		r.CPU = s.CPU - t.markCPU
	}
	return r
}

func copyCounts(m map[string]int) map[string]int {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]int, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
