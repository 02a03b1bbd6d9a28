package schema

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/jensneuse/abstractlogger"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/httpclient"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/introspection"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
)

// Introspection (__schema, __type) is answered from JSON rendered once per schema, at
// build time. The engine's generator writes "" for every description nobody wrote, which
// clients print as empty doc strings (graphql-js printSchema writes """""" above each
// type); the spec says such descriptions are null, so the rendering turns them into null.
// (An explicitly written empty description is null as well: it says nothing either.)

// introspectionData is the rendered introspection of one client schema.
type introspectionData struct {
	schema []byte            // the __schema object
	types  map[string][]byte // each __type by name
}

func newIntrospectionData(client *ast.Document) (*introspectionData, error) {
	var (
		data   introspection.Data
		report operationreport.Report
	)
	introspection.NewGenerator().Generate(client, &report, &data)
	if report.HasErrors() {
		return nil, report
	}
	raw, err := json.Marshal(data.Schema)
	if err != nil {
		return nil, err
	}
	v, err := astjson.ParseBytes(raw)
	if err != nil {
		return nil, err
	}
	nullEmptyDescriptions(v)
	out := &introspectionData{schema: v.MarshalTo(nil), types: map[string][]byte{}}
	for _, t := range v.GetArray("types") {
		out.types[string(t.GetStringBytes("name"))] = t.MarshalTo(nil)
	}
	return out, nil
}

// nullEmptyDescriptions sets every "description": "" in the document to null.
func nullEmptyDescriptions(v *astjson.Value) {
	switch v.Type() {
	case astjson.TypeObject:
		obj, _ := v.Object()
		obj.Visit(func(key []byte, child *astjson.Value) {
			if string(key) == "description" && child.Type() == astjson.TypeString && len(child.GetStringBytes()) == 0 {
				obj.Set(nil, "description", astjson.NullValue)
				return
			}
			nullEmptyDescriptions(child)
		})
	case astjson.TypeArray:
		items, _ := v.Array()
		for _, item := range items {
			nullEmptyDescriptions(item)
		}
	}
}

// introspectionFields configures the arguments of the root introspection fields.
func introspectionFields(queryType string) plan.FieldConfigurations {
	return plan.FieldConfigurations{
		{TypeName: queryType, FieldName: "__schema"},
		{TypeName: queryType, FieldName: "__type", Arguments: plan.ArgumentsConfigurations{{Name: "name", SourceType: plan.FieldArgumentSource}}},
	}
}

// newIntrospectionDataSource serves __schema and __type on the query type from data.
func newIntrospectionDataSource(queryType string, data *introspectionData) (plan.DataSource, error) {
	return plan.NewDataSourceConfiguration[struct{}](
		resolve.IntrospectionSchemaTypeDataSourceID,
		&introspectionFactory{data: data},
		&plan.DataSourceMetadata{
			RootNodes: []plan.TypeField{{TypeName: queryType, FieldNames: []string{"__schema", "__type"}}},
			ChildNodes: []plan.TypeField{
				{TypeName: "__Schema", FieldNames: []string{"description", "queryType", "mutationType", "subscriptionType", "types", "directives", "__typename"}},
				{TypeName: "__Type", FieldNames: []string{"kind", "name", "description", "fields", "interfaces", "possibleTypes", "enumValues", "inputFields", "ofType", "specifiedByURL", "__typename"}},
				{TypeName: "__Field", FieldNames: []string{"name", "description", "args", "type", "isDeprecated", "deprecationReason", "__typename"}},
				{TypeName: "__InputValue", FieldNames: []string{"name", "description", "type", "defaultValue", "isDeprecated", "deprecationReason", "__typename"}},
				{TypeName: "__Directive", FieldNames: []string{"name", "description", "locations", "args", "isRepeatable", "__typename"}},
				{TypeName: "__EnumValue", FieldNames: []string{"name", "description", "isDeprecated", "deprecationReason", "__typename"}},
			},
		},
		struct{}{},
	)
}

type introspectionFactory struct{ data *introspectionData }

func (f *introspectionFactory) Planner(abstractlogger.Logger) plan.DataSourcePlanner[struct{}] {
	return &introspectionPlanner{data: f.data, root: ast.InvalidRef}
}

func (f *introspectionFactory) Context() context.Context { return context.Background() }

func (f *introspectionFactory) UpstreamSchema(plan.DataSourceConfiguration[struct{}]) (*ast.Document, bool) {
	return nil, false
}

func (f *introspectionFactory) PlanningBehavior() plan.DataSourcePlanningBehavior {
	return plan.DataSourcePlanningBehavior{OverrideFieldPathFromAlias: true, AllowPlanningTypeName: true}
}

// introspectionPlanner plans one root introspection field into a fetch of its JSON.
type introspectionPlanner struct {
	id       int
	v        *plan.Visitor
	data     *introspectionData
	root     int
	rootName string
	rootKey  string
}

func (p *introspectionPlanner) SetID(id int) { p.id = id }
func (p *introspectionPlanner) ID() int      { return p.id }

func (p *introspectionPlanner) DownstreamResponseFieldAlias(int) (string, bool) { return "", false }

func (p *introspectionPlanner) Register(v *plan.Visitor, _ plan.DataSourceConfiguration[struct{}], _ plan.DataSourcePlannerConfiguration) error {
	p.v = v
	v.Walker.RegisterEnterFieldVisitor(p)
	return nil
}

func (p *introspectionPlanner) EnterField(ref int) {
	switch name := p.v.Operation.FieldNameString(ref); name {
	case "__schema", "__type":
		p.root, p.rootName, p.rootKey = ref, name, p.v.Operation.FieldAliasOrNameString(ref)
	}
}

func (p *introspectionPlanner) ConfigureFetch() resolve.FetchConfiguration {
	if p.root == ast.InvalidRef {
		p.v.Walker.StopWithInternalErr(errors.New("introspection: no root field"))
		return resolve.FetchConfiguration{}
	}
	input := `{"schema":true}`
	if p.rootName == "__type" {
		// The planner renders the field argument into the template.
		input = `{"type":"{{ .arguments.name }}"}`
	}
	return resolve.FetchConfiguration{
		Input:          input,
		DataSource:     &introspectionSource{data: p.data},
		PostProcessing: resolve.PostProcessingConfiguration{MergePath: []string{p.rootKey}},
	}
}

func (p *introspectionPlanner) ConfigureSubscription() plan.SubscriptionConfiguration {
	return plan.SubscriptionConfiguration{}
}

type introspectionSource struct{ data *introspectionData }

func (s *introspectionSource) Load(_ context.Context, _ http.Header, input []byte) ([]byte, error) {
	var in struct {
		Schema bool    `json:"schema"`
		Type   *string `json:"type"`
	}
	if err := json.Unmarshal(input, &in); err != nil {
		// The name is rendered into the input as is; one that breaks the JSON (a quote, a
		// backslash) is no GraphQL name, so no type has it.
		return []byte("null"), nil
	}
	if in.Schema {
		return s.data.schema, nil
	}
	if in.Type != nil {
		if t, ok := s.data.types[*in.Type]; ok {
			return t, nil
		}
	}
	return []byte("null"), nil
}

func (s *introspectionSource) LoadWithFiles(ctx context.Context, h http.Header, input []byte, _ []*httpclient.FileUpload) ([]byte, error) {
	return s.Load(ctx, h, input)
}
