package minigraph

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// gqlError is one entry of a response's "errors" list.
type gqlError struct {
	Message string `json:"message"`
	Path    []any  `json:"path,omitempty"`
}

// fieldError is an execution error at a response path.
type fieldError struct {
	path []any
	err  error
}

func (e *fieldError) Error() string { return e.err.Error() }
func (e *fieldError) Unwrap() error { return e.err }

func toGQLError(err error) gqlError {
	var fe *fieldError
	if errors.As(err, &fe) {
		return gqlError{Message: fe.err.Error(), Path: fe.path}
	}
	return gqlError{Message: err.Error()}
}

// object is a response object that keeps the selection order of its keys.
type object struct {
	keys   []string
	values []any
}

func (o *object) MarshalJSON() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			buf.WriteByte(',')
		}
		key, _ := json.Marshal(k)
		buf.Write(key)
		buf.WriteByte(':')
		val, err := json.Marshal(o.values[i])
		if err != nil {
			return nil, fmt.Errorf("field %q: %w", k, err)
		}
		buf.Write(val)
	}
	buf.WriteByte('}')
	return buf.Bytes(), nil
}

// executor runs one operation (or, for subscriptions, projects one event).
type executor struct {
	sg      *Subgraph
	schema  *schema
	ctx     context.Context
	headers http.Header
	vars    map[string]any
}

func newExecutor(ctx context.Context, sg *Subgraph, s *schema, op *operation, provided map[string]any, headers http.Header) (*executor, error) {
	vars := make(map[string]any, len(op.vars))
	for _, v := range op.vars {
		given, ok := provided[v.name]
		if !ok {
			if v.hasDefault {
				d, err := v.def.resolve(nil)
				if err != nil {
					return nil, fmt.Errorf("variable $%s default: %w", v.name, err)
				}
				if vars[v.name], err = s.coerceInput(d, v.typ, "$"+v.name); err != nil {
					return nil, err
				}
			} else if v.typ.nonNull {
				return nil, fmt.Errorf("variable $%s of required type %s was not provided", v.name, v.typ)
			}
			continue
		}
		c, err := s.coerceInput(given, v.typ, "$"+v.name)
		if err != nil {
			return nil, fmt.Errorf("variable $%s got an invalid value: %w", v.name, err)
		}
		vars[v.name] = c
	}
	return &executor{sg: sg, schema: s, ctx: ctx, headers: headers, vars: vars}, nil
}

// field is one response key with every selection of it merged, as GraphQL's
// CollectFields does.
type field struct {
	key   string
	first *selection
	sels  []*selection
}

func (f *field) children() []*selection {
	var out []*selection
	for _, s := range f.sels {
		out = append(out, s.children...)
	}
	return out
}

func (e *executor) collect(sels []*selection, typename string, into []*field) ([]*field, error) {
	for _, s := range sels {
		ok, err := e.included(s)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if !s.isField() {
			if s.typeCondition == "" || e.schema.possible(s.typeCondition, typename) {
				if into, err = e.collect(s.children, typename, into); err != nil {
					return nil, err
				}
			}
			continue
		}
		merged := false
		for _, f := range into {
			if f.key == s.responseKey() {
				f.sels = append(f.sels, s)
				merged = true
				break
			}
		}
		if !merged {
			into = append(into, &field{key: s.responseKey(), first: s, sels: []*selection{s}})
		}
	}
	return into, nil
}

func (e *executor) included(s *selection) (bool, error) {
	for _, c := range s.conditions {
		v, err := c.value.resolve(e.vars)
		if err != nil && err != errMissingVariable {
			return false, err
		}
		b, ok := v.(bool)
		if !ok {
			return false, fmt.Errorf("@skip/@include needs a Boolean, got %v", v)
		}
		if b != c.include {
			return false, nil
		}
	}
	return true, nil
}

