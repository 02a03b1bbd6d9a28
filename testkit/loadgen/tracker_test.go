package loadgen

import (
	"testing"
	"time"
)

func TestTracker_CountsLossDuplicatesAndOrder(t *testing.T) {
	tr := NewTracker(5)
	a, b, never := tr.NewSub(), tr.NewSub(), tr.NewSub()
	a.Opened()
	b.Opened()
	never.Failed("dial tcp: connection refused")
	base := time.Now().UnixNano()
	for seq := int64(1); seq <= 5; seq++ {
		tr.Published(seq, base+seq*1000)
	}
	a.Deliver(0, base) // warm-up: not measured
	for _, seq := range []int64{1, 2, 4, 3, 5, 5} {
		a.Deliver(seq, base+seq*1000+int64(2*time.Millisecond))
	}
	b.Deliver(1, base+1000+int64(time.Millisecond))
	b.End("eof")

	r := tr.Result(5)
	if r.Connected != 2 || r.Failed != 1 || r.Ended != 1 || r.Warm != 1 {
		t.Errorf("status = %+v", r.Status)
	}
	if r.Received != 6 || r.Duplicates != 1 || r.OutOfOrder != 1 {
		t.Errorf("received %d duplicates %d out of order %d; want 6, 1, 1", r.Received, r.Duplicates, r.OutOfOrder)
	}
	if r.Complete != 1 || r.MinPerSubscriber != 1 {
		t.Errorf("complete %d min %d; want 1, 1", r.Complete, r.MinPerSubscriber)
	}
	if r.FailReasons["dial tcp: connection refused"] != 1 || r.EndReasons["eof"] != 1 {
		t.Errorf("reasons: %v %v", r.FailReasons, r.EndReasons)
	}
	if p50 := r.Quantile(0.5); p50 < 2*time.Millisecond || p50 > 2050*time.Microsecond {
		t.Errorf("p50 = %v, want about 2ms", p50)
	}
	if r.MaxLatency != 2*time.Millisecond {
		t.Errorf("max = %v, want 2ms", r.MaxLatency)
	}
}

func TestTracker_DeliveryBeforePublishTimeIsKnown(t *testing.T) {
	tr := NewTracker(3)
	s := tr.NewSub()
	s.Opened()
	s.Deliver(2, 5_000_000)
	s.Deliver(3, 9_000_000)
	if r := tr.Result(3); r.Unmatched != 2 {
		t.Fatalf("before the publish times: unmatched = %d, want 2", r.Unmatched)
	}
	tr.Published(2, 1_000_000)
	r := tr.Result(3)
	if r.Unmatched != 1 || r.MaxLatency != 4*time.Millisecond {
		t.Fatalf("unmatched %d max %v; want 1, 4ms", r.Unmatched, r.MaxLatency)
	}
	s.Deliver(7, 1) // beyond the published range
	if r := tr.Result(3); r.Unmatched != 2 {
		t.Errorf("out of range: unmatched = %d, want 2", r.Unmatched)
	}
}

func TestMerge_SumsCountsAndCombinesLatency(t *testing.T) {
	mk := func(lat int64, n int) Result {
		var h Histogram
		for range n {
			h.Record(lat)
		}
		return Result{
			Status:           Status{Subscribers: n, Connected: n, Received: int64(n)},
			EndReasons:       map[string]int{"eof": 1},
			Complete:         n,
			MinPerSubscriber: int64(n),
			MaxLatency:       time.Duration(lat) * time.Microsecond,
			Latency:          h.Sparse(),
			LastReceive:      time.Unix(int64(n), 0),
			CPU:              time.Second,
			Processes:        1,
		}
	}
	idle := Result{Status: Status{Subscribers: 5, Failed: 5}, Processes: 1}
	m := Merge(mk(100, 10), mk(5000, 90), idle)
	if m.Subscribers != 105 || m.Connected != 100 || m.Failed != 5 || m.Received != 100 || m.Complete != 100 {
		t.Errorf("counts: %+v", m.Status)
	}
	if m.MinPerSubscriber != 10 {
		t.Errorf("min per subscriber = %d, want 10 (a process without subscribers does not count)", m.MinPerSubscriber)
	}
	if m.EndReasons["eof"] != 2 || m.Processes != 3 || m.CPU != 2*time.Second {
		t.Errorf("reasons %v processes %d cpu %v", m.EndReasons, m.Processes, m.CPU)
	}
	if m.MaxLatency != 5*time.Millisecond || !m.LastReceive.Equal(time.Unix(90, 0)) {
		t.Errorf("max %v last %v", m.MaxLatency, m.LastReceive)
	}
	if p5 := m.Quantile(0.05); p5 > 102*time.Microsecond {
		t.Errorf("p5 = %v, want about 100µs", p5)
	}
	if p50 := m.Quantile(0.5); p50 < 5*time.Millisecond {
		t.Errorf("p50 = %v, want about 5ms", p50)
	}
}
