package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

// The own-subject fast path and the entity loader parse events and answers into pooled
// arenas and render payloads that then wait in subscribers' queues while later events
// reuse those arenas. These tests publish many distinct events on many subjects at once
// (several broker goroutines), keep every delivered payload until the end (some
// subscribers read nothing until everything is published) and then compare each byte
// for byte with what the general resolver gives: a payload that pointed into an arena
// or buffer that went back to a pool would show another event's bytes.

// subscriber is one stream with its wake channel.
type subscriber struct {
	s    *Stream
	wake chan struct{}
}

func subscribeTo(t testing.TB, e *Engine, query string) subscriber {
	t.Helper()
	op, err := e.Prepare(context.Background(), &Request{Query: query})
	if err != nil {
		t.Fatal(err)
	}
	wake := make(chan struct{}, 1)
	s, err := e.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return subscriber{s, wake}
}

// collect pulls n messages from sub, keeping the payloads as delivered (no copy).
func collect(sub subscriber, n int, deadline time.Time) ([]Message, error) {
	var out []Message
	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for len(out) < n {
		msgs, end := sub.s.Pull(nil)
		out = append(out, msgs...)
		if len(out) >= n {
			break
		}
		if end != nil {
			return out, fmt.Errorf("stream ended after %d of %d messages: %+v", len(out), n, end)
		}
		select {
		case <-sub.wake:
		case <-timer.C:
			return out, fmt.Errorf("%d of %d messages by the deadline", len(out), n)
		}
	}
	if len(out) > n {
		return out, fmt.Errorf("%d messages, want %d", len(out), n)
	}
	return out, nil
}

// ownSubjectEvent is the k-th event of subject i: ids of 1 to 19 digits, and payloads in
// several forms (key order and spaces, no __typename, an escaped key, a field of another
// subgraph with an escaped string of growing length that the declared-field check drops,
// a missing key that the event check reports).
func ownSubjectEvent(i, k int) string {
	id := int64(i+1)*1_000_003 + int64(k)
	for range k % 13 {
		id = id*10 + int64(k%10)
	}
	switch k % 6 {
	case 0:
		return fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id)
	case 1:
		return fmt.Sprintf(` { "id" : %d , "__typename" : "Employee" } `, id)
	case 2:
		return fmt.Sprintf(`{"id":%d}`, id)
	case 3:
		return fmt.Sprintf(`{"__typename":"Employee","i\u0064":%d}`, id)
	case 4:
		return fmt.Sprintf(`{"__typename":"Employee","id":%d,"name":"%s"}`, id, strings.Repeat(`\"\u00e9\\x`, k+i%7))
	default:
		if k%12 == 5 {
			return `{"__typename":"Employee"}`
		}
		return fmt.Sprintf(`{"__typename":"Employee","id":%d,"name":"n\n%d"}`, id, id)
	}
}

