package schema_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/schema"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astnormalization"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astvalidation"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/staticdatasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// subgraph reads testdata/subgraphs/NAME.graphql; event subgraphs get no routing URL.
func subgraph(t testing.TB, name, routingURL string) schema.SubgraphSource {
	t.Helper()
	file := filepath.Join("testdata", "subgraphs", name+".graphql")
	sdl, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return schema.SubgraphSource{Name: name, RoutingURL: routingURL, SDL: string(sdl), File: file}
}

func compose(t *testing.T, subgraphs ...schema.SubgraphSource) *schema.Supergraph {
	t.Helper()
	sg, err := schema.Compose(subgraphs)
	if err != nil {
		t.Fatalf("Compose: %v", err)
	}
	return sg
}

var (
	sharedMu     sync.Mutex
	sharedGraphs = map[string]*schema.Supergraph{}
)

// shared composes a graph once per test binary: composition takes hundreds of
// milliseconds (seconds under -race), and a Supergraph is immutable, so tests that only
// read it share it. Tests that change a Supergraph compose their own or copy it.
func shared(t *testing.T, key string, subgraphs func() []schema.SubgraphSource) *schema.Supergraph {
	t.Helper()
	sharedMu.Lock()
	defer sharedMu.Unlock()
	if sg, ok := sharedGraphs[key]; ok {
		return sg
	}
	sg := compose(t, subgraphs()...)
	sharedGraphs[key] = sg
	return sg
}

// mainGraph: employees, products, the event subgraph and a subgraph that serves
// subscriptions itself.
func mainGraph(t *testing.T) *schema.Supergraph {
	return shared(t, "main", func() []schema.SubgraphSource {
		return []schema.SubgraphSource{
			subgraph(t, "employees", "http://127.0.0.1:4001/graphql"),
			subgraph(t, "products", "http://127.0.0.1:4002/graphql"),
			subgraph(t, "notifications", "http://127.0.0.1:4003/graphql"),
			subgraph(t, "events", ""),
		}
	})
}

// federationGraph exercises the federation features: a v1 subgraph, compound and
// multiple keys, @requires, @provides, entity interfaces and @interfaceObject.
func federationGraph(t *testing.T) *schema.Supergraph {
	return shared(t, "federation", func() []schema.SubgraphSource {
		return []schema.SubgraphSource{
			subgraph(t, "employees", "http://127.0.0.1:4001/graphql"),
			subgraph(t, "products", "http://127.0.0.1:4002/graphql"),
			subgraph(t, "reviews_v1", "http://127.0.0.1:4003/graphql"),
			subgraph(t, "inventory", "http://127.0.0.1:4004/graphql"),
			subgraph(t, "pets", "http://127.0.0.1:4005/graphql"),
			subgraph(t, "vets", "http://127.0.0.1:4006/graphql"),
		}
	})
}

// eventCall is one call of the recording EventFactory.
type eventCall struct {
	id, name string
	metadata *plan.DataSourceMetadata
	bindings []directives.Binding
}

type eventRecorder struct {
	mu    sync.Mutex
	calls []eventCall
}

// factory records its arguments and returns a static data source, which plans like any
// other: enough for the planner, and the tests assert on what the factory was given.
func (r *eventRecorder) factory(id, name string, md *plan.DataSourceMetadata, bindings []directives.Binding) (plan.DataSource, error) {
	r.mu.Lock()
	r.calls = append(r.calls, eventCall{id: id, name: name, metadata: md, bindings: bindings})
	r.mu.Unlock()
	return plan.NewDataSourceConfigurationWithName(id, name, &staticdatasource.Factory[staticdatasource.Configuration]{}, md,
		staticdatasource.Configuration{Data: `{}`})
}

// buildOptions gives real graphql_datasource factories (never called over the network in
// these tests) and the recorder's event factory.
func buildOptions(t testing.TB, rec *eventRecorder) schema.BuildOptions {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	subscriptions := graphql_datasource.NewGraphQLSubscriptionClient(http.DefaultClient, http.DefaultClient, ctx)
	return schema.BuildOptions{
		GraphQLFactory: func(string) (plan.PlannerFactory[graphql_datasource.Configuration], error) {
			return graphql_datasource.NewFactory(ctx, http.DefaultClient, subscriptions)
		},
		EventFactory: rec.factory,
	}
}

