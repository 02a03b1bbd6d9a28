package schema_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/schema"
	"github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/common"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
)

func TestCompose_EventSubgraphIsBuiltByTheEventFactory(t *testing.T) {
	sg := mainGraph(t)
	if !sg.IsEventSubgraph("events") || sg.IsEventSubgraph("employees") {
		t.Fatalf("EventSubgraphs = %v, want [events]", sg.EventSubgraphs)
	}
	s, rec := build(t, sg)

	if len(rec.calls) != 1 {
		t.Fatalf("event factory called %d times, want 1", len(rec.calls))
	}
	call := rec.calls[0]
	if call.name != "events" || call.id == "" {
		t.Errorf("event factory got id %q name %q, want a data source id and name events", call.id, call.name)
	}
	if len(call.bindings) != 1 {
		t.Fatalf("event factory got %d bindings, want 1", len(call.bindings))
	}
	b := call.bindings[0]
	if b.TypeName != "Subscription" || b.FieldName != "employeeUpdated" || b.Broker != directives.NATS ||
		b.Action != directives.Subscribe || len(b.Subjects) != 1 || b.Subjects[0].String() != "employeeUpdated.{{ args.id }}" {
		t.Errorf("binding = %+v", b)
	}
	if !hasNode(call.metadata.RootNodes, "Subscription", "employeeUpdated") {
		t.Errorf("event metadata root nodes %+v lack Subscription.employeeUpdated", call.metadata.RootNodes)
	}
	if len(call.metadata.Keys) == 0 {
		t.Fatal("event metadata has no keys")
	}
	for _, k := range call.metadata.Keys {
		if !k.DisableEntityResolver {
			t.Errorf("event subgraph key %s %q can resolve entities; want DisableEntityResolver", k.TypeName, k.SelectionSet)
		}
	}

	// The event subgraph is not also planned as an HTTP GraphQL subgraph.
	for _, ds := range s.Plan.DataSources {
		if ds.Name() == "events" && ds.Id() != call.id {
			t.Errorf("second data source for the event subgraph: %q", ds.Id())
		}
	}
	if !hasField(s.Definition, "Subscription", "employeeUpdated") {
		t.Error("engine schema lacks Subscription.employeeUpdated")
	}
	if !strings.Contains(s.ClientSDL, "employeeUpdated(id: Int!): Employee!") {
		t.Errorf("client SDL lacks the subscription field:\n%s", s.ClientSDL)
	}
	if strings.Contains(s.ClientSDL, "edfs__") {
		t.Error("client SDL leaks event directives")
	}
	// employee(id:) and employeeUpdated(id:) need their argument configurations to plan.
	if fc := s.Plan.Fields.ForTypeField("Subscription", "employeeUpdated"); fc == nil || fc.Arguments.ForName("id") == nil {
		t.Errorf("no argument configuration for Subscription.employeeUpdated(id:): %+v", fc)
	}
}

func TestCompose_FederationV1SubgraphComposesWithV2(t *testing.T) {
	s, _ := build(t, federationGraph(t))
	if !hasField(s.Definition, "Product", "reviews") {
		t.Error("supergraph lacks Product.reviews from the v1 subgraph")
	}
	reviews := dataSourceNamed(t, s, "reviews_v1")
	if !reviews.HasRootNode("Product", "reviews") {
		t.Error("reviews_v1 data source does not serve Product.reviews")
	}
	if !slices.ContainsFunc(reviews.FederationConfiguration().Keys, func(k plan.FederationFieldConfiguration) bool {
		return k.TypeName == "Product" && k.SelectionSet == "upc"
	}) {
		t.Errorf("reviews_v1 keys = %+v, want Product upc", reviews.FederationConfiguration().Keys)
	}
}

