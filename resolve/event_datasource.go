package resolve

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/buger/jsonparser"
	"github.com/jensneuse/abstractlogger"
	"github.com/rs/zerolog"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/httpclient"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/internal/subjectauth"
)

// The event data source plans the root fields of event subgraphs. It does not talk to a
// broker while planning: a subscription field plans into an eventTrigger that the hub
// drives; publish and request fields plan into fetches that call the broker registry.
//
// The planner renders every argument of the root field into the fetch/trigger input as
// {"args":{...}} so that templates are rendered (and checked) by directives.Template at
// execution time, where a bad value can be reported as a GraphQL error.

// eventBroker is what event fetches need from the broker layer.
type eventBroker interface {
	Publish(ctx context.Context, providerID, subject string, data []byte) error
	Request(ctx context.Context, providerID, subject string, data []byte) ([]byte, error)
}

type eventConfig struct {
	subgraph string
	bindings map[string]*directives.Binding // "Type.field"
	// keys holds the top-level key field names per entity type of the subgraph, used to
	// reject events that cannot be resolved.
	keys map[string][][]string
}

type eventFactory struct {
	ctx    context.Context
	broker eventBroker
	log    zerolog.Logger
	authz  map[string]*subjectauth.Policy // by ProviderKey; see authz.go
}

func (f *eventFactory) Planner(abstractlogger.Logger) plan.DataSourcePlanner[eventConfig] {
	return &eventPlanner{factory: f, rootRef: -1}
}

func (f *eventFactory) Context() context.Context { return f.ctx }

func (f *eventFactory) UpstreamSchema(plan.DataSourceConfiguration[eventConfig]) (*ast.Document, bool) {
	return nil, false
}

func (f *eventFactory) PlanningBehavior() plan.DataSourcePlanningBehavior {
	// AllowPlanningTypeName lets the planner take __typename (and with it the entity key)
	// from the event so it can jump to the subgraphs owning the other fields.
	return plan.DataSourcePlanningBehavior{AllowPlanningTypeName: true}
}

// newEventDataSource builds the engine data source of one event subgraph.
func newEventDataSource(f *eventFactory, id, name string, md *plan.DataSourceMetadata, bindings []directives.Binding) (plan.DataSource, error) {
	cfg := eventConfig{subgraph: name, bindings: map[string]*directives.Binding{}, keys: map[string][][]string{}}
	for i := range bindings {
		b := &bindings[i]
		cfg.bindings[b.TypeName+"."+b.FieldName] = b
	}
	for _, k := range md.FederationMetaData.Keys {
		cfg.keys[k.TypeName] = append(cfg.keys[k.TypeName], topLevelFields(k.SelectionSet))
	}
	ds, err := plan.NewDataSourceConfigurationWithName[eventConfig](id, name, f, md, cfg)
	if err != nil {
		return nil, fmt.Errorf("event data source for subgraph %q: %w", name, err)
	}
	return ds, nil
}

// topLevelFields returns the field names at the top level of a key selection set such
// as "id sku" or "id organization { id }".
func topLevelFields(selection string) []string {
	var out []string
	depth := 0
	var cur []byte
	flush := func() {
		if len(cur) > 0 && depth == 0 {
			out = append(out, string(cur))
		}
		cur = cur[:0]
	}
	for i := 0; i < len(selection); i++ {
		c := selection[i]
		switch {
		case c == '{':
			flush()
			depth++
		case c == '}':
			depth--
			cur = cur[:0]
		case c == ' ' || c == '\n' || c == '\t' || c == ',' || c == '\r':
			flush()
		default:
			if depth == 0 {
				cur = append(cur, c)
			}
		}
	}
	flush()
	return out
}

type eventPlanner struct {
	factory *eventFactory
	id      int
	v       *plan.Visitor
	cfg     eventConfig
	rootRef int
	field   string // response merge key: the root field name
	binding *directives.Binding
	vars    engine.Variables
	input   string
	err     error
	// concrete is the root field's object return type; "" for a union or interface.
	concrete string
	// fields records the event's own fields below the root field, for projection.
	root  *projField
	stack []*projField
}

func (p *eventPlanner) SetID(id int) { p.id = id }
func (p *eventPlanner) ID() int      { return p.id }

func (p *eventPlanner) DownstreamResponseFieldAlias(int) (string, bool) { return "", false }

func (p *eventPlanner) Register(v *plan.Visitor, ds plan.DataSourceConfiguration[eventConfig], _ plan.DataSourcePlannerConfiguration) error {
	p.v = v
	p.cfg = ds.CustomConfiguration()
	v.Walker.RegisterEnterFieldVisitor(p)
	v.Walker.RegisterLeaveFieldVisitor(p)
	return nil
}

