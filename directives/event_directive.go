package directives

import (
	"fmt"
	"math"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

const (
	eventDirectivePrefix = "edfs__"
	filterDirectiveName  = "openfed__subscriptionFilter"
	publishResultType    = "edfs__PublishResult"
	streamConfigType     = "edfs__NatsStreamConfiguration"
	defaultProviderID    = "default"
	// defaultConsumerInactiveThreshold is the directive's default for
	// edfs__NatsStreamConfiguration.consumerInactiveThreshold, in seconds.
	defaultConsumerInactiveThreshold = 30
)

// directiveSpec describes one Cosmo event directive.
type directiveSpec struct {
	broker     Broker
	action     Action
	subjectArg string // "subjects", "subject", "topics", ...
	list       bool   // subjectArg is a list
	stream     bool   // accepts streamConfiguration
}

var eventDirectives = map[string]directiveSpec{
	"edfs__natsSubscribe":  {broker: NATS, action: Subscribe, subjectArg: "subjects", list: true, stream: true},
	"edfs__natsPublish":    {broker: NATS, action: Publish, subjectArg: "subject"},
	"edfs__natsRequest":    {broker: NATS, action: Request, subjectArg: "subject"},
	"edfs__kafkaSubscribe": {broker: Kafka, action: Subscribe, subjectArg: "topics", list: true},
	"edfs__kafkaPublish":   {broker: Kafka, action: Publish, subjectArg: "topic"},
	"edfs__redisSubscribe": {broker: Redis, action: Subscribe, subjectArg: "channels", list: true},
	"edfs__redisPublish":   {broker: Redis, action: Publish, subjectArg: "channel"},
}

// fieldContext is the root field a directive sits on.
type fieldContext struct {
	typeName string
	ref      int // FieldDefinition ref
}

func (d *sdlDoc) coordinate(f fieldContext) string {
	return f.typeName + "." + d.fieldName(f.ref)
}

// buildBinding decodes the arguments of event directive dir on field f. It reports every
// problem and returns nil when there was one.
func (d *sdlDoc) buildBinding(subgraph string, f fieldContext, dir int, name string, spec directiveSpec) *Binding {
	line := d.directiveLine(dir)
	nerr := len(d.errs)
	b := &Binding{
		Subgraph:   subgraph,
		TypeName:   f.typeName,
		FieldName:  d.fieldName(f.ref),
		Action:     spec.action,
		Broker:     spec.broker,
		ProviderID: defaultProviderID,
		Line:       line,
	}
	seen := map[string]bool{}
	haveSubjects := false
	for _, a := range d.doc.Directives[dir].Arguments.Refs {
		arg := d.doc.Arguments[a]
		argName := d.text(arg.Name)
		v := arg.Value
		vline := valueLine(v, line)
		if seen[argName] {
			d.errorf(vline, "@%s has argument %q more than once", name, argName)
			continue
		}
		seen[argName] = true
		switch {
		case argName == spec.subjectArg:
			haveSubjects = true
			b.Subjects = d.subjectTemplates(f, name, spec, v, vline)
		case argName == "providerId":
			s, ok := d.stringOf(v)
			switch {
			case !ok:
				d.errorf(vline, "@%s(providerId:) must be a string, not %s", name, kindName(v))
			case s == "":
				d.errorf(vline, "@%s(providerId:) must not be empty", name)
			default:
				b.ProviderID = s
			}
		case argName == "streamConfiguration" && spec.stream:
			b.Stream = d.streamConfig(name, v, vline)
		default:
			d.errorf(vline, "@%s has no argument %q (want %s)", name, argName, specArguments(spec))
		}
	}
	if !haveSubjects {
		d.errorf(line, "@%s needs the argument %q", name, spec.subjectArg)
	}
	d.checkReturnType(f, name, spec)
	if len(d.errs) > nerr {
		return nil
	}
	return b
}

func specArguments(spec directiveSpec) string {
	args := []string{spec.subjectArg, "providerId"}
	if spec.stream {
		args = append(args, "streamConfiguration")
	}
	return strings.Join(args, ", ")
}

// subjectTemplates reads the subjects argument and checks each template.
func (d *sdlDoc) subjectTemplates(f fieldContext, name string, spec directiveSpec, v ast.Value, line int) []Template {
	var items []ast.Value
	if spec.list {
		items = d.listOf(v)
		if v.Kind == ast.ValueKindNull {
			items = nil
		}
		if len(items) == 0 {
			d.errorf(line, "@%s(%s:) must name at least one %s", name, spec.subjectArg, spec.broker.noun())
			return nil
		}
	} else {
		items = []ast.Value{v}
	}
	out := make([]Template, 0, len(items))
	for _, item := range items {
		iline := valueLine(item, line)
		s, ok := d.stringOf(item)
		if !ok {
			d.errorf(iline, "@%s(%s:) must hold strings, not %s", name, spec.subjectArg, kindName(item))
			continue
		}
		if s == "" {
			d.errorf(iline, "@%s(%s:) has an empty %s", name, spec.subjectArg, spec.broker.noun())
			continue
		}
		t, err := ParseTemplate(s)
		if err != nil {
			d.errorf(iline, "@%s(%s:): %v", name, spec.subjectArg, err)
			continue
		}
		if problem := literalSubjectProblem(spec, t); problem != "" {
			d.errorf(iline, "@%s(%s:): %s %q %s", name, spec.subjectArg, spec.broker.noun(), s, problem)
			continue
		}
		if d.checkTemplateArguments(f, t, spec.broker.noun(), iline, true) {
			out = append(out, t)
		}
	}
	return out
}

// literalSubjectProblem checks the text written around the placeholders, so that a typo is
// caught at start-up rather than as a subscription that never receives anything.
func literalSubjectProblem(spec directiveSpec, t Template) string {
	// Each placeholder stands for one safe character: Render guarantees a non-empty value
	// with no separator.
	var shape strings.Builder
	for _, p := range t.parts {
		if p.path != nil {
			shape.WriteByte('x')
		} else {
			shape.WriteString(p.text)
		}
	}
	s := shape.String()
	switch spec.broker {
	case NATS:
		if strings.ContainsFunc(s, func(r rune) bool { return r <= ' ' || r == 0x7f }) {
			return "contains whitespace or a control character"
		}
		tokens := strings.Split(s, ".")
		for i, tok := range tokens {
			switch {
			case tok == "":
				return "has an empty token (a leading, trailing or doubled '.')"
			case strings.ContainsAny(tok, "*>") && spec.action != Subscribe:
				return "contains a wildcard ('*' or '>'), which only subscriptions may use"
			case tok == ">" && i != len(tokens)-1:
				return "has '>' before the last token"
			case tok != "*" && tok != ">" && strings.ContainsAny(tok, "*>"):
				return "has a wildcard inside a token; '*' and '>' must stand alone between dots"
			}
		}
	case Kafka:
		for _, r := range s {
			if !isKafkaTopicRune(r) {
				return fmt.Sprintf("contains %q; a Kafka topic may only hold A-Z, a-z, 0-9, '.', '_' and '-'", r)
			}
		}
	}
	return ""
}

// checkTemplateArguments checks that every placeholder of t names an argument of field f
// (nested paths through input object types of this SDL). With leaf set, the named value must
// be a scalar or enum, as it becomes part of a name.
func (d *sdlDoc) checkTemplateArguments(f fieldContext, t Template, what string, line int, leaf bool) bool {
	ok := true
	field := d.doc.FieldDefinitions[f.ref]
	for _, path := range t.ArgumentPaths() {
		placeholder := "{{ args." + strings.Join(path, ".") + " }}"
		argRef := -1
		for _, ref := range field.ArgumentsDefinition.Refs {
			if d.text(d.doc.InputValueDefinitions[ref].Name) == path[0] {
				argRef = ref
			}
		}
		if argRef < 0 {
			d.errorf(line, "%s %q uses %s, but %s has no argument %q", what, t.String(), placeholder, d.coordinate(f), path[0])
			ok = false
			continue
		}
		typ := d.doc.InputValueDefinitions[argRef].Type
		for i, seg := range path[1:] {
			at := strings.Join(path[:i+1], ".")
			inner := d.unwrapNonNull(typ)
			if d.doc.Types[inner].TypeKind == ast.TypeKindList {
				d.errorf(line, "%s %q uses %s, but args.%s is a list (%s)", what, t.String(), placeholder, at, d.typeString(typ))
				ok = false
				break
			}
			typeName := d.text(d.doc.Types[inner].Name)
			fields, isInput := d.types.inputs[typeName]
			if !isInput {
				d.errorf(line, "%s %q uses %s, but args.%s is of type %s, which is not an input object type of this subgraph", what, t.String(), placeholder, at, typeName)
				ok = false
				break
			}
			fref, found := fields[seg]
			if !found {
				d.errorf(line, "%s %q uses %s, but input type %s has no field %q", what, t.String(), placeholder, typeName, seg)
				ok = false
				break
			}
			typ = d.doc.InputValueDefinitions[fref].Type
		}
		if !ok || !leaf {
			continue
		}
		inner := d.unwrapNonNull(typ)
		if d.doc.Types[inner].TypeKind == ast.TypeKindList {
			d.errorf(line, "%s %q uses %s, which is a list (%s); only a scalar or enum can be part of a %s", what, t.String(), placeholder, d.typeString(typ), what)
			ok = false
		} else if _, isInput := d.types.inputs[d.text(d.doc.Types[inner].Name)]; isInput {
			d.errorf(line, "%s %q uses %s, which is an input object (%s); only a scalar or enum can be part of a %s", what, t.String(), placeholder, d.typeString(typ), what)
			ok = false
		}
	}
	return ok
}

func (d *sdlDoc) unwrapNonNull(ref int) int {
	if d.doc.Types[ref].TypeKind == ast.TypeKindNonNull {
		return d.doc.Types[ref].OfType
	}
	return ref
}

// streamConfig reads edfs__NatsStreamConfiguration; null means no JetStream.
func (d *sdlDoc) streamConfig(name string, v ast.Value, line int) *StreamConfig {
	if v.Kind == ast.ValueKindNull {
		return nil
	}
	if v.Kind != ast.ValueKindObject {
		d.errorf(line, "@%s(streamConfiguration:) must be an object, not %s", name, kindName(v))
		return nil
	}
	sc := &StreamConfig{ConsumerInactiveThreshold: defaultConsumerInactiveThreshold}
	var haveConsumer, haveStream bool
	for _, f := range d.objectOf(v) {
		fline := valueLine(f.value, f.line)
		switch f.name {
		case "consumerName", "streamName":
			s, ok := d.stringOf(f.value)
			if !ok || s == "" {
				d.errorf(fline, "@%s(streamConfiguration: {%s}) must be a non-empty string", name, f.name)
				continue
			}
			if f.name == "consumerName" {
				sc.ConsumerName, haveConsumer = s, true
			} else {
				sc.StreamName, haveStream = s, true
			}
		case "consumerInactiveThreshold":
			if f.value.Kind != ast.ValueKindInteger {
				d.errorf(fline, "@%s(streamConfiguration: {consumerInactiveThreshold}) must be an integer (seconds), not %s", name, kindName(f.value))
				continue
			}
			if !d.doc.IntValueValidInt32(f.value.Ref) || d.doc.IntValueIsNegative(f.value.Ref) {
				d.errorf(fline, "@%s(streamConfiguration: {consumerInactiveThreshold}) must be between 0 and %d seconds", name, math.MaxInt32)
				continue
			}
			sc.ConsumerInactiveThreshold = d.doc.IntValueAsInt32(f.value.Ref)
		default:
			d.errorf(fline, "@%s(streamConfiguration:) has no field %q (want consumerName, streamName, consumerInactiveThreshold)", name, f.name)
		}
	}
	if !haveConsumer {
		d.errorf(line, "@%s(streamConfiguration:) needs consumerName", name)
	}
	if !haveStream {
		d.errorf(line, "@%s(streamConfiguration:) needs streamName", name)
	}
	return sc
}

// checkReturnType enforces what the engine can resolve: publish fields return
// edfs__PublishResult!, subscribe and request fields return entities.
func (d *sdlDoc) checkReturnType(f fieldContext, name string, spec directiveSpec) {
	field := d.doc.FieldDefinitions[f.ref]
	line := d.fieldLine(f.ref)
	if spec.action == Publish {
		t := d.doc.Types[field.Type]
		if t.TypeKind != ast.TypeKindNonNull || d.doc.Types[t.OfType].TypeKind != ast.TypeKindNamed ||
			d.namedType(field.Type) != publishResultType {
			d.errorf(line, "%s uses @%s and must return %s!, not %s", d.coordinate(f), name, publishResultType, d.typeString(field.Type))
		}
		return
	}
	if problem := d.types.entityProblem(d.namedType(field.Type)); problem != "" {
		d.errorf(line, "%s uses @%s and returns %s: %s", d.coordinate(f), name, d.typeString(field.Type), problem)
	}
}
