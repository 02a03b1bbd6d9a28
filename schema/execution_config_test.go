package schema_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/schema"
)

// testdata/execconfig/config.json is the output of `wgc router compose` (wgc 0.112.7) for
// testdata/execconfig/graph.yaml.
const execConfig = "testdata/execconfig/config.json"

func TestLoadExecutionConfig_YieldsEventBindingsFromPubSubDataSources(t *testing.T) {
	sg, err := schema.LoadExecutionConfig(execConfig)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{"events", "events_kafka", "events_redis"}; !slices.Equal(sg.EventSubgraphs, want) {
		t.Errorf("EventSubgraphs = %v, want %v", sg.EventSubgraphs, want)
	}
	byField := map[string]directives.Binding{}
	for _, b := range sg.Bindings {
		byField[b.TypeName+"."+b.FieldName] = b
	}
	if len(byField) != 7 {
		t.Errorf("got %d bindings, want 7: %+v", len(byField), sg.Bindings)
	}

	b := byField["Subscription.employeeUpdated"]
	if b.Subgraph != "events" || b.Broker != directives.NATS || b.Action != directives.Subscribe ||
		b.ProviderID != "default" || subjects(b) != "employeeUpdated.{{ args.id }}" || b.Stream != nil || b.Filter != nil {
		t.Errorf("employeeUpdated binding = %+v", b)
	}
	b = byField["Subscription.employeeUpdatedStream"]
	if b.ProviderID != "my-nats" || subjects(b) != "employees.updated employees.created" || b.Stream == nil ||
		*b.Stream != (directives.StreamConfig{StreamName: "EMPLOYEES", ConsumerName: "edgate", ConsumerInactiveThreshold: 60}) {
		t.Errorf("employeeUpdatedStream binding = %+v (stream %+v)", b, b.Stream)
	}
	if b = byField["Mutation.updateEmployee"]; b.Action != directives.Publish || subjects(b) != "employeeUpdated.{{ args.id }}" {
		t.Errorf("updateEmployee binding = %+v", b)
	}
	if b = byField["Query.employeeFromEvent"]; b.Action != directives.Request || subjects(b) != "getEmployee.{{ args.id }}" {
		t.Errorf("employeeFromEvent binding = %+v", b)
	}
	if b = byField["Subscription.employeeUpdatedKafka"]; b.Broker != directives.Kafka || b.ProviderID != "my-kafka" || subjects(b) != "employee-updates" {
		t.Errorf("kafka binding = %+v", b)
	}
	if b = byField["Subscription.employeeUpdatedRedis"]; b.Broker != directives.Redis || b.ProviderID != "my-redis" || subjects(b) != "employeeUpdates" {
		t.Errorf("redis binding = %+v", b)
	}

	// OR [ IN id ["{{ args.id }}"], NOT IN id [1, 2] ]
	f := byField["Subscription.filteredEmployeeUpdated"].Filter
	if f == nil || len(f.Or) != 2 || f.Or[0].In == nil || f.Or[1].Not == nil || f.Or[1].Not.In == nil {
		t.Fatalf("filter = %+v", f)
	}
	if got := f.Or[0].In.Values; !slices.Equal(got, []string{`"{{ args.id }}"`}) || !slices.Equal(f.Or[0].In.FieldPath, []string{"id"}) {
		t.Errorf("first IN = %+v", f.Or[0].In)
	}
	if got := f.Or[1].Not.In.Values; !slices.Equal(got, []string{"1", "2"}) {
		t.Errorf("NOT IN values = %q", got)
	}
}