func TestFastPath_PayloadsOfManyOwnSubjectsSurviveLaterEventsByteForByte(t *testing.T) {
	// in parallel with the entity loader's test: the event arenas' pool is shared
	t.Parallel()
	e, mem := newEngineWith(t, Options{Log: zerolog.Nop()})
	const subjects, perSubject = 24, 48
	queries := []string{
		`subscription { employeeUpdated(id: %d) { id } }`,
		`subscription { employeeUpdated(id: %d) { __typename id } }`,
		`subscription S { e: employeeUpdated(id: %d) { t: __typename id } }`,
		`subscription { employeeUpdated(id: %d) { ... on Employee { id __typename } } }`,
	}
	type subjectSubs struct {
		subject int
		query   string
		// readers pull as messages come; slow ones only once everything is published
		readers, slow []subscriber
	}
	// the first eight subjects have a second group (another query): its consumer hands
	// both groups the same event bytes
	subs := make([]subjectSubs, subjects+8)
	for i := range subs {
		subs[i].subject = i % subjects
		q := queries[i%len(queries)]
		if i >= subjects {
			q = queries[(i+1)%len(queries)]
		}
		subs[i].query = fmt.Sprintf(q, subs[i].subject+1)
		// most groups are delivered inline on the broker's goroutine, every fifth on a
		// worker (more members than inlineMembers)
		readers, slow := 1, 1
		if i%5 == 4 {
			readers, slow = 3, 3
		}
		for range readers {
			subs[i].readers = append(subs[i].readers, subscribeTo(t, e, subs[i].query))
		}
		for range slow {
			subs[i].slow = append(subs[i].slow, subscribeTo(t, e, subs[i].query))
		}
		if g := groupOf(t, e, subs[i].readers[0].s); g.spec.sub.fast == nil {
			t.Fatalf("%s: no fast path", subs[i].query)
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	type result struct {
		subject, reader int
		msgs            []Message
		err             error
	}
	results := make(chan result)
	var readers sync.WaitGroup
	for i := range subs {
		for r, sub := range subs[i].readers {
			readers.Go(func() {
				msgs, err := collect(sub, perSubject, deadline)
				results <- result{i, r, msgs, err}
			})
		}
	}
	// two publishers on interleaved subjects; each subject's consumer delivers on its own
	// goroutine, so groups render concurrently from the same pools
	var publishers sync.WaitGroup
	for p := range 2 {
		publishers.Go(func() {
			for k := range perSubject {
				for i := p; i < subjects; i += 2 {
					if err := mem.Publish(context.Background(), fmt.Sprintf("employeeUpdated.%d", i+1), []byte(ownSubjectEvent(i, k))); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	got := make(map[[2]int][]Message)
	go func() { readers.Wait(); close(results) }()
	for r := range results {
		if r.err != nil {
			t.Errorf("%s, reader %d: %v", subs[r.subject].query, r.reader, r.err)
		}
		got[[2]int{r.subject, r.reader}] = r.msgs
	}
	publishers.Wait()
	for i := range subs {
		for r, sub := range subs[i].slow {
			msgs, err := collect(sub, perSubject, deadline)
			if err != nil {
				t.Errorf("%s, slow reader %d: %v", subs[i].query, r, err)
			}
			got[[2]int{i, -1 - r}] = msgs
		}
	}
	if t.Failed() {
		return
	}

	// what the general resolver gives for each event, with a group of the same spec
	// whose plan has no fast path
	for i := range subs {
		g := groupOf(t, e, subs[i].readers[0].s)
		if i >= subjects && g == groupOf(t, e, subs[subs[i].subject].readers[0].s) {
			t.Fatal("the second query of a subject shares the first one's group")
		}
		subject := subs[i].subject
		general := &group{spec: g.spec}
		general.spec.sub = &subPlan{GraphQLSubscription: g.spec.sub.GraphQLSubscription, h: g.spec.sub.h}
		want := make([]string, perSubject)
		for k := range want {
			ev := eventsource.Event{Subject: fmt.Sprintf("employeeUpdated.%d", subject+1), Data: []byte(ownSubjectEvent(subject, k))}
			var scratch bytes.Buffer
			p, ok := general.resolveEvent(general.context(), &ev, &scratch)
			if !ok {
				t.Fatalf("subject %d event %d: the general resolver drops it", subject+1, k)
			}
			want[k] = string(p)
		}
		// a plain event, by hand, so that the reference itself is checked
		if k0 := `{"id":1000003}`; i == 0 && want[0] != `{"data":{"employeeUpdated":`+k0+`}}` {
			t.Fatalf("reference for the first event: %s", want[0])
		}
		for key, msgs := range got {
			if key[0] != i {
				continue
			}
			for k, m := range msgs {
				if string(m.Payload) != want[k] {
					t.Errorf("%s, reader %d, event %d (%s):\n got %s\nwant %s", subs[i].query, key[1], k, ownSubjectEvent(subject, k), m.Payload, want[k])
				}
			}
		}
	}
}

// entityName is the name the subgraph gives employee id: of different lengths, with
// characters that JSON escapes.
func entityName(id int) string {
	return fmt.Sprintf("n%d %s", id, strings.Repeat("é\"\\<\n", id%9))
}

// Entity ids the test subgraph treats specially: an error, and no entity (null).
const (
	entityErrorID   = 1_000_130
	entityUnknownID = 1_000_078
)

// entityEnv is an engine on an employees subgraph that knows every id (entityName), with
// an entity error for entityErrorID.
func entityEnv(t testing.TB, window time.Duration, wrap func(http.Handler) http.Handler) (*Engine, *eventsource.Memory) {
	t.Helper()
	sub := &minigraph.Subgraph{
		Name: "employees",
		SDL:  demo.EmployeesSDL,
		Entities: func(_ context.Context, rep map[string]any, _ http.Header) (map[string]any, error) {
			id, _ := rep["id"].(int)
			switch id {
			case entityErrorID:
				return nil, errors.New("employee 1000131 is on leave")
			case entityUnknownID:
				return nil, nil
			}
			return map[string]any{"__typename": "Employee", "id": id, "name": entityName(id), "role": "r", "updatedAt": "u"}, nil
		},
	}
	return engineOnSubgraph(t, sub, window, wrap)
}

// entityEvent is the k-th event of subject i and the employee id it carries, in three
// forms: the loader takes the first two in one parse, the third through eventData.
func entityEvent(i, k int) (string, int) {
	id := 1_000_000 + i*3 + k
	switch (i + k) % 3 {
	case 0:
		return fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id), id
	case 1:
		return fmt.Sprintf(`{"id":%d}`, id), id
	default:
		// a field the event subgraph does not declare: eventData drops it
		return fmt.Sprintf(`{"__typename":"Employee","id":%d,"name":"from the event %d"}`, id, id), id
	}
}

// runEntities subscribes one group per subject (and slow extra members on some),
// publishes perSubject events on each from two goroutines and returns each group's
// payloads, the slow members' after everything was published.
func runEntities(t *testing.T, e *Engine, mem *eventsource.Memory, subjects, perSubject int, published func()) [][]Message {
	t.Helper()
	queries := []string{
		`subscription { employeeUpdated(id: %d) { id name } }`,
		`subscription { e: employeeUpdated(id: %d) { __typename n: name id } }`,
		`subscription { employeeUpdated(id: %d) { name } }`,
	}
	readers := make([]subscriber, subjects)
	var slow []subscriber
	var slowOf []int
	for i := range readers {
		q := fmt.Sprintf(queries[i%len(queries)], i+1)
		readers[i] = subscribeTo(t, e, q)
		if i%4 == 0 {
			slow = append(slow, subscribeTo(t, e, q))
			slowOf = append(slowOf, i)
		}
	}
	deadline := time.Now().Add(120 * time.Second)
	got := make([][]Message, subjects+len(slow))
	errs := make([]error, subjects)
	var wg sync.WaitGroup
	for i, sub := range readers {
		wg.Go(func() { got[i], errs[i] = collect(sub, perSubject, deadline) })
	}
	var publishers sync.WaitGroup
	for p := range 2 {
		publishers.Go(func() {
			for k := range perSubject {
				for i := p; i < subjects; i += 2 {
					data, _ := entityEvent(i, k)
					if err := mem.Publish(context.Background(), fmt.Sprintf("employeeUpdated.%d", i+1), []byte(data)); err != nil {
						t.Error(err)
						return
					}
				}
			}
		})
	}
	publishers.Wait()
	if published != nil {
		published()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("subject %d: %v", i+1, err)
		}
	}
	for n, sub := range slow {
		msgs, err := collect(sub, perSubject, deadline)
		if err != nil {
			t.Fatalf("subject %d, slow member: %v", slowOf[n]+1, err)
		}
		got[subjects+n] = msgs
	}
	return got
}

// More groups than a batch holds, each with a few events, answers split over several
// requests (and the window's backlog sent in full batches from one array), an entity
// error and an unknown entity among them: every payload is what the subgraph said for
// its own event, and byte for byte what an engine without batching delivers.
func TestEntityLoader_PayloadsOfFullBatchesAndBacklogsSurviveLaterAnswersByteForByte(t *testing.T) {
	t.Parallel()
	const subjects, perSubject = 3*entityBatchMax + 60, 2
	// entityErrorID and entityUnknownID are events of this run
	for _, id := range []int{entityErrorID, entityUnknownID} {
		if i, k := (id-1_000_000)/3, (id-1_000_000)%3; i >= subjects || k >= perSubject {
			t.Fatalf("employee %d is not among the events", id)
		}
	}
	// The subgraph holds the first two requests (the loader's most in flight) until
	// every event has reached its group, so the other groups' events pile up in the
	// loader's queue: it sends them in full batches and keeps the rest in place while
	// the groups' next events join it.
	gate := make(chan struct{})
	var held sync.WaitGroup
	held.Add(2)
	var requests atomic.Int32
	hold := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if requests.Add(1) <= 2 {
				held.Done()
				<-gate
			}
			next.ServeHTTP(w, r)
		})
	}
	// the engine without batching runs at the same time: two loaders' answers and
	// events in the same pools
	batched, mem := entityEnv(t, time.Millisecond, hold)
	release := sync.OnceFunc(func() { close(gate) })
	t.Cleanup(release) // before the subgraph closes, whatever happened
	reference, refMem := entityEnv(t, -1, nil)
	var got, want [][]Message
	t.Run("engines", func(t *testing.T) {
		t.Run("unbatched", func(t *testing.T) {
			t.Parallel()
			want = runEntities(t, reference, refMem, subjects, perSubject, nil)
		})
		t.Run("batched", func(t *testing.T) {
			t.Parallel()
			got = runBatched(t, batched, mem, release, &held, subjects, perSubject)
		})
	})
	if t.Failed() {
		return
	}

	if st := batched.Stats(); st.EntityRequests.Load() >= uint64(subjects*perSubject/2) {
		t.Errorf("%d entity requests for %d events: the loader did not batch", st.EntityRequests.Load(), subjects*perSubject)
	}
	sawError := false
	for n := range got {
		i := n
		if n >= subjects {
			i = (n - subjects) * 4 // the slow members' subjects
		}
		for k := range perSubject {
			g, w := string(got[n][k].Payload), string(want[n][k].Payload)
			if g != w {
				t.Errorf("subject %d (#%d) event %d:\n batched   %s\n unbatched %s", i+1, n, k, g, w)
				continue
			}
			_, id := entityEvent(i, k)
			var p struct {
				Data   map[string]map[string]any
				Errors []struct{ Message string }
			}
			if err := json.Unmarshal(got[n][k].Payload, &p); err != nil {
				t.Fatalf("subject %d event %d: %v: %s", i+1, k, err, g)
			}
			if id == entityErrorID || id == entityUnknownID {
				sawError = sawError || id == entityErrorID && len(p.Errors) > 0
				continue
			}
			for _, v := range p.Data {
				name, _ := v["name"].(string)
				if name == "" {
					name, _ = v["n"].(string)
				}
				if name != entityName(id) {
					t.Errorf("subject %d event %d: name %q, want %q (%s)", i+1, k, name, entityName(id), g)
				}
				if idv, ok := v["id"]; ok && idv != float64(id) {
					t.Errorf("subject %d event %d: id %v, want %d", i+1, k, idv, id)
				}
			}
		}
	}
	if !sawError {
		t.Error("no subscriber saw the entity error")
	}
}

// runBatched is runEntities on e, whose subgraph holds its first two requests (held)
// until release: once every event has reached its group.
func runBatched(t *testing.T, e *Engine, mem *eventsource.Memory, release func(), held *sync.WaitGroup, subjects, perSubject int) [][]Message {
	return runEntities(t, e, mem, subjects, perSubject, func() {
		held.Wait()
		// every group has its first event; the rounds wait for the held requests
		st := e.Stats()
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for deadline := time.Now().Add(30 * time.Second); st.EventsReceived.Load() < uint64(subjects*perSubject); {
			if time.Now().After(deadline) {
				t.Errorf("%d of %d events reached their groups", st.EventsReceived.Load(), subjects*perSubject)
				break
			}
			<-tick.C
		}
		release()
	})
}

// The one-parse paths leave every event they do not render to the general checks: a
// subscriber on the fast path and one on the entity loader get the same error, in the
// same words as before the one-parse paths (a __typename read without unescaping, as the
// one-parse check does when it can, must not change the text).
func TestFastPath_RejectedEventsGetTheGeneralErrorText(t *testing.T) {
	e, mem := newEngineWith(t, Options{Log: zerolog.Nop()})
	fast := subscribeTo(t, e, `subscription { employeeUpdated(id: 1) { id } }`)
	ent := subscribeTo(t, e, `subscription { employeeUpdated(id: 1) { id name } }`)
	if groupOf(t, e, fast.s).spec.sub.fast == nil || groupOf(t, e, ent.s).spec.sub.ent == nil {
		t.Fatal("the subscriptions do not take the fast path and the entity loader")
	}
	for _, tc := range []struct{ event, reason string }{
		{`{"__typename":"Product","id":1}`, `__typename \"Product\" is not the field's type Employee`},
		{`{"__typename":"Pr\u006fduct","id":1}`, `__typename \"Product\" is not the field's type Employee`},
		{`{"__typename":"Emp\"loyee","id":1}`, `__typename \"Emp\\\"loyee\" is not the field's type Employee`},
		{`{"__typename":7,"id":1}`, `the payload is not valid JSON: Value is not a string: 7`},
		{`{"__typename":"Employee"}`, `the Employee entity is missing its key field \"id\"`},
		{`{"id":1,}`, `the payload is not valid JSON: cannot parse JSON: cannot parse object: cannot find opening '\"\" for object key; unparsed tail: \"}\"`},
		{`[{"__typename":"Employee","id":1}]`, `the payload is not a JSON object`},
	} {
		if err := mem.Publish(context.Background(), "employeeUpdated.1", []byte(tc.event)); err != nil {
			t.Fatal(err)
		}
		want := `{"errors":[{"message":"invalid event on employeeUpdated: ` + tc.reason + `"}]}`
		deadline := time.Now().Add(10 * time.Second)
		for name, sub := range map[string]subscriber{"fast path": fast, "entity loader": ent} {
			msgs, err := collect(sub, 1, deadline)
			if err != nil {
				t.Fatalf("%s, event %s: %v", name, tc.event, err)
			}
			if got := string(msgs[0].Payload); got != want {
				t.Errorf("%s, event %s:\n got %s\nwant %s", name, tc.event, got, want)
			}
		}
	}
}
