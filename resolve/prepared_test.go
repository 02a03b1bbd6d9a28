package resolve

import (
	"fmt"
	"strings"
	"testing"
)

func TestPreparedCache_BoundedByEntriesAndBytes(t *testing.T) {
	stats := &Stats{}
	c := newPreparedCache(3, 1<<20, stats)
	for i := range 5 {
		q := fmt.Sprintf("{ a%d }", i)
		c.put(&preparedEntry{key: rawKey(q, ""), query: q})
	}
	if c.len() != 3 || stats.PreparedEvictions.Load() != 2 {
		t.Fatalf("%d entries, %d evictions; want 3 and 2", c.len(), stats.PreparedEvictions.Load())
	}
	if c.get(rawKey("{ a0 }", ""), "{ a0 }", "") != nil || c.get(rawKey("{ a4 }", ""), "{ a4 }", "") == nil {
		t.Fatal("not the least recently used evicted")
	}
	// a hit makes an entry the most recent: a2 is older now than a3 and a4
	c.get(rawKey("{ a2 }", ""), "{ a2 }", "")
	c.put(&preparedEntry{key: rawKey("{ a5 }", ""), query: "{ a5 }"})
	if c.get(rawKey("{ a2 }", ""), "{ a2 }", "") == nil || c.get(rawKey("{ a3 }", ""), "{ a3 }", "") != nil {
		t.Fatal("a hit did not refresh the entry")
	}

	big := strings.Repeat("x", 10_000)
	b := newPreparedCache(1000, 3*(entryOverhead+10_000), &Stats{})
	for i := range 5 {
		q := fmt.Sprintf("{ a%d } # %s", i, big)
		b.put(&preparedEntry{key: rawKey(q, ""), query: q})
	}
	if b.len() != 2 || b.bytes > b.maxBytes {
		t.Fatalf("%d entries of %d bytes in a cache of %d bytes", b.len(), b.bytes, b.maxBytes)
	}
	// a hash collision never serves another text
	if b.get(rawKey("{ a4 } # "+big, ""), "{ other }", "") != nil {
		t.Fatal("an entry served for another text")
	}
}