func (e *executor) args(def *fieldDef, sel *selection, path []any) (map[string]any, error) {
	out := map[string]any{}
	for _, a := range def.args {
		var (
			v       any
			present bool
		)
		for _, given := range sel.args {
			if given.name != a.name {
				continue
			}
			var err error
			v, err = given.value.resolve(e.vars)
			switch {
			case err == errMissingVariable:
			case err != nil:
				return nil, &fieldError{path: path, err: err}
			default:
				present = true
			}
		}
		if !present {
			if a.hasDefault {
				out[a.name] = a.def
			} else if a.typ.nonNull {
				return nil, &fieldError{path: path, err: fmt.Errorf("argument %q of type %s is required", a.name, a.typ)}
			}
			continue
		}
		c, err := e.schema.coerceInput(v, a.typ, a.name)
		if err != nil {
			return nil, &fieldError{path: path, err: err}
		}
		out[a.name] = c
	}
	return out, nil
}

// executeRoot runs the root fields of a query or mutation, one after the other.
func (e *executor) executeRoot(op *operation) (*object, error) {
	fields, err := e.collect(op.selections, op.root.name, nil)
	if err != nil {
		return nil, err
	}
	out := &object{}
	for _, f := range fields {
		path := []any{f.key}
		var v any
		if f.first.name == "__typename" {
			v = op.root.name
		} else {
			def := op.root.fields[f.first.name]
			args, err := e.args(def, f.first, path)
			if err != nil {
				return nil, err
			}
			raw, err := e.resolveRoot(op.kind, f.first.name, args, path)
			if err != nil {
				return nil, err
			}
			if v, err = e.complete(raw, def.typ, f.children(), path); err != nil {
				return nil, err
			}
		}
		out.keys = append(out.keys, f.key)
		out.values = append(out.values, v)
	}
	return out, nil
}

func (e *executor) resolveRoot(kind ast.OperationType, name string, args map[string]any, path []any) (any, error) {
	if kind == ast.OperationTypeQuery {
		switch name {
		case "_service":
			return map[string]any{"sdl": e.sg.SDL}, nil
		case "_entities":
			return e.entities(args["representations"], path)
		}
	}
	resolvers, typeName := e.sg.Query, "Query"
	if kind == ast.OperationTypeMutation {
		resolvers, typeName = e.sg.Mutation, "Mutation"
	}
	r, ok := resolvers[name]
	if !ok || r == nil {
		return nil, &fieldError{path: path, err: fmt.Errorf("no resolver for %s.%s", typeName, name)}
	}
	v, err := r(e.ctx, args, e.headers)
	if err != nil {
		return nil, &fieldError{path: path, err: err}
	}
	return v, nil
}

// entities resolves each representation in order; an unknown entity is null.
func (e *executor) entities(reps any, path []any) (any, error) {
	list, _ := asList(reps)
	out := make([]any, len(list))
	for i, rep := range list {
		p := append(append([]any(nil), path...), i)
		m, ok := rep.(map[string]any)
		if !ok {
			return nil, &fieldError{path: p, err: fmt.Errorf("representation must be an object, got %T", rep)}
		}
		typename, _ := m["__typename"].(string)
		if t, ok := e.schema.types[typename]; !ok || !t.entity {
			return nil, &fieldError{path: p, err: fmt.Errorf("representation has no __typename of an entity type: %q", typename)}
		}
		if e.sg.Entities == nil {
			return nil, &fieldError{path: p, err: errors.New("the subgraph resolves no entities")}
		}
		v, err := e.sg.Entities(e.ctx, m, e.headers)
		if err != nil {
			return nil, &fieldError{path: p, err: err}
		}
		if v == nil {
			continue
		}
		if _, ok := v["__typename"]; !ok {
			withType := make(map[string]any, len(v)+1)
			for k, fv := range v {
				withType[k] = fv
			}
			withType["__typename"] = typename
			v = withType
		}
		out[i] = v
	}
	return out, nil
}