func TestCompose_KeysRequiresProvidesAndEntityInterfacesReachMetadata(t *testing.T) {
	s, _ := build(t, federationGraph(t))

	employees := dataSourceNamed(t, s, "employees").FederationConfiguration()
	for _, want := range []struct{ typeName, selection string }{
		{"Employee", "id"}, {"Employee", "email"}, {"Department", "companyId id"}, // the composer sorts key fields
	} {
		if !hasKey(employees.Keys, want.typeName, want.selection) {
			t.Errorf("employees keys %+v lack %s %q", employees.Keys, want.typeName, want.selection)
		}
	}

	inventory := dataSourceNamed(t, s, "inventory")
	fed := inventory.FederationConfiguration()
	if !slices.ContainsFunc(fed.Requires, func(r plan.FederationFieldConfiguration) bool {
		return r.TypeName == "Product" && r.FieldName == "shippingEstimate" && r.SelectionSet == "price weight"
	}) {
		t.Errorf("inventory requires = %+v, want Product.shippingEstimate 'price weight'", fed.Requires)
	}
	if !slices.ContainsFunc(fed.Provides, func(p plan.FederationFieldConfiguration) bool {
		return p.TypeName == "Query" && p.FieldName == "featuredProduct" && p.SelectionSet == "name"
	}) {
		t.Errorf("inventory provides = %+v, want Query.featuredProduct 'name'", fed.Provides)
	}
	if !inventory.HasExternalRootNode("Product", "price") {
		t.Error("inventory: Product.price is not an external field")
	}

	pets := dataSourceNamed(t, s, "pets").FederationConfiguration()
	if !slices.ContainsFunc(pets.EntityInterfaces, func(e plan.EntityInterfaceConfiguration) bool {
		return e.InterfaceTypeName == "Animal" && slices.Contains(e.ConcreteTypeNames, "Dog") && slices.Contains(e.ConcreteTypeNames, "Cat")
	}) {
		t.Errorf("pets entity interfaces = %+v, want Animal [Dog Cat]", pets.EntityInterfaces)
	}
	vets := dataSourceNamed(t, s, "vets").FederationConfiguration()
	if !slices.ContainsFunc(vets.InterfaceObjects, func(e plan.EntityInterfaceConfiguration) bool {
		return e.InterfaceTypeName == "Animal" && slices.Contains(e.ConcreteTypeNames, "Dog")
	}) {
		t.Errorf("vets interface objects = %+v, want Animal with Dog", vets.InterfaceObjects)
	}
}

