package resolve

import (
	"bytes"
	"context"
	"encoding/json"
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

// An operation without fetches or variables of its own is resolved once per prepared
// entry; one that declares variables, or fetches, is resolved every time.
func TestExecute_ConstantResultOfAFetchlessOperationIsKept(t *testing.T) {
	env := newTestEnv(t)
	run := func(query, vars string) (string, *preparedEntry) {
		t.Helper()
		op, err := env.engine.Prepare(context.Background(), &Request{Query: query, Variables: json.RawMessage(vars)})
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		buf.WriteString("prefix:") // the transports' buffers may hold something already
		if err := env.engine.Execute(context.Background(), op, &buf); err != nil {
			t.Fatal(err)
		}
		// other writers than a buffer get the same
		var sb strings.Builder
		if err := env.engine.Execute(context.Background(), op, &sb); err != nil {
			t.Fatal(err)
		}
		if got := strings.TrimPrefix(buf.String(), "prefix:"); got != sb.String() {
			t.Fatalf("%s: %s into a buffer, %s into a writer", query, got, sb.String())
		}
		return sb.String(), op.prepared.entry
	}

	for _, q := range []string{`{ __typename }`, `query Q { a: __typename b: __typename }`, `{ __typename @include(if: false) x: __typename }`} {
		first, ent := run(q, "")
		if ent.constant.Load() == nil || string(*ent.constant.Load()) != first {
			t.Fatalf("%s: no constant result kept (%s)", q, first)
		}
		*ent.constant.Load() = []byte(`{"data":{"kept":true}}`) // what a second request is served from
		if again, _ := run(q, ""); again != `{"data":{"kept":true}}` {
			t.Fatalf("%s: resolved again: %s", q, again)
		}
	}

	q := `query ($v: Boolean!) { __typename x: __typename @include(if: $v) }`
	if got, ent := run(q, `{"v":true}`); ent.constant.Load() != nil || got != `{"data":{"__typename":"Query","x":"Query"}}` {
		t.Fatalf("with variables: %s, constant %v", got, ent.constant.Load() != nil)
	}
	if got, ent := run(`{ employee(id: 1) { id } }`, ""); ent.constant.Load() != nil || got != `{"data":{"employee":{"id":1}}}` {
		t.Fatalf("with a fetch: %s, constant %v", got, ent.constant.Load() != nil)
	}
}
