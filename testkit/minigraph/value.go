package minigraph

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// valueNode is an input value written in an operation or SDL: a literal, a variable
// reference, or a list or object of those.
type valueNode interface {
	resolve(vars map[string]any) (any, error)
}

type literalNode struct{ v any }
type variableNode struct{ name string }
type listNode []valueNode
type objectNode []objectFieldNode

type objectFieldNode struct {
	name  string
	value valueNode
}

func (n literalNode) resolve(map[string]any) (any, error) { return n.v, nil }

// resolve of a variable that was not provided yields errMissingVariable, so that the
// argument counts as absent (and its default applies) rather than as null.
func (n variableNode) resolve(vars map[string]any) (any, error) {
	v, ok := vars[n.name]
	if !ok {
		return nil, errMissingVariable
	}
	return v, nil
}

func (n listNode) resolve(vars map[string]any) (any, error) {
	out := make([]any, 0, len(n))
	for _, e := range n {
		v, err := e.resolve(vars)
		if err == errMissingVariable {
			v, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (n objectNode) resolve(vars map[string]any) (any, error) {
	out := make(map[string]any, len(n))
	for _, f := range n {
		v, err := f.value.resolve(vars)
		if err == errMissingVariable {
			continue
		}
		if err != nil {
			return nil, err
		}
		out[f.name] = v
	}
	return out, nil
}

type missingVariable struct{}

func (missingVariable) Error() string { return "variable not provided" }

var errMissingVariable error = missingVariable{}

func literalValue(doc *ast.Document, v ast.Value) (valueNode, error) {
	switch v.Kind {
	case ast.ValueKindNull:
		return literalNode{nil}, nil
	case ast.ValueKindBoolean:
		return literalNode{bool(doc.BooleanValue(v.Ref))}, nil
	case ast.ValueKindInteger:
		return literalNode{int(doc.IntValueAsInt(v.Ref))}, nil
	case ast.ValueKindFloat:
		raw := string(doc.FloatValueRaw(v.Ref))
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil {
			return nil, fmt.Errorf("float %q: %w", raw, err)
		}
		if doc.FloatValueIsNegative(v.Ref) {
			f = -f
		}
		return literalNode{f}, nil
	case ast.ValueKindString:
		if doc.StringValueIsBlockString(v.Ref) {
			return literalNode{doc.BlockStringValueContentString(v.Ref)}, nil
		}
		return literalNode{unescapeString(doc.StringValueContentBytes(v.Ref))}, nil
	case ast.ValueKindEnum:
		return literalNode{doc.EnumValueNameString(v.Ref)}, nil
	case ast.ValueKindVariable:
		return variableNode{doc.VariableValueNameString(v.Ref)}, nil
	case ast.ValueKindList:
		var out listNode
		for _, ref := range doc.ListValues[v.Ref].Refs {
			e, err := literalValue(doc, doc.Values[ref])
			if err != nil {
				return nil, err
			}
			out = append(out, e)
		}
		return out, nil
	case ast.ValueKindObject:
		var out objectNode
		for _, ref := range doc.ObjectValues[v.Ref].Refs {
			e, err := literalValue(doc, doc.ObjectFieldValue(ref))
			if err != nil {
				return nil, err
			}
			out = append(out, objectFieldNode{name: doc.ObjectFieldNameString(ref), value: e})
		}
		return out, nil
	default:
		return nil, fmt.Errorf("unsupported value kind %s", v.Kind)
	}
}

// unescapeString turns the raw content of a GraphQL string literal into its value. The
// escapes GraphQL allows are a subset of JSON's, so the JSON decoder does the work.
func unescapeString(raw []byte) string {
	var s string
	if err := json.Unmarshal(append(append([]byte{'"'}, raw...), '"'), &s); err != nil {
		return string(raw)
	}
	return s
}

// decodeJSON decodes request JSON with numbers as int when they are integral and fit,
// float64 otherwise, so resolvers see the natural Go type for Int arguments.
func decodeJSON(data []byte, into any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(into); err != nil {
		return err
	}
	if p, ok := into.(*any); ok {
		*p = normalizeNumbers(*p)
	}
	if p, ok := into.(*map[string]any); ok && *p != nil {
		for k, v := range *p {
			(*p)[k] = normalizeNumbers(v)
		}
	}
	return nil
}

func normalizeNumbers(v any) any {
	switch t := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(t), 10, 64); err == nil && i >= math.MinInt && i <= math.MaxInt {
			return int(i)
		}
		f, _ := t.Float64()
		return f
	case []any:
		for i := range t {
			t[i] = normalizeNumbers(t[i])
		}
	case map[string]any:
		for k := range t {
			t[k] = normalizeNumbers(t[k])
		}
	}
	return v
}

// coerceInput applies GraphQL input coercion to a value for the given type: scalars are
// converted to their Go form (Int → int, Float → float64, ID → string), a single value
// is wrapped when a list is expected, input objects get their defaults.
func (s *schema) coerceInput(v any, t *typeRef, path string) (any, error) {
	if v == nil {
		if t.nonNull {
			return nil, fmt.Errorf("%s: expected a non-null %s, got null", path, t)
		}
		return nil, nil
	}
	if t.elem != nil {
		items, ok := asList(v)
		if !ok {
			items = []any{v}
		}
		out := make([]any, len(items))
		for i, item := range items {
			c, err := s.coerceInput(item, t.elem, fmt.Sprintf("%s[%d]", path, i))
			if err != nil {
				return nil, err
			}
			out[i] = c
		}
		return out, nil
	}
	def, ok := s.types[t.name]
	if !ok {
		return nil, fmt.Errorf("%s: unknown type %s", path, t.name)
	}
	switch def.kind {
	case kindScalar:
		return coerceScalar(v, t.name, path)
	case kindEnum:
		str, ok := v.(string)
		if !ok || !def.enumValues[str] {
			return nil, fmt.Errorf("%s: %v is not a value of enum %s", path, v, t.name)
		}
		return str, nil
	case kindInput:
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: expected an input object %s, got %T", path, t.name, v)
		}
		for k := range m {
			if _, ok := def.fields[k]; !ok {
				return nil, fmt.Errorf("%s: unknown field %q of input %s", path, k, t.name)
			}
		}
		out := make(map[string]any, len(def.fields))
		for name, f := range def.fields {
			a := f.args[0]
			fv, present := m[name]
			if !present {
				if a.hasDefault {
					out[name] = a.def
				} else if a.typ.nonNull {
					return nil, fmt.Errorf("%s.%s: required field missing", path, name)
				}
				continue
			}
			c, err := s.coerceInput(fv, a.typ, path+"."+name)
			if err != nil {
				return nil, err
			}
			out[name] = c
		}
		return out, nil
	default:
		return nil, fmt.Errorf("%s: %s is not an input type", path, t.name)
	}
}

