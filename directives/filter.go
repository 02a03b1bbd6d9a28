package directives

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// buildFilter decodes @openfed__subscriptionFilter(condition:) of field f; nil when invalid.
func (d *sdlDoc) buildFilter(f fieldContext, dir int) *Filter {
	line := d.directiveLine(dir)
	nerr := len(d.errs)
	var cond ast.Value
	found := false
	for _, a := range d.doc.Directives[dir].Arguments.Refs {
		arg := d.doc.Arguments[a]
		switch name := d.text(arg.Name); name {
		case "condition":
			if found {
				d.errorf(line, "@%s has argument \"condition\" more than once", filterDirectiveName)
			}
			cond, found = arg.Value, true
		default:
			d.errorf(valueLine(arg.Value, line), "@%s has no argument %q (want condition)", filterDirectiveName, name)
		}
	}
	if !found {
		d.errorf(line, "@%s needs the argument \"condition\"", filterDirectiveName)
		return nil
	}
	filter := d.filterCondition(f, cond, valueLine(cond, line))
	if len(d.errs) > nerr {
		return nil
	}
	return &filter
}

// filterCondition decodes openfed__SubscriptionFilterCondition: exactly one of AND, OR, NOT, IN.
func (d *sdlDoc) filterCondition(f fieldContext, v ast.Value, line int) Filter {
	const what = "subscription filter condition"
	var out Filter
	if v.Kind != ast.ValueKindObject {
		d.errorf(line, "%s must be an object with one of AND, OR, NOT, IN, not %s", what, kindName(v))
		return out
	}
	fields := d.objectOf(v)
	if len(fields) != 1 {
		d.errorf(line, "%s must set exactly one of AND, OR, NOT, IN (it sets %d)", what, len(fields))
	}
	for _, fld := range fields {
		fline := valueLine(fld.value, fld.line)
		switch fld.name {
		case "AND", "OR":
			items := d.listOf(fld.value)
			if fld.value.Kind == ast.ValueKindNull || len(items) == 0 {
				d.errorf(fline, "%s %s must hold at least one condition", what, fld.name)
				continue
			}
			list := make([]Filter, 0, len(items))
			for _, item := range items {
				list = append(list, d.filterCondition(f, item, valueLine(item, fline)))
			}
			if fld.name == "AND" {
				out.And = list
			} else {
				out.Or = list
			}
		case "NOT":
			not := d.filterCondition(f, fld.value, fline)
			out.Not = &not
		case "IN":
			out.In = d.filterIn(f, fld.value, fline)
		default:
			d.errorf(fline, "%s has no field %q (want AND, OR, NOT or IN)", what, fld.name)
		}
	}
	return out
}

// filterIn decodes openfed__SubscriptionFieldCondition { fieldPath, values }.
func (d *sdlDoc) filterIn(f fieldContext, v ast.Value, line int) *FilterIn {
	const what = "subscription filter IN"
	if v.Kind != ast.ValueKindObject {
		d.errorf(line, "%s must be an object with fieldPath and values, not %s", what, kindName(v))
		return nil
	}
	in := &FilterIn{}
	var havePath, haveValues bool
	for _, fld := range d.objectOf(v) {
		fline := valueLine(fld.value, fld.line)
		switch fld.name {
		case "fieldPath":
			havePath = true
			s, ok := d.stringOf(fld.value)
			if !ok {
				d.errorf(fline, "%s fieldPath must be a string, not %s", what, kindName(fld.value))
				continue
			}
			path := strings.Split(s, ".")
			for _, seg := range path {
				if !isName(seg) {
					d.errorf(fline, "%s fieldPath %q must be field names joined by dots, e.g. \"employee.id\"", what, s)
					path = nil
					break
				}
			}
			in.FieldPath = path
		case "values":
			haveValues = true
			items := d.listOf(fld.value)
			if fld.value.Kind == ast.ValueKindNull || len(items) == 0 {
				d.errorf(fline, "%s values must hold at least one value", what)
				continue
			}
			for _, item := range items {
				if lit, ok := d.filterValue(f, item, valueLine(item, fline)); ok {
					in.Values = append(in.Values, lit)
				}
			}
		default:
			d.errorf(fline, "%s has no field %q (want fieldPath and values)", what, fld.name)
		}
	}
	if !havePath {
		d.errorf(line, "%s needs fieldPath", what)
	}
	if !haveValues {
		d.errorf(line, "%s needs values", what)
	}
	return in
}

// filterValue renders one IN value as a JSON literal. Strings holding {{ args.x }} stay
// strings; their placeholders must name arguments of the field but may be lists, which the
// engine expands into several values.
func (d *sdlDoc) filterValue(f fieldContext, v ast.Value, line int) (string, bool) {
	switch v.Kind {
	case ast.ValueKindString:
		s, _ := d.stringOf(v)
		if strings.Contains(s, "{{") || strings.Contains(s, "}}") {
			t, err := ParseTemplate(s)
			if err != nil {
				d.errorf(line, "subscription filter value: %v", err)
				return "", false
			}
			if !d.checkTemplateArguments(f, t, "subscription filter value", line, false) {
				return "", false
			}
		}
		return jsonString(s), true
	case ast.ValueKindInteger:
		return signed(d.doc.IntValueIsNegative(v.Ref), d.doc.IntValueRaw(v.Ref)), true
	case ast.ValueKindFloat:
		return signed(d.doc.FloatValueIsNegative(v.Ref), d.doc.FloatValueRaw(v.Ref)), true
	case ast.ValueKindBoolean:
		if d.doc.BooleanValue(v.Ref) {
			return "true", true
		}
		return "false", true
	case ast.ValueKindNull:
		return "null", true
	}
	d.errorf(line, "subscription filter values must be strings, numbers, booleans or null, not %s", kindName(v))
	return "", false
}

// jsonString quotes s as JSON without HTML escaping, so templates stay readable.
func jsonString(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	return strings.TrimSuffix(buf.String(), "\n")
}

// signed prints a number literal whose sign the parser keeps apart from its digits.
func signed(negative bool, raw []byte) string {
	if negative && !bytes.HasPrefix(raw, []byte("-")) {
		return "-" + string(raw)
	}
	return string(raw)
}
