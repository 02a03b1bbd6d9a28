package resolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/buger/jsonparser"
)

// Entity batching is a DataLoader for events. With a subject per user, each event is its
// own group's and needs its own `_entities` fetch; events of different groups that arrive
// close together and need entities from the same subgraph, with the same query and the
// same forwarded headers, go out as one request whose representations are the
// concatenation of theirs, and each fetch gets its slice of the answer back.
//
// Events whose plan is a single `_entities` fetch into the event's object do not get here:
// the hub's entity loader (entityload.go) batches them without the general resolver. This
// batcher serves the rest of event resolution (several fetches, nested entities, tracing
// on, event hooks) and the loader's fallbacks.
//
// It works at the HTTP layer below the engine: the engine builds and parses each fetch as
// usual, and the batcher, an http.RoundTripper, merges the requests it is allowed to (the
// hub marks the context of event resolution; queries and mutations are never delayed).
// Anything it cannot split with certainty (a status other than 200, GraphQL errors, a
// wrong number of entities) is retried request by request, so a batch never changes what
// a fetch sees.

// DefaultEntityBatchWindow is the least time between two batched `_entities` requests of
// one subgraph, query and header scope (entityload.go), and how long a fetch of the HTTP
// batcher waits for others while one is in flight. 3ms: at 2,000 events/s a request
// carries about six events' representations (the subgraph request, not the event, is
// most of the gateway's cost), and a lone event waits for nothing.
const DefaultEntityBatchWindow = 3 * time.Millisecond

// entityBatchMax bounds the representations in one merged request; a full batch goes out
// at once.
const entityBatchMax = 256

type batchEntitiesKey struct{}

// withEntityBatching marks ctx: entity fetches made with it may be merged with others.
func withEntityBatching(ctx context.Context) context.Context {
	return context.WithValue(ctx, batchEntitiesKey{}, true)
}

type entityBatcher struct {
	next   http.RoundTripper
	window time.Duration
	// timeout bounds a merged request, which no single caller's context governs.
	timeout time.Duration
	stats   *Stats

	mu       sync.Mutex
	pending  map[string]*entityBatch
	inflight map[string]int // requests being made per key
}

func newEntityBatcher(next http.RoundTripper, window, timeout time.Duration, stats *Stats) *entityBatcher {
	if next == nil {
		next = http.DefaultTransport
	}
	return &entityBatcher{next: next, window: window, timeout: timeout, stats: stats, pending: make(map[string]*entityBatch), inflight: make(map[string]int)}
}

type entityBatch struct {
	key     string
	query   []byte // the "query" value, raw JSON
	first   *http.Request
	waiters []*entityWaiter
	reps    int
	timer   *time.Timer
}

type entityWaiter struct {
	req  *http.Request
	body []byte
	reps [][]byte
	done chan entityResult
}

type entityResult struct {
	resp *http.Response
	err  error
}

func (b *entityBatcher) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Method != http.MethodPost || req.Body == nil || req.Context().Value(batchEntitiesKey{}) == nil {
		return b.next.RoundTrip(req)
	}
	body, err := io.ReadAll(req.Body)
	_ = req.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("read subgraph request body: %w", err)
	}
	query, reps, ok := entitiesRequest(body)
	if !ok {
		return b.next.RoundTrip(withBody(req, body))
	}
	w := &entityWaiter{req: req, body: body, reps: reps, done: make(chan entityResult, 1)}
	b.stats.EntityFetches.Add(1)
	b.add(batchKey(req, query), query, w)
	select {
	case r := <-w.done:
		return r.resp, r.err
	case <-req.Context().Done():
		// the batch goes on for the others; this fetch's slice is dropped
		return nil, req.Context().Err()
	}
}

// add sends w at once when nothing is in flight or waiting for its key (a lone event pays
// no window), and otherwise adds it to the key's batch, which goes out when its window
// ends or it is full.
func (b *entityBatcher) add(key string, query []byte, w *entityWaiter) {
	b.mu.Lock()
	bt := b.pending[key]
	if bt == nil && b.inflight[key] == 0 {
		b.inflight[key]++
		b.mu.Unlock()
		b.send(key, &entityBatch{key: key, query: query, first: w.req, waiters: []*entityWaiter{w}, reps: len(w.reps)})
		return
	}
	if bt == nil {
		bt = &entityBatch{key: key, query: query, first: w.req}
		b.pending[key] = bt
		bt.timer = time.AfterFunc(b.window, func() { b.flush(bt) })
	}
	bt.waiters = append(bt.waiters, w)
	bt.reps += len(w.reps)
	full := bt.reps >= entityBatchMax
	if full {
		delete(b.pending, key)
		b.inflight[key]++
	}
	b.mu.Unlock()
	if full && bt.timer.Stop() {
		go b.send(key, bt)
	}
}

// flush sends bt when its window ends, unless it was sent full already.
func (b *entityBatcher) flush(bt *entityBatch) {
	b.mu.Lock()
	if b.pending[bt.key] != bt {
		b.mu.Unlock()
		return
	}
	delete(b.pending, bt.key)
	b.inflight[bt.key]++
	b.mu.Unlock()
	b.send(bt.key, bt)
}