func (p *eventPlanner) LeaveField(int) {
	if len(p.stack) > 0 {
		p.stack = p.stack[:len(p.stack)-1]
	}
}

func (p *eventPlanner) EnterField(ref int) {
	f := &projField{key: p.v.Operation.FieldAliasOrNameString(ref), name: p.v.Operation.FieldNameString(ref)}
	if len(p.stack) > 0 {
		parent := p.stack[len(p.stack)-1]
		parent.children = append(parent.children, f)
	}
	p.stack = append(p.stack, f)
	if p.rootRef != -1 {
		return
	}
	p.root = f
	p.rootRef = ref
	typeName := p.v.Walker.EnclosingTypeDefinition.NameString(p.v.Definition)
	fieldName := p.v.Operation.FieldNameString(ref)
	p.field = p.v.Operation.FieldAliasOrNameString(ref)
	b, ok := p.cfg.bindings[typeName+"."+fieldName]
	if !ok {
		p.err = fmt.Errorf("field %s.%s of event subgraph %q has no event directive", typeName, fieldName, p.cfg.subgraph)
		return
	}
	p.binding = b
	if def, ok := p.v.Walker.FieldDefinition(ref); ok {
		if node := p.v.Definition.FieldDefinitionTypeNode(def); node.Kind == ast.NodeKindObjectTypeDefinition {
			p.concrete = p.v.Definition.FieldDefinitionTypeNameString(def)
		}
	}
	var buf bytes.Buffer
	buf.WriteString(`{"args":{`)
	for i, arg := range p.v.Operation.FieldArguments(ref) {
		if i > 0 {
			buf.WriteByte(',')
		}
		name := p.v.Operation.ArgumentNameString(arg)
		fmt.Fprintf(&buf, "%q:", name)
		value := p.v.Operation.ArgumentValue(arg)
		if value.Kind == ast.ValueKindVariable {
			placeholder, _ := p.vars.AddVariable(&engine.ContextVariable{
				Path:     []string{p.v.Operation.VariableValueNameString(value.Ref)},
				Renderer: engine.NewJSONVariableRenderer(),
			})
			buf.WriteString(placeholder)
			continue
		}
		literal, err := p.v.Operation.ValueToJSON(value)
		if err != nil {
			p.err = fmt.Errorf("argument %q of %s.%s: %w", name, typeName, fieldName, err)
			return
		}
		buf.Write(literal)
	}
	buf.WriteString(`}}`)
	p.input = buf.String()
}

func (p *eventPlanner) ConfigureFetch() engine.FetchConfiguration {
	if p.err != nil {
		p.v.Walker.StopWithInternalErr(p.err)
		return engine.FetchConfiguration{}
	}
	if p.binding == nil {
		// A nested planner of the event subgraph (e.g. below a union of entities) has
		// nothing to fetch: the event already holds what it may select.
		return engine.FetchConfiguration{}
	}
	var src engine.DataSource
	switch p.binding.Action {
	case directives.Publish:
		src = &publishSource{binding: p.binding, broker: p.factory.broker, log: p.factory.log, policy: p.factory.authz[ProviderKey(p.binding)]}
	case directives.Request:
		src = &requestSource{binding: p.binding, broker: p.factory.broker, policy: p.factory.authz[ProviderKey(p.binding)]}
	default:
		// The planner asks every planner for a fetch, also the one of a subscription root
		// field; its real work happens in ConfigureSubscription.
		return engine.FetchConfiguration{}
	}
	return engine.FetchConfiguration{
		Input:      p.input,
		Variables:  p.vars,
		DataSource: src,
		PostProcessing: engine.PostProcessingConfiguration{
			SelectResponseDataPath:   []string{"data"},
			SelectResponseErrorsPath: []string{"errors"},
			MergePath:                []string{p.field},
		},
	}
}

func (p *eventPlanner) ConfigureSubscription() plan.SubscriptionConfiguration {
	if p.err != nil {
		p.v.Walker.StopWithInternalErr(p.err)
		return plan.SubscriptionConfiguration{}
	}
	if p.binding == nil || p.binding.Action != directives.Subscribe {
		p.v.Walker.StopWithInternalErr(errors.New("event planner: subscription root field has no subscribe directive"))
		return plan.SubscriptionConfiguration{}
	}
	return plan.SubscriptionConfiguration{
		Input:     p.input,
		Variables: p.vars,
		DataSource: &eventTrigger{
			binding:  p.binding,
			field:    p.field,
			keys:     p.cfg.keys,
			fields:   p.projection(),
			concrete: p.concrete,
		},
		PostProcessing: engine.PostProcessingConfiguration{MergePath: []string{p.field}},
		QueryPlan:      &engine.QueryPlan{},
	}
}