func TestCompose_ConflictingFieldTypesNameSubgraphsAndField(t *testing.T) {
	_, err := schema.Compose([]schema.SubgraphSource{
		{Name: "left", RoutingURL: "http://127.0.0.1:1/graphql", File: "left.graphql",
			SDL: `type Query { a: Thing } type Thing @shareable { size: Int }`},
		{Name: "right", RoutingURL: "http://127.0.0.1:2/graphql", File: "right.graphql",
			SDL: `type Query { b: Thing } type Thing @shareable { size: String }`},
	})
	if err == nil {
		t.Fatal("Compose succeeded, want a composition error")
	}
	msg := err.Error()
	for _, want := range []string{"composition failed", `"left"`, `"right"`, "Thing.size", "left.graphql"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if strings.Contains(msg, "<eval>") {
		t.Errorf("error leaks the JS stack: %q", msg)
	}
}

func TestCompose_MissingRoutingURLNamesTheSubgraph(t *testing.T) {
	src := subgraph(t, "products", "")
	_, err := schema.Compose([]schema.SubgraphSource{subgraph(t, "employees", "http://127.0.0.1:4001/graphql"), src})
	if err == nil || !strings.Contains(err.Error(), `"products"`) || !strings.Contains(err.Error(), "routing") {
		t.Fatalf("err = %v, want a missing routing URL error naming products", err)
	}
}

func TestCompose_UpstreamSubscriptionSettingsReachConfigAndPlan(t *testing.T) {
	src := subgraph(t, "employees", "http://127.0.0.1:4001/graphql")
	src.Subscription = &schema.UpstreamSubscription{Protocol: "sse_post", WSSubprotocol: "graphql-ws"}
	other := subgraph(t, "products", "http://127.0.0.1:4002/graphql")
	other.Subscription = &schema.UpstreamSubscription{URL: "ws://127.0.0.1:4999/ws", WSSubprotocol: "graphql-transport-ws"}
	notifications := subgraph(t, "notifications", "http://127.0.0.1:4003/graphql")
	notifications.Subscription = &schema.UpstreamSubscription{URL: "http://127.0.0.1:4003/stream", Protocol: "sse_post"}
	sg := compose(t, src, other, notifications)

	got := subscriptionConfig(t, sg, "employees")
	if got.GetUrl().GetStaticVariableContent() != "http://127.0.0.1:4001/graphql" ||
		got.GetProtocol() != common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE_POST ||
		got.GetWebsocketSubprotocol() != common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_WS {
		t.Errorf("employees subscription = %v", got)
	}
	got = subscriptionConfig(t, sg, "products")
	if got.GetUrl().GetStaticVariableContent() != "ws://127.0.0.1:4999/ws" ||
		got.GetProtocol() != common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_WS ||
		got.GetWebsocketSubprotocol() != common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_TRANSPORT_WS {
		t.Errorf("products subscription = %v", got)
	}

	opts := buildOptions(t, &eventRecorder{})
	opts.ForwardedHeaders = func(name string) ([]string, []*regexp.Regexp) {
		if name != "notifications" {
			return nil, nil
		}
		return []string{"Authorization"}, []*regexp.Regexp{regexp.MustCompile(`(?i)^x-tenant-.*`)}
	}
	s, err := sg.Build(opts)
	if err != nil {
		t.Fatal(err)
	}
	input := triggerInput(t, planOperation(t, s, `subscription N { notifications { id message } }`))
	for _, want := range []string{
		`"url":"http://127.0.0.1:4003/stream"`, `"use_sse":true`, `"sse_method_post":true`,
		`"forwarded_client_header_names":["Authorization"]`, `x-tenant-`,
	} {
		if !strings.Contains(input, want) {
			t.Errorf("subscription input lacks %s:\n%s", want, input)
		}
	}
}

func TestCompose_RejectsUnknownSubscriptionProtocol(t *testing.T) {
	src := subgraph(t, "employees", "http://127.0.0.1:4001/graphql")
	src.Subscription = &schema.UpstreamSubscription{Protocol: "carrier-pigeon"}
	_, err := schema.Compose([]schema.SubgraphSource{src})
	if err == nil || !strings.Contains(err.Error(), `"employees"`) || !strings.Contains(err.Error(), "carrier-pigeon") {
		t.Fatalf("err = %v, want an error naming the subgraph and the protocol", err)
	}
}

func TestBuild_EventSubgraphWithoutEventFactoryFails(t *testing.T) {
	sg := mainGraph(t)
	opts := buildOptions(t, &eventRecorder{})
	opts.EventFactory = nil
	if _, err := sg.Build(opts); err == nil || !strings.Contains(err.Error(), `"events"`) {
		t.Fatalf("err = %v, want an error naming the event subgraph", err)
	}
}

func subscriptionConfig(t *testing.T, sg *schema.Supergraph, name string) *nodev1.GraphQLSubscriptionConfiguration {
	t.Helper()
	for _, s := range sg.Config.GetSubgraphs() {
		if s.GetName() != name {
			continue
		}
		for _, ds := range sg.Config.GetEngineConfig().GetDatasourceConfigurations() {
			if ds.GetId() == s.GetId() {
				return ds.GetCustomGraphql().GetSubscription()
			}
		}
	}
	t.Fatalf("no data source for subgraph %q", name)
	return nil
}

func hasNode(nodes []plan.TypeField, typeName, fieldName string) bool {
	return slices.ContainsFunc(nodes, func(n plan.TypeField) bool {
		return n.TypeName == typeName && slices.Contains(n.FieldNames, fieldName)
	})
}

func hasKey(keys []plan.FederationFieldConfiguration, typeName, selection string) bool {
	return slices.ContainsFunc(keys, func(k plan.FederationFieldConfiguration) bool {
		return k.TypeName == typeName && k.SelectionSet == selection
	})
}

func TestBuild_InaccessibleFieldsStayOutOfTheClientSchema(t *testing.T) {
	sg := compose(t, schema.SubgraphSource{Name: "catalog", RoutingURL: "http://127.0.0.1:4010/graphql", SDL: `
		extend schema @link(url: "https://specs.apollo.dev/federation/v2.5", import: ["@key", "@inaccessible"])
		type Query { items: [Item!]! }
		type Item @key(fields: "id") { id: ID! name: String! costPrice: Int! @inaccessible }
	`})
	s, _ := build(t, sg)
	if !hasField(s.Definition, "Item", "costPrice") {
		t.Error("engine schema lacks the inaccessible field; the planner needs it for keys and requires")
	}
	if hasField(s.ClientDefinition, "Item", "costPrice") || strings.Contains(s.ClientSDL, "costPrice") {
		t.Error("client schema exposes the inaccessible field")
	}
	if !hasField(s.ClientDefinition, "Item", "name") || !hasField(s.ClientDefinition, "__Schema", "types") {
		t.Error("client schema lacks Item.name or the introspection types of the base schema")
	}
}

func TestPrewarm_LeavesComposeWorking(t *testing.T) {
	if err := schema.Prewarm(); err != nil {
		t.Fatal(err)
	}
	sg := compose(t, schema.SubgraphSource{Name: "tiny", RoutingURL: "http://127.0.0.1:4001/graphql", SDL: `type Query { hello: String }`})
	if sg.Config.GetEngineConfig().GetGraphqlSchema() == "" {
		t.Fatal("no schema composed after Prewarm")
	}
}
