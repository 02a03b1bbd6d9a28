// Package loadgen is the client side of edgate-bench: light-weight SSE and
// graphql-transport-ws subscribers, a paced NATS publisher, delivery accounting
// (loss, order, latency) and the worker protocol that spreads subscribers over several
// processes.
package loadgen

import (
	"math/bits"
	"sync/atomic"
)

// Latencies are recorded in microseconds into log-linear buckets: values below subBuckets
// are exact, above that every power of two is split into subBuckets equal buckets, which
// bounds the relative error of a reported percentile by 1/subBuckets (1.6 %).
const (
	subBucketBits = 6
	subBuckets    = 1 << subBucketBits
	// numBuckets covers values up to 2^40 µs (about 12 days).
	numBuckets = (40 - subBucketBits + 2) * subBuckets
)

// Histogram counts latencies in microseconds. Record is safe for concurrent use; the
// other methods must not run concurrently with Record.
type Histogram struct {
	counts [numBuckets]atomic.Uint64
}

func bucketOf(v uint64) int {
	if v < subBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - subBucketBits - 1
	if shift >= 40-subBucketBits+1 {
		return numBuckets - 1
	}
	return (shift+1)*subBuckets + int(v>>uint(shift)) - subBuckets
}

// bucketBounds is the range [lo, hi] of values that land in bucket i.
func bucketBounds(i int) (lo, hi uint64) {
	if i < subBuckets {
		return uint64(i), uint64(i)
	}
	shift := uint(i/subBuckets - 1)
	base := uint64(i%subBuckets+subBuckets) << shift
	return base, base + (1 << shift) - 1
}

// Record adds one value in microseconds.
func (h *Histogram) Record(us int64) {
	if us < 0 {
		us = 0
	}
	h.counts[bucketOf(uint64(us))].Add(1)
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Merge adds the counts of o to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range o.counts {
		if c := o.counts[i].Load(); c != 0 {
			h.counts[i].Add(c)
		}
	}
}

// Quantile returns the value (µs) below or at which a fraction q of the recorded values
// lie: the upper bound of the bucket that holds the ceil(q*count)-th smallest value, so
// it never understates a percentile. It is 0 for an empty histogram.
func (h *Histogram) Quantile(q float64) int64 {
	total := h.Count()
	if total == 0 {
		return 0
	}
	if q < 0 {
		q = 0
	}
	if q > 1 {
		q = 1
	}
	rank := uint64(q * float64(total))
	if float64(rank) < q*float64(total) || rank == 0 {
		rank++
	}
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			_, hi := bucketBounds(i)
			return int64(hi)
		}
	}
	_, hi := bucketBounds(numBuckets - 1)
	return int64(hi)
}

// Sparse lists the non-empty buckets as [bucket, count] pairs, for JSON.
func (h *Histogram) Sparse() [][2]uint64 {
	var out [][2]uint64
	for i := range h.counts {
		if c := h.counts[i].Load(); c != 0 {
			out = append(out, [2]uint64{uint64(i), c})
		}
	}
	return out
}

// AddSparse adds counts in the form Sparse returns; unknown buckets are ignored.
func (h *Histogram) AddSparse(s [][2]uint64) {
	for _, p := range s {
		if p[0] < numBuckets {
			h.counts[p[0]].Add(p[1])
		}
	}
}
