package schema

import (
	"errors"
	"fmt"
	"net/http"
	"regexp"

	"github.com/edgate/edgate/directives"
	"github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/common"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/asttransform"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/graphql_datasource"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
)

// EventDataSourceFactory builds the engine data source for one event subgraph. id is the
// data source id, name the subgraph name; metadata holds its root/child nodes and keys
// (all with DisableEntityResolver set); bindings are that subgraph's bindings.
type EventDataSourceFactory func(id, name string, metadata *plan.DataSourceMetadata, bindings []directives.Binding) (plan.DataSource, error)

// BuildOptions supplies what the plan configuration needs from the caller.
type BuildOptions struct {
	// GraphQLFactory returns the planner factory for a GraphQL subgraph; the caller owns
	// the HTTP and subscription clients behind it. Required when the graph has a
	// non-event subgraph.
	GraphQLFactory func(subgraphName string) (plan.PlannerFactory[graphql_datasource.Configuration], error)
	// EventFactory builds the data sources of event subgraphs. Required when the graph
	// has an event subgraph.
	EventFactory EventDataSourceFactory
	// ForwardedHeaders lists, per subgraph, the client headers forwarded upstream. The
	// engine uses them to decide which upstream subscriptions may share a connection.
	// Optional.
	ForwardedHeaders func(subgraphName string) (names []string, regexps []*regexp.Regexp)
}

// Schema is everything the engine needs to validate, plan and introspect operations.
type Schema struct {
	// Definition is the engine schema (with federation internals), merged with the
	// GraphQL base schema (built-in scalars, introspection types); the planner uses it.
	Definition *ast.Document
	// ClientDefinition is the schema clients see; validation and introspection use it.
	// It is the config's client schema (or, without one, the engine schema) without
	// internal directives and types (see clientSchema), merged with the base schema.
	ClientDefinition *ast.Document
	// ClientSDL is the client schema as SDL, without the base schema.
	ClientSDL string
	Plan      plan.Configuration
	Bindings  []directives.Binding
}

// Build turns the supergraph into the engine's schema documents and plan configuration.
func (s *Supergraph) Build(opts BuildOptions) (*Schema, error) {
	engine := s.Config.GetEngineConfig()
	if engine == nil {
		return nil, errors.New("build schema: router config has no engine configuration")
	}
	definition, err := parseSchema(engine.GetGraphqlSchema())
	if err != nil {
		return nil, fmt.Errorf("build schema: engine schema: %w", err)
	}
	out := &Schema{Definition: definition, Bindings: s.Bindings}
	if out.ClientSDL, err = s.ClientSDL(); err != nil {
		return nil, fmt.Errorf("build schema: %w", err)
	}
	if out.ClientDefinition, err = parseSchema(out.ClientSDL); err != nil {
		return nil, fmt.Errorf("build schema: client schema: %w", err)
	}

	out.Plan.DefaultFlushIntervalMillis = engine.GetDefaultFlushInterval()
	if out.Plan.Fields, err = s.fieldConfigurations(engine); err != nil {
		return nil, fmt.Errorf("build schema: %w", err)
	}
	for _, t := range engine.GetTypeConfigurations() {
		out.Plan.Types = append(out.Plan.Types, plan.TypeConfiguration{TypeName: t.GetTypeName(), RenameTo: t.GetRenameTo()})
	}
	for _, in := range engine.GetDatasourceConfigurations() {
		ds, err := s.dataSource(engine, in, opts)
		if err != nil {
			return nil, fmt.Errorf("build schema: %w", err)
		}
		out.Plan.DataSources = append(out.Plan.DataSources, ds)
	}

	data, err := newIntrospectionData(out.ClientDefinition)
	if err != nil {
		return nil, fmt.Errorf("build schema: introspection: %w", err)
	}
	queryType := "Query"
	if name := out.ClientDefinition.Index.QueryTypeName; len(name) > 0 {
		queryType = string(name)
	}
	ids, err := newIntrospectionDataSource(queryType, data)
	if err != nil {
		return nil, fmt.Errorf("build schema: introspection: %w", err)
	}
	out.Plan.Fields = append(out.Plan.Fields, introspectionFields(queryType)...)
	out.Plan.DataSources = append(out.Plan.DataSources, ids)
	return out, nil
}