// complete shapes a resolved value by its type and the selections on it.
func (e *executor) complete(v any, t *typeRef, sels []*selection, path []any) (any, error) {
	if v == nil {
		if t.nonNull {
			return nil, &fieldError{path: path, err: fmt.Errorf("Cannot return null for non-nullable field of type %s", t)}
		}
		return nil, nil
	}
	if t.elem != nil {
		items, ok := asList(v)
		if !ok {
			return nil, &fieldError{path: path, err: fmt.Errorf("expected a list for type %s, got %T", t, v)}
		}
		out := make([]any, len(items))
		for i, item := range items {
			c, err := e.complete(item, t.elem, sels, append(append([]any(nil), path...), i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	def := e.schema.types[t.name]
	if def.kind == kindScalar || def.kind == kindEnum {
		return v, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, &fieldError{path: path, err: fmt.Errorf("expected an object of type %s, got %T", t.name, v)}
	}
	typename, _ := m["__typename"].(string)
	if typename == "" {
		if def.kind != kindObject {
			return nil, &fieldError{path: path, err: fmt.Errorf("a value of abstract type %s needs a __typename", t.name)}
		}
		typename = def.name
	}
	if concrete, ok := e.schema.types[typename]; !ok || concrete.kind != kindObject || !e.schema.possible(def.name, typename) {
		return nil, &fieldError{path: path, err: fmt.Errorf("__typename %q is not a possible type of %s", typename, t.name)}
	}
	return e.selectObject(m, typename, sels, path)
}

func (e *executor) selectObject(m map[string]any, typename string, sels []*selection, path []any) (*object, error) {
	fields, err := e.collect(sels, typename, nil)
	if err != nil {
		return nil, &fieldError{path: path, err: err}
	}
	typ := e.schema.types[typename]
	out := &object{}
	for _, f := range fields {
		p := append(append([]any(nil), path...), f.key)
		var v any
		if f.first.name == "__typename" {
			v = typename
		} else {
			def, ok := typ.fields[f.first.name]
			if !ok {
				return nil, &fieldError{path: p, err: fmt.Errorf("Cannot query field %q on type %q.", f.first.name, typename)}
			}
			raw := m[f.first.name]
			if fn := asResolver(raw); fn != nil {
				args, err := e.args(def, f.first, p)
				if err != nil {
					return nil, err
				}
				if raw, err = fn(e.ctx, args, e.headers); err != nil {
					return nil, &fieldError{path: p, err: err}
				}
			}
			if v, err = e.complete(raw, def.typ, f.children(), p); err != nil {
				return nil, err
			}
		}
		out.keys = append(out.keys, f.key)
		out.values = append(out.values, v)
	}
	return out, nil
}

// asResolver lets an object carry a computed field (one that takes arguments, say) as a
// Resolver value instead of data.
func asResolver(v any) Resolver {
	switch fn := v.(type) {
	case Resolver:
		return fn
	case func(context.Context, map[string]any, http.Header) (any, error):
		return fn
	}
	return nil
}

// encodeResult renders a GraphQL response. data is written only when withData is set, so
// that requests rejected before execution carry no "data" key, as the spec asks.
func encodeResult(data any, withData bool, errs []gqlError) []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	if len(errs) > 0 {
		b, _ := json.Marshal(errs)
		buf.WriteString(`"errors":`)
		buf.Write(b)
		if withData {
			buf.WriteByte(',')
		}
	}
	if withData {
		b, err := json.Marshal(data)
		if err != nil {
			return encodeResult(nil, true, append(errs, gqlError{Message: "encode response: " + err.Error()}))
		}
		buf.WriteString(`"data":`)
		buf.Write(b)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

func requestError(format string, args ...any) []byte {
	return encodeResult(nil, false, []gqlError{{Message: strings.TrimSpace(fmt.Sprintf(format, args...))}})
}