func build(t *testing.T, sg *schema.Supergraph) (*schema.Schema, *eventRecorder) {
	t.Helper()
	rec := &eventRecorder{}
	s, err := sg.Build(buildOptions(t, rec))
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return s, rec
}

// planOperation runs an operation through the steps the gateway uses: parse, normalize
// (with the options Cosmo's router uses), validate against the client schema, plan with a
// fresh planner (a planner must not be reused across operations).
func planOperation(t *testing.T, s *schema.Schema, query string) plan.Plan {
	t.Helper()
	op, report := astparser.ParseGraphqlDocumentString(query)
	if report.HasErrors() {
		t.Fatalf("parse: %v", report)
	}
	name := operationName(&op)
	normalizer := astnormalization.NewWithOpts(
		astnormalization.WithRemoveNotMatchingOperationDefinitions(),
		astnormalization.WithExtractVariables(),
		astnormalization.WithRemoveFragmentDefinitions(),
		astnormalization.WithInlineFragmentSpreads(),
		astnormalization.WithRemoveUnusedVariables(),
		astnormalization.WithIgnoreSkipInclude(),
	)
	normalizer.NormalizeNamedOperation(&op, s.Definition, []byte(name), &report)
	if report.HasErrors() {
		t.Fatalf("normalize: %v", report)
	}
	astnormalization.NewVariablesMapper().NormalizeOperation(&op, s.Definition, &report)
	if report.HasErrors() {
		t.Fatalf("map variables: %v", report)
	}
	astvalidation.DefaultOperationValidator().Validate(&op, s.ClientDefinition, &report)
	if report.HasErrors() {
		t.Fatalf("validate: %v", report)
	}
	planner, err := plan.NewPlanner(s.Plan)
	if err != nil {
		t.Fatalf("NewPlanner: %v", err)
	}
	p := planner.Plan(&op, s.Definition, name, &report)
	if report.HasErrors() {
		t.Fatalf("plan: %v", report)
	}
	return p
}

func operationName(op *ast.Document) string {
	for _, n := range op.RootNodes {
		if n.Kind == ast.NodeKindOperationDefinition {
			return op.OperationDefinitionNameString(n.Ref)
		}
	}
	return ""
}

// fetchedDataSources lists the data source name of every fetch of a query plan.
func fetchedDataSources(t *testing.T, p plan.Plan) []string {
	t.Helper()
	sync, ok := p.(*plan.SynchronousResponsePlan)
	if !ok {
		t.Fatalf("plan is %T, want a synchronous response plan", p)
	}
	var names []string
	for _, item := range sync.Response.RawFetches {
		info := item.Fetch.FetchInfo()
		if info == nil {
			t.Fatal("fetch without info")
		}
		names = append(names, info.DataSourceName)
	}
	return names
}

func dataSourceNamed(t *testing.T, s *schema.Schema, name string) plan.DataSource {
	t.Helper()
	for _, ds := range s.Plan.DataSources {
		if ds.Name() == name {
			return ds
		}
	}
	t.Fatalf("no data source named %q", name)
	return nil
}

func hasField(doc *ast.Document, typeName, fieldName string) bool {
	node, ok := doc.Index.FirstNodeByNameStr(typeName)
	if !ok {
		return false
	}
	_, ok = doc.NodeFieldDefinitionByName(node, []byte(fieldName))
	return ok
}

// triggerInput is the static text of a subscription plan's trigger input: the JSON the
// GraphQL data source hands its subscription client (url, use_sse, ws_sub_protocol, ...).
func triggerInput(t *testing.T, p plan.Plan) string {
	t.Helper()
	sub, ok := p.(*plan.SubscriptionResponsePlan)
	if !ok {
		t.Fatalf("plan is %T, want a subscription plan", p)
	}
	return string(sub.Response.Trigger.Input)
}