func coerceScalar(v any, name, path string) (any, error) {
	switch name {
	case "Int":
		if i, ok := toInt(v); ok {
			return i, nil
		}
	case "Float":
		if i, ok := toInt(v); ok {
			return float64(i), nil
		}
		if f, ok := v.(float64); ok {
			return f, nil
		}
	case "String":
		if s, ok := v.(string); ok {
			return s, nil
		}
	case "Boolean":
		if b, ok := v.(bool); ok {
			return b, nil
		}
	case "ID":
		if s, ok := v.(string); ok {
			return s, nil
		}
		if i, ok := toInt(v); ok {
			return strconv.Itoa(i), nil
		}
	default:
		// Custom scalars (_Any, JSON, …) pass through unchanged.
		return v, nil
	}
	return nil, fmt.Errorf("%s: %v (%T) is not a valid %s", path, v, v, name)
}

func toInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int32:
		return int(n), true
	case int64:
		return int(n), true
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= 1<<53 {
			return int(n), true
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return int(i), true
		}
	}
	return 0, false
}

// asList accepts any Go slice or array, so resolvers may return []map[string]any or
// []string as well as []any.
func asList(v any) ([]any, bool) {
	if l, ok := v.([]any); ok {
		return l, true
	}
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Slice && rv.Kind() != reflect.Array {
		return nil, false
	}
	out := make([]any, rv.Len())
	for i := range out {
		out[i] = rv.Index(i).Interface()
	}
	return out, true
}
