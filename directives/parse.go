package directives

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/operationreport"
)

// Source is one subgraph SDL.
type Source struct {
	Subgraph string
	File     string // for messages; may be "" (then the subgraph name is used)
	SDL      string
}

// Result is what Parse found in a subgraph.
type Result struct {
	Bindings []Binding // in SDL order
	// SDL is the subgraph for composition: without event directives, their definitions and
	// their input types, with edfs__PublishResult defined when a publish field needs it and,
	// for an event subgraph without a Federation v2 @link, one added at the end. Removed text
	// keeps its line breaks, so a line number in the rewritten SDL is the same line in the
	// original file. A subgraph without event directives comes out unchanged.
	SDL string
	// Events is true when the subgraph has at least one event directive (an "event subgraph").
	Events bool
}

// Parse reads the event directives of a subgraph SDL into bindings and checks them. On
// failure the error is Errors, one "FILE:LINE: message" per problem.
func Parse(src Source) (res *Result, err error) {
	file := src.File
	if file == "" {
		file = src.Subgraph
	}
	if file == "" {
		file = "<sdl>"
	}
	defer func() {
		// A schema is user input: whatever breaks in the parser below must become an error
		// that names the file, not a crash of the gateway at start-up or reload.
		if p := recover(); p != nil {
			res, err = nil, Errors{{File: file, Line: 1, Message: fmt.Sprintf("cannot parse the SDL: internal error: %v", p)}}
		}
	}()
	// The GraphQL lexer rejects a byte order mark, which editors on Windows like to write.
	sdl := strings.TrimPrefix(src.SDL, "\ufeff")
	doc, report := astparser.ParseGraphqlDocumentString(sdl)
	if report.HasErrors() {
		return nil, syntaxErrors(file, report.ExternalErrors, report.InternalErrors)
	}
	d := newSDLDoc(file, sdl, &doc)

	consumed := map[int]bool{}
	var bindings []Binding
	for _, n := range doc.RootNodes {
		var def *ast.ObjectTypeDefinition
		switch n.Kind {
		case ast.NodeKindObjectTypeDefinition:
			def = &doc.ObjectTypeDefinitions[n.Ref]
		case ast.NodeKindObjectTypeExtension:
			def = &doc.ObjectTypeExtensions[n.Ref].ObjectTypeDefinition
		default:
			continue
		}
		typeName := d.text(def.Name)
		for _, fref := range def.FieldsDefinition.Refs {
			if b := d.fieldBinding(src.Subgraph, fieldContext{typeName: typeName, ref: fref}, consumed); b != nil {
				bindings = append(bindings, *b)
			}
		}
	}
	events := d.checkStrayDirectives(consumed)
	if events {
		d.checkEventKeys()
	}
	if len(d.errs) > 0 {
		sort.SliceStable(d.errs, func(i, j int) bool { return d.errs[i].Line < d.errs[j].Line })
		return nil, d.errs
	}
	out := d.rewrite(bindings, events)
	if out == sdl {
		out = src.SDL
	}
	return &Result{Bindings: bindings, SDL: out, Events: events}, nil
}

// Binding returns the binding of field typeName.fieldName, if it has one.
func (r *Result) Binding(typeName, fieldName string) (*Binding, bool) {
	for i := range r.Bindings {
		if r.Bindings[i].TypeName == typeName && r.Bindings[i].FieldName == fieldName {
			return &r.Bindings[i], true
		}
	}
	return nil, false
}

func syntaxErrors(file string, external []operationreport.ExternalError, internal []error) Errors {
	var errs Errors
	for _, e := range external {
		line := 1
		if len(e.Locations) > 0 {
			line = int(e.Locations[0].Line)
		}
		errs = append(errs, &Error{File: file, Line: line, Message: "syntax error: " + strings.TrimSpace(e.Message)})
	}
	for _, e := range internal {
		errs = append(errs, &Error{File: file, Line: 1, Message: "syntax error: " + e.Error()})
	}
	return errs
}

// fieldBinding handles the event and filter directives of one field of an object type.
func (d *sdlDoc) fieldBinding(subgraph string, f fieldContext, consumed map[int]bool) *Binding {
	var (
		binding   *Binding
		eventName string
		filters   []int
	)
	for _, ref := range d.doc.FieldDefinitions[f.ref].Directives.Refs {
		name := d.directiveName(ref)
		switch {
		case name == filterDirectiveName:
			consumed[ref] = true
			filters = append(filters, ref)
		case strings.HasPrefix(name, eventDirectivePrefix):
			consumed[ref] = true
			spec, known := eventDirectives[name]
			if !known {
				d.errorf(d.directiveLine(ref), "unknown event directive @%s (known: %s)", name, knownEventDirectives())
				continue
			}
			if eventName != "" {
				d.errorf(d.directiveLine(ref), "%s has more than one event directive (@%s and @%s); a field binds to one broker operation", d.coordinate(f), eventName, name)
				continue
			}
			eventName = name
			if want := d.rootTypeFor(spec.action); f.typeName != want {
				d.errorf(d.directiveLine(ref), "@%s is only allowed on fields of type %s, not on %s", name, want, d.coordinate(f))
				continue
			}
			binding = d.buildBinding(subgraph, f, ref, name, spec)
		}
	}
	for i, ref := range filters {
		switch {
		case i > 0:
			d.errorf(d.directiveLine(ref), "%s has @%s more than once", d.coordinate(f), filterDirectiveName)
		case eventName == "" || eventDirectives[eventName].action != Subscribe:
			d.errorf(d.directiveLine(ref), "@%s on %s needs a subscribe directive on the same field (@edfs__natsSubscribe, @edfs__kafkaSubscribe or @edfs__redisSubscribe)", filterDirectiveName, d.coordinate(f))
		case binding != nil:
			binding.Filter = d.buildFilter(f, ref)
		default:
			// The subscribe directive was invalid and reported; still check the filter.
			d.buildFilter(f, ref)
		}
	}
	return binding
}

func (d *sdlDoc) rootTypeFor(a Action) string {
	switch a {
	case Publish:
		return d.types.mutation
	case Request:
		return d.types.query
	}
	return d.types.subscription
}

func knownEventDirectives() string {
	names := make([]string, 0, len(eventDirectives))
	for n := range eventDirectives {
		names = append(names, "@"+n)
	}
	sort.Strings(names)
	return strings.Join(names, ", ")
}

// checkStrayDirectives reports event and filter directives that are not on a field of an
// object type (on a type, an argument, an interface field, ...). It returns whether the SDL
// uses any event directive at all.
func (d *sdlDoc) checkStrayDirectives(consumed map[int]bool) (events bool) {
	for ref := range d.doc.Directives {
		name := d.directiveName(ref)
		isEvent := strings.HasPrefix(name, eventDirectivePrefix)
		if !isEvent && name != filterDirectiveName {
			continue
		}
		events = true
		if consumed[ref] {
			continue
		}
		spec, known := eventDirectives[name]
		switch {
		case name == filterDirectiveName:
			d.errorf(d.directiveLine(ref), "@%s is only allowed on fields of type %s that have a subscribe directive", name, d.types.subscription)
		case !known:
			d.errorf(d.directiveLine(ref), "unknown event directive @%s (known: %s)", name, knownEventDirectives())
		default:
			d.errorf(d.directiveLine(ref), "@%s is only allowed on fields of type %s", name, d.rootTypeFor(spec.action))
		}
	}
	return events
}
