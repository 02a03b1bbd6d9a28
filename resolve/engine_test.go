package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/schema"
	"github.com/edgate/edgate/testkit/demo"
	"github.com/edgate/edgate/testkit/minigraph"
)

const eventsSDL = `
type Query { employeeFromEvent(id: Int!): Employee! @edfs__natsRequest(subject: "getEmployee.{{ args.id }}") }
type Mutation { updateEmployee(id: Int!, name: String): edfs__PublishResult! @edfs__natsPublish(subject: "employeeUpdated.{{ args.id }}") }
type Subscription {
  employeeUpdated(id: Int!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.{{ args.id }}"])
  employeeUpdatedMany(ids: [Int!]!): Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.*"]) @openfed__subscriptionFilter(condition: { IN: { fieldPath: "id", values: ["{{ args.ids }}"] } })
  employeeUpdatedTwo: Employee! @edfs__natsSubscribe(subjects: ["employeeUpdated.1", "employeeUpdated.2"])
}
type Employee @key(fields: "id", resolvable: false) { id: Int! @external }
type edfs__PublishResult { success: Boolean! }
`

type testEnv struct {
	engine   *Engine
	memory   *eventsource.Memory
	registry *eventsource.Registry
	subgraph *minigraph.Subgraph
}

func newTestEnv(t *testing.T) *testEnv {
	t.Helper()
	sub := demo.Employees()
	srv := httptest.NewServer(sub.Handler())
	t.Cleanup(srv.Close)
	super, err := schema.Compose([]schema.SubgraphSource{
		{Name: "employees", RoutingURL: srv.URL, SDL: sub.SDL},
		{Name: "events", SDL: eventsSDL},
	})
	if err != nil {
		t.Fatalf("compose: %v", err)
	}
	reg := eventsource.NewRegistry(zerolog.Nop())
	mem := eventsource.NewMemory("nats/default")
	if err := reg.Add(mem); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e, err := New(ctx, Options{Supergraph: super, Events: reg})
	if err != nil {
		cancel()
		t.Fatalf("engine: %v", err)
	}
	t.Cleanup(func() {
		e.Shutdown(End{Code: EndShutdown})
		cancel()
		_ = reg.Close()
	})
	return &testEnv{engine: e, memory: mem, registry: reg, subgraph: sub}
}

func (env *testEnv) subscribe(t *testing.T, query string, vars string) (*Stream, chan struct{}) {
	t.Helper()
	op, err := env.engine.Prepare(context.Background(), &Request{Query: query, Variables: json.RawMessage(vars)})
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	wake := make(chan struct{}, 1)
	s, err := env.engine.Subscribe(context.Background(), op, SubscribeOptions{Wake: func() {
		select {
		case wake <- struct{}{}:
		default:
		}
	}})
	if err != nil {
		t.Fatalf("subscribe: %v", err)
	}
	t.Cleanup(s.Close)
	return s, wake
}

func next(t *testing.T, s *Stream, wake chan struct{}) Message {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		msgs, end := s.Pull(nil)
		if len(msgs) > 0 {
			if len(msgs) > 1 {
				t.Fatalf("expected one message, got %d", len(msgs))
			}
			return msgs[0]
		}
		if end != nil {
			t.Fatalf("stream ended: %+v", end)
		}
		select {
		case <-wake:
		case <-deadline:
			t.Fatal("no message within 5s")
		}
	}
}

func (env *testEnv) publish(t *testing.T, subject, data string) {
	t.Helper()
	if err := env.memory.Publish(context.Background(), subject, []byte(data)); err != nil {
		t.Fatal(err)
	}
}

func TestEngine_EventWithEntityFieldResolvedFromSubgraph(t *testing.T) {
	env := newTestEnv(t)
	s, wake := env.subscribe(t, `subscription { employeeUpdated(id: 1) { id name } }`, "")
	env.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	m := next(t, s, wake)
	if got, want := string(m.Payload), `{"data":{"employeeUpdated":{"id":1,"name":"Alice Johnson"}}}`; got != want {
		t.Fatalf("payload\n got %s\nwant %s", got, want)
	}
}

func TestEngine_KeyOnlySelectionMakesNoSubgraphRequest(t *testing.T) {
	env := newTestEnv(t)
	s, wake := env.subscribe(t, `subscription { employeeUpdated(id: 1) { id } }`, "")
	env.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	m := next(t, s, wake)
	if got, want := string(m.Payload), `{"data":{"employeeUpdated":{"id":1}}}`; got != want {
		t.Fatalf("payload\n got %s\nwant %s", got, want)
	}
	if n := env.subgraph.CountEntitiesRequests(); n != 0 {
		t.Fatalf("subgraph got %d entity requests, want 0", n)
	}
}

func TestEngine_AliasesOnEventFields(t *testing.T) {
	env := newTestEnv(t)
	s, wake := env.subscribe(t, `subscription { e: employeeUpdated(id: 1) { key: id fullName: name } }`, "")
	env.publish(t, "employeeUpdated.1", `{"__typename":"Employee","id":1}`)
	m := next(t, s, wake)
	if got, want := string(m.Payload), `{"data":{"e":{"key":1,"fullName":"Alice Johnson"}}}`; got != want {
		t.Fatalf("payload\n got %s\nwant %s", got, want)
	}
}

func TestEngine_QueryAcrossSubgraphs(t *testing.T) {
	env := newTestEnv(t)
	op, err := env.engine.Prepare(context.Background(), &Request{Query: `query Q($id: Int!) { employee(id: $id) { id name } }`, Variables: json.RawMessage(`{"id":2}`)})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := env.engine.Execute(context.Background(), op, &buf); err != nil {
		t.Fatal(err)
	}
	if got, want := buf.String(), `{"data":{"employee":{"id":2,"name":"Bilal Khan"}}}`; got != want {
		t.Fatalf("got %s want %s", got, want)
	}
}

var _ = io.Discard

func TestEngine_MaxQueryDepth(t *testing.T) {
	limits := DefaultOperationLimits
	limits.Depth = 2
	e, _ := newEngineWith(t, Options{Limits: &limits})
	if _, err := e.Prepare(context.Background(), &Request{Query: `{ employee(id: 1) { name } }`}); err != nil {
		t.Fatalf("depth 2 rejected: %v", err)
	}
	_, err := e.Prepare(context.Background(), &Request{Query: `query { employee(id: 1) { ... on Employee { name } } __type(name: "Employee") { fields { name } } }`})
	re, ok := err.(*RequestError)
	if !ok || re.Status != 400 || !strings.Contains(re.Error(), "more than 2 fields deep") {
		t.Fatalf("err = %v", err)
	}
	ext := re.Errors[0].Extensions
	if ext["code"] != "MAX_QUERY_DEPTH_EXCEEDED" || ext["limit"] != "limits.max_query_depth" || ext["maximum"] != 2 {
		t.Fatalf("extensions = %v", ext)
	}
}

func TestEngine_RequestErrorsHaveValidLocations(t *testing.T) {
	e, _ := newEngineWith(t, Options{})
	for _, q := range []string{`{ employee(id: 1) { name }`, `{ employee(id: 1) { nope } }`, `{ employee(id: 1) { name } } }`} {
		_, err := e.Prepare(context.Background(), &Request{Query: q})
		re, ok := err.(*RequestError)
		if !ok {
			t.Fatalf("%q: err = %v", q, err)
		}
		for _, ge := range re.Errors {
			for _, l := range ge.Locations {
				if l.Line < 1 || l.Column < 1 {
					t.Fatalf("%q: location %+v in %q", q, l, ge.Message)
				}
			}
		}
	}
}