// eventTrigger marks a subscription plan as fed by broker events. The hub reads it from
// the plan; the engine's own subscription loop is never used for it.
type eventTrigger struct {
	binding *directives.Binding
	field   string
	keys    map[string][][]string
	// fields is the projection of the event onto the operation's aliases (nil: none needed).
	fields []*projField
	// concrete is the field's object return type. An event for it may leave out
	// __typename (a publish mutation sends only its arguments); for a union or interface
	// the event must name its type.
	concrete string
}

func (p *eventPlanner) projection() []*projField {
	if p.root == nil || !needsProjection(p.root.children) {
		return nil
	}
	return p.root.children
}

var errHubOnly = errors.New("edgate event triggers are driven by the subscription hub, not the engine's subscription loop")

func (t *eventTrigger) Start(*engine.Context, http.Header, []byte, engine.SubscriptionUpdater) error {
	return errHubOnly
}

// ProviderKey is the event registry id of a binding's provider: provider ids are scoped by
// broker kind (a NATS and a Kafka provider may both be "default"), so providers are
// registered as "<broker>/<id>", e.g. "nats/default".
func ProviderKey(b *directives.Binding) string { return string(b.Broker) + "/" + b.ProviderID }

// argsOf extracts the rendered {"args":{...}} object from a fetch or trigger input.
func argsOf(input []byte) []byte {
	args, _, _, err := jsonparser.Get(input, "args")
	if err != nil {
		return []byte("{}")
	}
	return args
}

// publishSource publishes the JSON of the field's arguments.
type publishSource struct {
	binding *directives.Binding
	broker  eventBroker
	log     zerolog.Logger
	policy  *subjectauth.Policy // nil: open
}

func (s *publishSource) Load(ctx context.Context, _ http.Header, input []byte) ([]byte, error) {
	args := argsOf(input)
	subjects, err := s.binding.RenderSubjects(args)
	if err != nil {
		return graphQLErrorResponse(err.Error()), nil
	}
	if refused := authorizeFetch(ctx, s.policy, s.binding.FieldName, subjects[0]); refused != nil {
		return refused, nil
	}
	if err := s.broker.Publish(ctx, ProviderKey(s.binding), subjects[0], args); err != nil {
		s.log.Warn().Err(err).Str("provider", s.binding.ProviderID).Str("subject", subjects[0]).
			Str("field", s.binding.TypeName+"."+s.binding.FieldName).Msg("publish failed; returning success: false")
		return []byte(`{"data":{"success":false}}`), nil
	}
	return []byte(`{"data":{"success":true}}`), nil
}

func (s *publishSource) LoadWithFiles(ctx context.Context, h http.Header, input []byte, _ []*httpclient.FileUpload) ([]byte, error) {
	return s.Load(ctx, h, input)
}

// requestSource sends the arguments as a request and resolves the reply as the entity.
type requestSource struct {
	binding *directives.Binding
	broker  eventBroker
	policy  *subjectauth.Policy // nil: open
}

func (s *requestSource) Load(ctx context.Context, _ http.Header, input []byte) ([]byte, error) {
	args := argsOf(input)
	subjects, err := s.binding.RenderSubjects(args)
	if err != nil {
		return graphQLErrorResponse(err.Error()), nil
	}
	if refused := authorizeFetch(ctx, s.policy, s.binding.FieldName, subjects[0]); refused != nil {
		return refused, nil
	}
	reply, err := s.broker.Request(ctx, ProviderKey(s.binding), subjects[0], args)
	if err != nil {
		return graphQLErrorResponse(fmt.Sprintf("request on %q failed: %v", subjects[0], err)), nil
	}
	reply = bytes.TrimSpace(reply)
	if len(reply) == 0 || (reply[0] != '{' && reply[0] != '[') {
		return graphQLErrorResponse(fmt.Sprintf("reply on %q is not a JSON object", subjects[0])), nil
	}
	out := make([]byte, 0, len(reply)+10)
	out = append(out, `{"data":`...)
	out = append(out, reply...)
	out = append(out, '}')
	return out, nil
}

func (s *requestSource) LoadWithFiles(ctx context.Context, h http.Header, input []byte, _ []*httpclient.FileUpload) ([]byte, error) {
	return s.Load(ctx, h, input)
}

func graphQLErrorResponse(msg string) []byte {
	b := []byte(`{"errors":[{"message":`)
	b = appendJSONString(b, msg)
	return append(b, `}]}`...)
}