// ClientSDL returns the schema clients see, as SDL: the composed client schema without
// internal directives and types (see clientSchema). It is what introspection returns.
func (s *Supergraph) ClientSDL() (string, error) {
	engine := s.Config.GetEngineConfig()
	client := engine.GetGraphqlClientSchema()
	if client == "" {
		client = engine.GetGraphqlSchema()
	}
	sdl, err := clientSchema(client)
	if err != nil {
		return "", fmt.Errorf("client schema: %w", err)
	}
	return sdl, nil
}

func parseSchema(sdl string) (*ast.Document, error) {
	doc, report := astparser.ParseGraphqlDocumentString(sdl)
	if report.HasErrors() {
		return nil, fmt.Errorf("parse: %w", report)
	}
	if err := asttransform.MergeDefinitionWithBaseSchema(&doc); err != nil {
		return nil, fmt.Errorf("merge base schema: %w", err)
	}
	return &doc, nil
}

// fieldConfigurations maps the composed field configurations (argument sources) and adds
// the subscription filter of every binding that has one.
func (s *Supergraph) fieldConfigurations(engine *nodev1.EngineConfiguration) (plan.FieldConfigurations, error) {
	var out plan.FieldConfigurations
	for _, fc := range engine.GetFieldConfigurations() {
		field := plan.FieldConfiguration{TypeName: fc.GetTypeName(), FieldName: fc.GetFieldName()}
		for _, arg := range fc.GetArgumentsConfiguration() {
			a := plan.ArgumentConfiguration{Name: arg.GetName(), SourceType: plan.FieldArgumentSource}
			if arg.GetSourceType() == nodev1.ArgumentSource_OBJECT_FIELD {
				a.SourceType = plan.ObjectFieldSource
			}
			field.Arguments = append(field.Arguments, a)
		}
		out = append(out, field)
	}
	for _, b := range s.Bindings {
		if b.Filter == nil {
			continue
		}
		cond, err := planFilter(b.Filter)
		if err != nil {
			return nil, fmt.Errorf("subgraph %q: subscription filter on %s.%s: %w", b.Subgraph, b.TypeName, b.FieldName, err)
		}
		if fc := out.ForTypeField(b.TypeName, b.FieldName); fc != nil {
			fc.SubscriptionFilterCondition = cond
			continue
		}
		out = append(out, plan.FieldConfiguration{TypeName: b.TypeName, FieldName: b.FieldName, SubscriptionFilterCondition: cond})
	}
	return out, nil
}

func (s *Supergraph) dataSource(engine *nodev1.EngineConfiguration, in *nodev1.DataSourceConfiguration, opts BuildOptions) (plan.DataSource, error) {
	name := s.subgraphName(in.GetId())
	if name == "" {
		return nil, fmt.Errorf("data source %q belongs to no subgraph of the config", in.GetId())
	}
	if in.GetKind() == nodev1.DataSourceKind_PUBSUB || s.IsEventSubgraph(name) {
		if opts.EventFactory == nil {
			return nil, fmt.Errorf("subgraph %q is an event subgraph but BuildOptions.EventFactory is nil", name)
		}
		ds, err := opts.EventFactory(in.GetId(), name, dataSourceMetadata(in, false), s.BindingsOf(name))
		if err != nil {
			return nil, fmt.Errorf("event subgraph %q: %w", name, err)
		}
		if ds == nil {
			return nil, fmt.Errorf("event subgraph %q: EventFactory returned no data source", name)
		}
		return ds, nil
	}
	if in.GetKind() != nodev1.DataSourceKind_GRAPHQL {
		return nil, fmt.Errorf("subgraph %q: unsupported data source kind %s", name, in.GetKind())
	}
	return s.graphQLDataSource(engine, in, name, opts)
}