// send makes the requests of bt and hands out the answers; the key's in-flight count was
// raised by the caller.
func (b *entityBatcher) send(key string, bt *entityBatch) {
	defer func() {
		b.mu.Lock()
		if b.inflight[key]--; b.inflight[key] == 0 {
			delete(b.inflight, key)
		}
		b.mu.Unlock()
	}()
	if len(bt.waiters) == 1 {
		w := bt.waiters[0]
		b.stats.EntityRequests.Add(1)
		resp, err := b.next.RoundTrip(withBody(w.req, w.body))
		w.done <- entityResult{resp, err}
		return
	}
	parts, err := b.merged(bt)
	if err != nil {
		// one by one: each fetch gets its own answer and its own errors
		for _, w := range bt.waiters {
			go func() {
				b.stats.EntityRequests.Add(1)
				resp, err := b.next.RoundTrip(withBody(w.req, w.body))
				w.done <- entityResult{resp, err}
			}()
		}
		return
	}
	for i, w := range bt.waiters {
		w.done <- entityResult{resp: &http.Response{
			Status: "200 OK", StatusCode: http.StatusOK, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
			Header:        http.Header{"Content-Type": []string{"application/json"}},
			Body:          io.NopCloser(bytes.NewReader(parts[i])),
			ContentLength: int64(len(parts[i])),
			Request:       w.req,
		}}
	}
}

// merged sends one request for every waiter of bt and splits the entities of the answer.
func (b *entityBatcher) merged(bt *entityBatch) ([][]byte, error) {
	body := make([]byte, 0, 64+len(bt.query)+bt.reps*64)
	body = append(body, `{"query":`...)
	body = append(body, bt.query...)
	body = append(body, `,"variables":{"representations":[`...)
	n := 0
	for _, w := range bt.waiters {
		for _, r := range w.reps {
			if n > 0 {
				body = append(body, ',')
			}
			body = append(body, r...)
			n++
		}
	}
	body = append(body, "]}}"...)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(bt.first.Context()), b.timeout)
	defer cancel()
	req := bt.first.Clone(ctx)
	// the transport negotiates (and undoes) compression of the merged answer itself
	req.Header.Del("Accept-Encoding")
	req = withBody(req, body)
	b.stats.EntityRequests.Add(1)
	resp, err := b.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("status %d", resp.StatusCode)
	}
	if _, _, _, err := jsonparser.Get(data, "errors"); err == nil {
		return nil, errors.New("the merged request has errors")
	}
	var items [][]byte
	bad := false
	_, err = jsonparser.ArrayEach(data, func(v []byte, typ jsonparser.ValueType, _ int, _ error) {
		switch typ {
		case jsonparser.Object:
		case jsonparser.Null:
			v = []byte("null")
		default:
			bad = true
		}
		items = append(items, v)
	}, "data", "_entities")
	if err != nil || bad || len(items) != n {
		return nil, fmt.Errorf("the merged answer has %d entities for %d representations", len(items), n)
	}
	parts := make([][]byte, len(bt.waiters))
	i := 0
	for k, w := range bt.waiters {
		p := make([]byte, 0, 32+len(w.reps)*64)
		p = append(p, `{"data":{"_entities":[`...)
		for j := range w.reps {
			if j > 0 {
				p = append(p, ',')
			}
			p = append(p, items[i]...)
			i++
		}
		parts[k] = append(p, "]}}"...)
	}
	return parts, nil
}

// entitiesRequest recognizes the body of an `_entities` fetch: a query and a
// representations variable, nothing else.
func entitiesRequest(body []byte) (query []byte, reps [][]byte, ok bool) {
	ok = true
	var variables []byte
	err := jsonparser.ObjectEach(body, func(key, value []byte, typ jsonparser.ValueType, _ int) error {
		switch {
		case string(key) == "query" && typ == jsonparser.String:
			q, err := jsonparser.ParseString(value)
			if err != nil {
				ok = false
				return nil
			}
			query = appendJSONString(nil, q)
		case string(key) == "variables" && typ == jsonparser.Object:
			variables = value
		default:
			ok = false
		}
		return nil
	})
	if err != nil || !ok || query == nil || variables == nil || !bytes.Contains(query, []byte("_entities")) {
		return nil, nil, false
	}
	err = jsonparser.ObjectEach(variables, func(key, value []byte, typ jsonparser.ValueType, _ int) error {
		if string(key) != "representations" || typ != jsonparser.Array {
			ok = false
			return nil
		}
		_, aerr := jsonparser.ArrayEach(value, func(v []byte, t jsonparser.ValueType, _ int, _ error) {
			if t != jsonparser.Object {
				ok = false
			}
			reps = append(reps, v)
		})
		if aerr != nil {
			ok = false
		}
		return nil
	})
	if err != nil || !ok || len(reps) == 0 {
		return nil, nil, false
	}
	return query, reps, true
}

// batchKey identifies the requests that may share one: same method, URL, headers (but
// the W3C trace context) and query.
func batchKey(req *http.Request, query []byte) string {
	var sb strings.Builder
	sb.WriteString(req.Method)
	sb.WriteByte(' ')
	sb.WriteString(req.URL.String())
	sb.WriteByte('\n')
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		// Each traced request has its own trace context; it must not keep requests apart
		// (the merged request carries the first one's).
		if k != "Traceparent" && k != "Tracestate" {
			names = append(names, k)
		}
	}
	slices.Sort(names)
	for _, k := range names {
		sb.WriteString(k)
		sb.WriteByte(':')
		for _, v := range req.Header[k] {
			sb.WriteString(strconv.Quote(v))
		}
		sb.WriteByte('\n')
	}
	sb.Write(query)
	return sb.String()
}

func withBody(req *http.Request, body []byte) *http.Request {
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.ContentLength = int64(len(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return req
}
