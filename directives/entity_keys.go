package directives

import (
	"fmt"
	"sort"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// checkEventKeys enforces Cosmo's rule for event subgraphs: the subgraph cannot resolve
// entities (it has no server), so every @key is resolvable: false and its fields are
// @external; the events carry the key and the router fetches the rest from other subgraphs.
func (d *sdlDoc) checkEventKeys() {
	var types []*compositeType
	for _, m := range []map[string]*compositeType{d.types.objects, d.types.interfaces} {
		for _, ct := range m {
			if len(ct.keys) > 0 {
				types = append(types, ct)
			}
		}
	}
	sort.Slice(types, func(i, j int) bool { return types[i].line < types[j].line })
	for _, ct := range types {
		for _, key := range ct.keys {
			d.checkEventKey(ct, key)
		}
	}
}

func (d *sdlDoc) checkEventKey(ct *compositeType, key int) {
	line := d.directiveLine(key)
	fv, ok := d.directiveArg(key, "fields")
	fieldsText, isString := d.stringOf(fv)
	if !ok || !isString {
		d.errorf(line, "@key on %s needs fields: a string such as \"id\"", ct.name)
		return
	}
	label := fmt.Sprintf("@key(fields: %q) on %s", fieldsText, ct.name)
	rv, ok := d.directiveArg(key, "resolvable")
	if !ok || rv.Kind != ast.ValueKindBoolean || bool(d.doc.BooleanValue(rv.Ref)) {
		d.errorf(line, "%s must set resolvable: false: an event subgraph has no server to resolve entities from", label)
	}
	set, err := parseFieldSet(fieldsText)
	if err != nil {
		d.errorf(line, "%s: %v", label, err)
		return
	}
	for _, sel := range set {
		ref, found := ct.fields[sel.name]
		if !found {
			d.errorf(line, "%s names field %q, which %s does not define", label, sel.name, ct.name)
			continue
		}
		if !ct.external && !d.hasDirective(d.doc.FieldDefinitions[ref].Directives, "external") {
			d.errorf(d.fieldLine(ref), "key field %s.%s must be @external in an event subgraph, since its value comes from the events", ct.name, sel.name)
		}
		d.checkNestedKeyFields(label, d.namedType(d.doc.FieldDefinitions[ref].Type), sel.sub, line)
	}
}

// checkNestedKeyFields checks that a nested selection like "org { id }" names fields that
// exist; types of other subgraphs are not known here and are skipped.
func (d *sdlDoc) checkNestedKeyFields(label, typeName string, set []fieldSelection, line int) {
	if len(set) == 0 {
		return
	}
	ct := d.types.objects[typeName]
	if ct == nil {
		ct = d.types.interfaces[typeName]
	}
	if ct == nil {
		return
	}
	for _, sel := range set {
		ref, found := ct.fields[sel.name]
		if !found {
			d.errorf(line, "%s names field %s.%s, which is not defined", label, typeName, sel.name)
			continue
		}
		d.checkNestedKeyFields(label, d.namedType(d.doc.FieldDefinitions[ref].Type), sel.sub, line)
	}
}

// fieldSelection is one field of a key's field set, with its sub-selection.
type fieldSelection struct {
	name string
	sub  []fieldSelection
}

// parseFieldSet parses the plain selections a key may hold: names and nested braces.
func parseFieldSet(s string) ([]fieldSelection, error) {
	p := fieldSetParser{s: s}
	set, err := p.selections(0)
	if err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, fmt.Errorf("the field set is empty")
	}
	return set, nil
}

type fieldSetParser struct {
	s   string
	pos int
}

func (p *fieldSetParser) skipIgnored() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r', ',':
			p.pos++
		default:
			return
		}
	}
}

func (p *fieldSetParser) selections(depth int) ([]fieldSelection, error) {
	var out []fieldSelection
	for {
		p.skipIgnored()
		if p.pos >= len(p.s) {
			if depth > 0 {
				return nil, fmt.Errorf("unclosed \"{\" in the field set")
			}
			return out, nil
		}
		c := p.s[p.pos]
		switch {
		case c == '}':
			if depth == 0 {
				return nil, fmt.Errorf("unexpected \"}\" in the field set")
			}
			p.pos++
			if len(out) == 0 {
				return nil, fmt.Errorf("empty selection \"{}\" in the field set")
			}
			return out, nil
		case c == '{':
			if len(out) == 0 {
				return nil, fmt.Errorf("\"{\" without a field before it in the field set")
			}
			p.pos++
			sub, err := p.selections(depth + 1)
			if err != nil {
				return nil, err
			}
			out[len(out)-1].sub = sub
		default:
			start := p.pos
			for p.pos < len(p.s) && isNameByte(p.s[p.pos], p.pos > start) {
				p.pos++
			}
			if p.pos == start {
				return nil, fmt.Errorf("unsupported %q in the field set (only field names and { } are supported)", c)
			}
			out = append(out, fieldSelection{name: p.s[start:p.pos]})
		}
	}
}

func isNameByte(c byte, notFirst bool) bool {
	return c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || notFirst && c >= '0' && c <= '9'
}