func (s *Supergraph) graphQLDataSource(engine *nodev1.EngineConfiguration, in *nodev1.DataSourceConfiguration, name string, opts BuildOptions) (plan.DataSource, error) {
	gql := in.GetCustomGraphql()
	if gql == nil {
		return nil, fmt.Errorf("subgraph %q: GraphQL data source without configuration", name)
	}
	if opts.GraphQLFactory == nil {
		return nil, fmt.Errorf("subgraph %q: BuildOptions.GraphQLFactory is nil", name)
	}
	fetchURL := configVariable(gql.GetFetch().GetUrl())
	if fetchURL == "" {
		return nil, fmt.Errorf("subgraph %q has no routing URL", name)
	}
	header := http.Header{}
	for k, h := range gql.GetFetch().GetHeader() {
		for _, v := range h.GetValues() {
			header.Add(k, configVariable(v))
		}
	}
	method := gql.GetFetch().GetMethod().String()

	sub := gql.GetSubscription()
	subscription := &graphql_datasource.SubscriptionConfiguration{
		URL:           configVariable(sub.GetUrl()),
		WsSubProtocol: "auto",
	}
	if subscription.URL == "" {
		subscription.URL = fetchURL
	}
	if sub.Protocol != nil {
		switch sub.GetProtocol() {
		case common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE:
			subscription.UseSSE = true
		case common.GraphQLSubscriptionProtocol_GRAPHQL_SUBSCRIPTION_PROTOCOL_SSE_POST:
			subscription.UseSSE, subscription.SSEMethodPost = true, true
		}
	} else {
		// Configs from before the protocol field existed only say whether SSE is used.
		subscription.UseSSE = sub.GetUseSSE()
	}
	if sub.WebsocketSubprotocol != nil {
		switch sub.GetWebsocketSubprotocol() {
		case common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_WS:
			subscription.WsSubProtocol = "graphql-ws"
		case common.GraphQLWebsocketSubprotocol_GRAPHQL_WEBSOCKET_SUBPROTOCOL_TRANSPORT_WS:
			subscription.WsSubProtocol = "graphql-transport-ws"
		}
	}
	if opts.ForwardedHeaders != nil {
		names, regexps := opts.ForwardedHeaders(name)
		subscription.ForwardedClientHeaderNames = names
		for _, re := range regexps {
			subscription.ForwardedClientHeaderRegularExpressions = append(subscription.ForwardedClientHeaderRegularExpressions,
				graphql_datasource.RegularExpression{Pattern: re})
		}
	}

	key := gql.GetUpstreamSchema().GetKey()
	upstream, ok := engine.GetStringStorage()[key]
	if !ok {
		return nil, fmt.Errorf("subgraph %q: upstream schema %q missing from the config's string storage", name, key)
	}
	schemaCfg, err := graphql_datasource.NewSchemaConfiguration(upstream, &graphql_datasource.FederationConfiguration{
		Enabled:    gql.GetFederation().GetEnabled(),
		ServiceSDL: gql.GetFederation().GetServiceSdl(),
	})
	if err != nil {
		return nil, fmt.Errorf("subgraph %q: schema: %w", name, err)
	}
	var scalars []graphql_datasource.SingleTypeField
	for _, f := range gql.GetCustomScalarTypeFields() {
		scalars = append(scalars, graphql_datasource.SingleTypeField{TypeName: f.GetTypeName(), FieldName: f.GetFieldName()})
	}
	custom, err := graphql_datasource.NewConfiguration(graphql_datasource.ConfigurationInput{
		Fetch:                  &graphql_datasource.FetchConfiguration{URL: fetchURL, Method: method, Header: header},
		Subscription:           subscription,
		SchemaConfiguration:    schemaCfg,
		CustomScalarTypeFields: scalars,
	})
	if err != nil {
		return nil, fmt.Errorf("subgraph %q: %w", name, err)
	}
	factory, err := opts.GraphQLFactory(name)
	if err != nil {
		return nil, fmt.Errorf("subgraph %q: planner factory: %w", name, err)
	}
	ds, err := plan.NewDataSourceConfigurationWithName(in.GetId(), name, factory, dataSourceMetadata(in, true), custom)
	if err != nil {
		return nil, fmt.Errorf("subgraph %q: %w", name, err)
	}
	return ds, nil
}
