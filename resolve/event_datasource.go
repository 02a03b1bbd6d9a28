package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/buger/jsonparser"
	"github.com/jensneuse/abstractlogger"
	"github.com/rs/zerolog"
	"github.com/wundergraph/astjson"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/datasource/httpclient"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"

	"github.com/edgate/edgate/directives"
	"github.com/edgate/edgate/eventsource"
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
	PublishWithHeader(ctx context.Context, providerID, subject string, data []byte, h eventsource.Header) error
	Request(ctx context.Context, providerID, subject string, data []byte) ([]byte, error)
}

type eventConfig struct {
	subgraph string
	bindings map[string]*directives.Binding // "Type.field"
	// keys holds the top-level key field names per entity type of the subgraph, used to
	// reject events that cannot be resolved.
	keys map[string][][]string
	// declared holds, per type, the fields the event subgraph declares (see keepDeclared).
	declared map[string]map[string]bool
}

type eventFactory struct {
	ctx    context.Context
	broker eventBroker
	log    zerolog.Logger
	authz  map[eventsource.ProviderID]*subjectauth.Policy // see authz.go
	hooks  *hookSet                                       // nil: none
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
	cfg.declared = map[string]map[string]bool{}
	for _, nodes := range []plan.TypeFields{md.RootNodes, md.ChildNodes} {
		for _, n := range nodes {
			set := cfg.declared[n.TypeName]
			if set == nil {
				set = map[string]bool{"__typename": true}
				cfg.declared[n.TypeName] = set
			}
			for _, f := range n.FieldNames {
				set[f] = true
			}
			for _, f := range n.ExternalFieldNames {
				set[f] = true
			}
		}
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
	// nested is set for a planner the engine starts below a field of another planner,
	// for example for the @external key fields of an entity an event subgraph returns.
	// The walker shows it the enclosing root field too, but it fetches nothing: the root
	// field's own fetch (or event) already carries what it may select.
	nested  bool
	rootRef int
	field   string // response merge key: the root field name
	binding *directives.Binding
	vars    engine.Variables
	input   string
	err     error
	// concrete is the root field's object return type; "" for a union or interface.
	concrete string
	// returnType is the named return type of the root field (edfs__PublishResult for a
	// publish field).
	returnType string
	// fields records the event's own fields below the root field, for projection.
	root  *projField
	stack []*projField
}

func (p *eventPlanner) SetID(id int) { p.id = id }
func (p *eventPlanner) ID() int      { return p.id }

func (p *eventPlanner) DownstreamResponseFieldAlias(int) (string, bool) { return "", false }

func (p *eventPlanner) Register(v *plan.Visitor, ds plan.DataSourceConfiguration[eventConfig], pc plan.DataSourcePlannerConfiguration) error {
	p.v = v
	p.cfg = ds.CustomConfiguration()
	p.nested = pc.IsNested
	v.Walker.RegisterEnterFieldVisitor(p)
	v.Walker.RegisterLeaveFieldVisitor(p)
	return nil
}

func (p *eventPlanner) LeaveField(int) {
	if !p.nested && len(p.stack) > 0 {
		p.stack = p.stack[:len(p.stack)-1]
	}
}

func (p *eventPlanner) EnterField(ref int) {
	if p.nested {
		return
	}
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
		p.returnType = p.v.Definition.FieldDefinitionTypeNameString(def)
		if node := p.v.Definition.FieldDefinitionTypeNode(def); node.Kind == ast.NodeKindObjectTypeDefinition {
			p.concrete = p.returnType
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
	if p.nested || p.binding == nil {
		// A nested planner of the event subgraph (below an entity or a union of entities
		// the root field returns) has nothing to fetch: the root field's fetch or event
		// already holds what it may select.
		return engine.FetchConfiguration{}
	}
	action := brokerAction{binding: p.binding, field: p.field, policy: p.factory.authz[providerOf(p.binding)]}
	var src engine.DataSource
	switch p.binding.Action {
	case directives.Publish:
		var children []*projField
		if p.root != nil {
			children = p.root.children
		}
		src = &publishSource{
			brokerAction: action, broker: p.factory.broker, log: p.factory.log, hooks: p.factory.hooks,
			succeeded: publishResult(children, p.returnType, true),
			failed:    publishResult(children, p.returnType, false),
		}
	case directives.Request:
		src = &requestSource{brokerAction: action, broker: p.factory.broker, log: p.factory.log, concrete: p.concrete, fields: p.projection(), declared: p.cfg.declared}
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
			declared: p.cfg.declared,
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
	// declared lists the fields the event subgraph declares per type (see keepDeclared).
	declared map[string]map[string]bool
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

// providerOf is the provider a binding names; its String is the provider's registry id.
func providerOf(b *directives.Binding) eventsource.ProviderID {
	return eventsource.ProviderID{Kind: string(b.Broker), ID: b.ProviderID}
}

// argsOf extracts the rendered {"args":{...}} object from a fetch or trigger input.
func argsOf(input []byte) []byte {
	args, _, _, err := jsonparser.Get(input, "args")
	if err != nil {
		return []byte("{}")
	}
	return args
}

// brokerAction is what a publish or request fetch does before it reaches the broker:
// render the subject from the field's arguments and authorize the client for it. Engine
// runs it for every such fetch of an operation before executing any of them (see
// checkSideEffects), so that no side effect happens for an operation that then fails
// on one of these checks.
type brokerAction struct {
	binding *directives.Binding
	// field is the root field's response key (alias or name), the path of its errors.
	field  string
	policy *subjectauth.Policy // nil: open
}

// prepare returns the arguments (the message) and the rendered subject, or the error a
// client gets for them.
func (a *brokerAction) prepare(ctx context.Context, input []byte) (args []byte, subject string, gqlErr *GraphQLError) {
	args = argsOf(input)
	subjects, err := a.binding.RenderSubjects(args)
	if err != nil {
		return nil, "", &GraphQLError{Message: err.Error()}
	}
	if refused := authorizeFetch(ctx, a.policy, a.binding.FieldName, subjects[0]); refused != nil {
		return nil, "", refused
	}
	return args, subjects[0], nil
}

// check runs the checks of prepare without acting; nil means the fetch may run.
func (a *brokerAction) check(ctx context.Context, input []byte) *GraphQLError {
	_, _, gqlErr := a.prepare(ctx, input)
	return gqlErr
}

func (a *brokerAction) responseKey() string { return a.field }

// publishSource publishes the JSON of the field's arguments.
type publishSource struct {
	brokerAction
	broker eventBroker
	log    zerolog.Logger
	hooks  *hookSet // nil: none
	// succeeded and failed are the field's whole result, with every selected field of
	// edfs__PublishResult (success, __typename) under its response key.
	succeeded, failed []byte
}

func (s *publishSource) Load(ctx context.Context, _ http.Header, input []byte) ([]byte, error) {
	args, subject, gqlErr := s.prepare(ctx, input)
	if gqlErr != nil {
		return errorResponse(gqlErr), nil
	}
	var header eventsource.Header // nil without hooks: none
	if s.hooks != nil && len(s.hooks.publish) > 0 {
		p := &Publish{Header: clientHeader(ctx), Field: s.binding.FieldName, Provider: providerOf(s.binding), Subject: subject, Payload: args}
		if s.binding.Broker != directives.Redis {
			p.BrokerHeader = eventsource.Header{}
		}
		gqlErr := s.hooks.onPublish(ctx, p)
		if gqlErr == nil && s.binding.Broker == directives.Redis && len(p.BrokerHeader) > 0 {
			gqlErr = &GraphQLError{Message: "a publish hook set broker headers, but Redis pub/sub messages carry none", Extensions: map[string]any{"code": CodeHookError}}
		}
		if gqlErr != nil {
			gqlErr.Path = []any{s.field}
			return errorResponse(gqlErr), nil
		}
		args, header = p.Payload, p.BrokerHeader
	}
	if err := s.broker.PublishWithHeader(ctx, providerOf(s.binding).String(), subject, args, header); err != nil {
		s.log.Warn().Err(err).Str("provider", s.binding.ProviderID).Str("subject", subject).
			Str("field", s.binding.TypeName+"."+s.binding.FieldName).Msg("publish failed; returning success: false")
		return s.failed, nil
	}
	return s.succeeded, nil
}

func (s *publishSource) LoadWithFiles(ctx context.Context, h http.Header, input []byte, _ []*httpclient.FileUpload) ([]byte, error) {
	return s.Load(ctx, h, input)
}

// publishResult renders the response of a publish field: {"data":{...}} with the selected
// fields of the result type under their response keys, because the engine reads each
// field from data[alias or name] (clients such as Apollo Client and urql add __typename
// to every selection set).
func publishResult(fields []*projField, typeName string, success bool) []byte {
	b := []byte(`{"data":{`)
	seen := make(map[string]bool, len(fields))
	for _, f := range fields {
		if seen[f.key] {
			continue
		}
		if len(seen) > 0 {
			b = append(b, ',')
		}
		seen[f.key] = true
		b = appendJSONString(b, f.key)
		b = append(b, ':')
		switch f.name {
		case "success":
			b = strconv.AppendBool(b, success)
		case "__typename":
			b = appendJSONString(b, typeName)
		default:
			b = append(b, "null"...)
		}
	}
	return append(b, "}}"...)
}

// requestSource sends the arguments as a request and resolves the reply as the entity.
type requestSource struct {
	brokerAction
	broker eventBroker
	log    zerolog.Logger
	// concrete is the field's object return type: a reply without __typename is of it.
	concrete string
	// fields is the projection of the reply onto the operation's aliases (nil: none).
	fields []*projField
	// declared lists the fields the event subgraph declares per type (see keepDeclared).
	declared map[string]map[string]bool
}

func (s *requestSource) Load(ctx context.Context, _ http.Header, input []byte) ([]byte, error) {
	args, subject, gqlErr := s.prepare(ctx, input)
	if gqlErr != nil {
		return errorResponse(gqlErr), nil
	}
	reply, err := s.broker.Request(ctx, providerOf(s.binding).String(), subject, args)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn().Err(err).Str("provider", s.binding.ProviderID).Str("subject", subject).
				Str("field", s.binding.TypeName+"."+s.binding.FieldName).Msg("request failed")
		}
		return graphQLErrorResponse(fmt.Sprintf("request on %q failed: %s", subject, requestFailure(err))), nil
	}
	data, err := replyData(reply, s.concrete, s.fields, s.declared)
	if err != nil {
		return graphQLErrorResponse(fmt.Sprintf("reply on %q: %v", subject, err)), nil
	}
	out := make([]byte, 0, len(data)+10)
	out = append(out, `{"data":`...)
	out = append(out, data...)
	out = append(out, '}')
	return out, nil
}

func (s *requestSource) LoadWithFiles(ctx context.Context, h http.Header, input []byte, _ []*httpclient.FileUpload) ([]byte, error) {
	return s.Load(ctx, h, input)
}

// requestFailure says why a request failed, in the words a client can act on; the log
// has the whole error.
func requestFailure(err error) string {
	var noReply *eventsource.NoReplyError
	switch {
	case errors.As(err, &noReply):
		return noReply.Error()
	case errors.Is(err, eventsource.ErrNoResponders):
		return "no responders (nothing listens on the subject)"
	case errors.Is(err, context.Canceled):
		return "the client left"
	}
	return err.Error()
}

// replyData checks a request's reply and prepares it for resolution like an event: a
// missing __typename is supplied for an object return type, and values are copied to the
// operation's aliases.
func replyData(reply []byte, concrete string, fields []*projField, declared map[string]map[string]bool) ([]byte, error) {
	reply = bytes.TrimSpace(reply)
	if len(reply) == 0 || (reply[0] != '{' && reply[0] != '[') {
		return nil, errors.New("not a JSON object")
	}
	reply = keepDeclared(reply, concrete, declared)
	if concrete == "" && fields == nil {
		return reply, nil
	}
	v, err := astjson.ParseBytes(reply)
	if err != nil {
		return nil, fmt.Errorf("not valid JSON: %v", err)
	}
	if concrete != "" {
		setTypename(v, concrete)
	}
	if fields != nil {
		projectValue(nil, v, fields)
	}
	return v.MarshalTo(nil), nil
}

// setTypename sets "__typename" on an object, or on each object of a list, that has none.
func setTypename(v *astjson.Value, typeName string) {
	switch v.Type() {
	case astjson.TypeArray:
		items, _ := v.Array()
		for _, item := range items {
			setTypename(item, typeName)
		}
	case astjson.TypeObject:
		if v.Get("__typename") == nil {
			v.Set(nil, "__typename", astjson.StringValue(nil, typeName))
		}
	}
}

// errorResponse is the response of a fetch that failed with e.
func errorResponse(e *GraphQLError) []byte {
	b, _ := json.Marshal(struct {
		Errors []GraphQLError `json:"errors"`
	}{[]GraphQLError{*e}})
	return b
}

func graphQLErrorResponse(msg string) []byte {
	b := []byte(`{"errors":[{"message":`)
	b = appendJSONString(b, msg)
	return append(b, `}]}`...)
}
