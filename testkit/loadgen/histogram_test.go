package loadgen

import (
	"testing"
)

func TestHistogram_BucketsCoverEveryValueOnce(t *testing.T) {
	prevHi := int64(-1)
	for i := range numBuckets - 1 {
		lo, hi := bucketBounds(i)
		if int64(lo) != prevHi+1 {
			t.Fatalf("bucket %d starts at %d, previous ended at %d", i, lo, prevHi)
		}
		if bucketOf(lo) != i || bucketOf(hi) != i {
			t.Fatalf("bucket %d [%d,%d]: bucketOf gives %d and %d", i, lo, hi, bucketOf(lo), bucketOf(hi))
		}
		prevHi = int64(hi)
	}
}

func TestHistogram_QuantileWithinOneBucketOfExact(t *testing.T) {
	var h Histogram
	for v := int64(1); v <= 100_000; v++ {
		h.Record(v)
	}
	for _, tc := range []struct {
		q    float64
		want int64
	}{{0.5, 50_000}, {0.99, 99_000}, {1, 100_000}, {0.0001, 10}} {
		got := h.Quantile(tc.q)
		if got < tc.want || float64(got) > float64(tc.want)*(1+1.0/subBuckets) {
			t.Errorf("Quantile(%v) = %d, want %d (+%.1f%%)", tc.q, got, tc.want, 100.0/subBuckets)
		}
	}
}

func TestHistogram_SmallValuesAreExact(t *testing.T) {
	var h Histogram
	for _, v := range []int64{3, 1, 2, 7, 5} {
		h.Record(v)
	}
	if got := h.Quantile(0.5); got != 3 {
		t.Errorf("p50 = %d, want 3", got)
	}
	if got := h.Quantile(0.99); got != 7 {
		t.Errorf("p99 = %d, want 7", got)
	}
	if got := h.Quantile(0); got != 1 {
		t.Errorf("p0 = %d, want 1", got)
	}
}

func TestHistogram_EmptyAndOutOfRange(t *testing.T) {
	var h Histogram
	if got := h.Quantile(0.5); got != 0 {
		t.Errorf("empty p50 = %d", got)
	}
	h.Record(-5)
	h.Record(1 << 50)
	if got := h.Quantile(0); got != 0 {
		t.Errorf("negative recorded as %d, want 0", got)
	}
	if got := h.Quantile(1); got < 1<<40 {
		t.Errorf("huge value reported as %d, want the top bucket", got)
	}
}

func TestHistogram_SparseRoundTrip(t *testing.T) {
	var a, b Histogram
	for v := range int64(5000) {
		a.Record(v * 37)
	}
	b.AddSparse(a.Sparse())
	if a.Count() != b.Count() || a.Quantile(0.99) != b.Quantile(0.99) || a.Quantile(0.5) != b.Quantile(0.5) {
		t.Fatalf("round trip changed the histogram: %d/%d %d/%d", a.Count(), b.Count(), a.Quantile(0.99), b.Quantile(0.99))
	}
}