func TestLoadExecutionConfig_BuildsAndPlans(t *testing.T) {
	sg, err := schema.LoadExecutionConfig(execConfig)
	if err != nil {
		t.Fatal(err)
	}
	s, rec := build(t, sg)

	var names []string
	for _, c := range rec.calls {
		names = append(names, c.name)
		for _, k := range c.metadata.Keys {
			if !k.DisableEntityResolver {
				t.Errorf("%s: key %s %q resolves entities", c.name, k.TypeName, k.SelectionSet)
			}
		}
		if len(c.bindings) == 0 {
			t.Errorf("%s: event factory got no bindings", c.name)
		}
	}
	if !slices.Equal(names, []string{"events", "events_kafka", "events_redis"}) {
		t.Errorf("event factory built %v", names)
	}
	if !hasNode(rec.calls[0].metadata.RootNodes, "Subscription", "employeeUpdated") {
		t.Errorf("events root nodes = %+v", rec.calls[0].metadata.RootNodes)
	}

	p := planOperation(t, s, `query Staff { employees { id name products { upc } } }`)
	if got := fetchedDataSources(t, p); !slices.Equal(got, []string{"employees", "products"}) {
		t.Errorf("fetches go to %v, want [employees products]", got)
	}
	input := triggerInput(t, planOperation(t, s, `subscription N { notifications { id } }`))
	if !strings.Contains(input, `"url":"ws://127.0.0.1:4003/graphql/ws"`) || !strings.Contains(input, `"ws_sub_protocol":"graphql-transport-ws"`) {
		t.Errorf("notifications subscription input = %s", input)
	}

	fc := s.Plan.Fields.ForTypeField("Subscription", "filteredEmployeeUpdated")
	if fc == nil || fc.SubscriptionFilterCondition == nil || len(fc.SubscriptionFilterCondition.Or) != 2 {
		t.Fatalf("filter condition = %+v", fc)
	}
	if got := fc.SubscriptionFilterCondition.Or[0].In.Values; !slices.Equal(got, []string{"{{ args.id }}"}) {
		t.Errorf("engine IN values = %q, want the bare template", got)
	}
	sub := planOperation(t, s, `subscription F { filteredEmployeeUpdated(id: 3) { id } }`)
	if _, err := sub.(interface{ SetFlushInterval(int64) }); !err {
		t.Errorf("plan is %T", sub)
	}
}

func TestLoadExecutionConfig_MissingFileNamesIt(t *testing.T) {
	_, err := schema.LoadExecutionConfig("testdata/nope.json")
	if err == nil || !strings.Contains(err.Error(), "testdata/nope.json") {
		t.Fatalf("err = %v", err)
	}
}

func TestLoadExecutionConfig_MalformedJSONNamesTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "router.json")
	if err := os.WriteFile(path, []byte(`{"engineConfig": {"graphqlSchema": 42}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := schema.LoadExecutionConfig(path)
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("err = %v, want an error naming %s", err, path)
	}
}

func subjects(b directives.Binding) string {
	var out []string
	for _, s := range b.Subjects {
		out = append(out, s.String())
	}
	return strings.Join(out, " ")
}

// Composing the same SDLs ourselves gives the same bindings as Cosmo's CLI did.
func TestCompose_AgreesWithTheCosmoCLIOnBindings(t *testing.T) {
	fromCLI, err := schema.LoadExecutionConfig(execConfig)
	if err != nil {
		t.Fatal(err)
	}
	var sources []schema.SubgraphSource
	for _, name := range []string{"employees", "products", "notifications", "events", "events_kafka", "events_redis"} {
		file := "testdata/execconfig/" + name + ".graphql"
		if !strings.HasPrefix(name, "events") {
			file = "testdata/subgraphs/" + name + ".graphql" // graph.yaml composes these too
		}
		sdl, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		src := schema.SubgraphSource{Name: name, SDL: string(sdl), File: file}
		if !strings.HasPrefix(name, "events") {
			src.RoutingURL = "http://127.0.0.1:4001/graphql"
		}
		sources = append(sources, src)
	}
	composed := compose(t, sources...)

	if !slices.Equal(composed.EventSubgraphs, fromCLI.EventSubgraphs) {
		t.Errorf("event subgraphs: composed %v, CLI %v", composed.EventSubgraphs, fromCLI.EventSubgraphs)
	}
	key := func(b directives.Binding) string {
		s := fmt.Sprintf("%s %s.%s %v %s %s %s", b.Subgraph, b.TypeName, b.FieldName, b.Action, b.Broker, b.ProviderID, subjects(b))
		if b.Stream != nil {
			s += fmt.Sprintf(" stream%+v", *b.Stream)
		}
		if b.Filter != nil {
			s += " filter" + filterString(b.Filter)
		}
		return s
	}
	var got, want []string
	for _, b := range composed.Bindings {
		got = append(got, key(b))
	}
	for _, b := range fromCLI.Bindings {
		want = append(want, key(b))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("bindings differ\ncomposed:\n  %s\nCLI:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
	build(t, composed)
}

func filterString(f *directives.Filter) string {
	switch {
	case len(f.And) > 0 || len(f.Or) > 0:
		op, subs := "AND", f.And
		if len(f.Or) > 0 {
			op, subs = "OR", f.Or
		}
		var parts []string
		for i := range subs {
			parts = append(parts, filterString(&subs[i]))
		}
		return op + "(" + strings.Join(parts, ",") + ")"
	case f.Not != nil:
		return "NOT(" + filterString(f.Not) + ")"
	case f.In != nil:
		return fmt.Sprintf("IN(%s %s)", strings.Join(f.In.FieldPath, "."), strings.Join(f.In.Values, "|"))
	}
	return "?"
}
