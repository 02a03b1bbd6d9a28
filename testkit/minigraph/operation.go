package minigraph

import (
	"fmt"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

// operation is one executable operation of a request, checked against the schema:
// every field exists on its parent type, arguments exist and required ones are given,
// leaf fields have no selections and composite fields have some, variables are declared.
type operation struct {
	kind       ast.OperationType
	name       string
	root       *typeDef
	vars       []*varDef
	selections []*selection
}

type varDef struct {
	name       string
	typ        *typeRef
	hasDefault bool
	def        valueNode
}

// selection is a field (name set) or a fragment (inline or spread, already inlined).
type selection struct {
	alias, name   string
	args          []argNode
	typeCondition string // fragments only; "" matches every type
	children      []*selection
	conditions    []condition
}

type argNode struct {
	name  string
	value valueNode
}

// condition is one @skip (include=false) or @include (include=true) directive.
type condition struct {
	include bool
	value   valueNode
}

func (s *selection) isField() bool { return s.name != "" }

func (s *selection) responseKey() string {
	if s.alias != "" {
		return s.alias
	}
	return s.name
}

type operationParser struct {
	doc       *ast.Document
	schema    *schema
	declared  map[string]bool
	fragments []string // fragment spreads being expanded, to reject cycles
}

// parseOperation parses query and selects the operation to run (by operationName when
// the document holds several).
func parseOperation(s *schema, query, operationName string) (*operation, error) {
	doc, report := astparser.ParseGraphqlDocumentString(query)
	if report.HasErrors() {
		return nil, fmt.Errorf("%s", report.Error())
	}
	ref, err := pickOperation(&doc, operationName)
	if err != nil {
		return nil, err
	}
	def := doc.OperationDefinitions[ref]
	op := &operation{kind: def.OperationType, name: doc.OperationDefinitionNameString(ref)}
	rootName := map[ast.OperationType]string{
		ast.OperationTypeQuery:        "Query",
		ast.OperationTypeMutation:     "Mutation",
		ast.OperationTypeSubscription: "Subscription",
	}[def.OperationType]
	root, ok := s.types[rootName]
	if !ok || root.kind != kindObject {
		return nil, fmt.Errorf("the subgraph has no %s type", rootName)
	}
	op.root = root
	p := &operationParser{doc: &doc, schema: s, declared: map[string]bool{}}
	for _, vref := range def.VariableDefinitions.Refs {
		vd := doc.VariableDefinitions[vref]
		v := &varDef{name: doc.VariableDefinitionNameString(vref), typ: convertType(&doc, vd.Type)}
		if t, ok := s.types[v.typ.named()]; !ok || (t.kind != kindScalar && t.kind != kindEnum && t.kind != kindInput) {
			return nil, fmt.Errorf("variable $%s: %s is not an input type", v.name, v.typ.named())
		}
		if vd.DefaultValue.IsDefined {
			d, err := literalValue(&doc, vd.DefaultValue.Value)
			if err != nil {
				return nil, fmt.Errorf("variable $%s default: %w", v.name, err)
			}
			v.hasDefault, v.def = true, d
		}
		p.declared[v.name] = true
		op.vars = append(op.vars, v)
	}
	if op.selections, err = p.selectionSet(def.SelectionSet, root); err != nil {
		return nil, err
	}
	if op.kind == ast.OperationTypeSubscription {
		if n := len(collectStatic(op.selections)); n != 1 {
			return nil, fmt.Errorf("subscription %q must select exactly one top level field, selects %d", op.name, n)
		}
	}
	return op, nil
}

func pickOperation(doc *ast.Document, name string) (int, error) {
	found := -1
	count := 0
	for _, node := range doc.RootNodes {
		if node.Kind != ast.NodeKindOperationDefinition {
			continue
		}
		count++
		if name == "" || doc.OperationDefinitionNameString(node.Ref) == name {
			found = node.Ref
		}
	}
	switch {
	case count == 0:
		return 0, fmt.Errorf("the document contains no operation")
	case name == "" && count > 1:
		return 0, fmt.Errorf("the document contains %d operations: operationName is required", count)
	case found < 0:
		return 0, fmt.Errorf("unknown operation named %q", name)
	}
	return found, nil
}

func (p *operationParser) selectionSet(setRef int, parent *typeDef) ([]*selection, error) {
	var out []*selection
	for _, selRef := range p.doc.SelectionSets[setRef].SelectionRefs {
		sel := p.doc.Selections[selRef]
		var (
			s   *selection
			err error
		)
		switch sel.Kind {
		case ast.SelectionKindField:
			s, err = p.field(sel.Ref, parent)
		case ast.SelectionKindInlineFragment:
			f := p.doc.InlineFragments[sel.Ref]
			typeRef := -1
			if f.TypeCondition.Type != ast.InvalidRef {
				typeRef = f.TypeCondition.Type
			}
			s, err = p.fragment(typeRef, f.SelectionSet, f.Directives.Refs, parent)
		case ast.SelectionKindFragmentSpread:
			s, err = p.spread(sel.Ref, parent)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func (p *operationParser) field(ref int, parent *typeDef) (*selection, error) {
	doc := p.doc
	f := doc.Fields[ref]
	s := &selection{name: doc.FieldNameString(ref)}
	if f.Alias.IsDefined {
		s.alias = doc.FieldAliasString(ref)
	}
	var err error
	if s.conditions, err = p.conditions(f.Directives.Refs); err != nil {
		return nil, err
	}
	if s.name == "__typename" {
		if f.HasSelections || len(f.Arguments.Refs) > 0 {
			return nil, fmt.Errorf("field %q on type %q takes no arguments and no selections", s.name, parent.name)
		}
		return s, nil
	}
	def, ok := parent.fields[s.name]
	if !ok || parent.kind == kindUnion {
		return nil, fmt.Errorf("Cannot query field %q on type %q.", s.name, parent.name)
	}
	given := map[string]bool{}
	for _, argRef := range f.Arguments.Refs {
		name := doc.ArgumentNameString(argRef)
		if def.arg(name) == nil {
			return nil, fmt.Errorf("unknown argument %q on field %q.%q", name, parent.name, s.name)
		}
		v, err := p.value(doc.ArgumentValue(argRef))
		if err != nil {
			return nil, fmt.Errorf("argument %q on field %q.%q: %w", name, parent.name, s.name, err)
		}
		if !hasVariables(v) {
			lit, err := v.resolve(nil)
			if err == nil {
				_, err = p.schema.coerceInput(lit, def.arg(name).typ, name)
			}
			if err != nil {
				return nil, fmt.Errorf("argument %q on field %q.%q: %w", name, parent.name, s.name, err)
			}
		}
		given[name] = true
		s.args = append(s.args, argNode{name: name, value: v})
	}
	for _, a := range def.args {
		if a.typ.nonNull && !a.hasDefault && !given[a.name] {
			return nil, fmt.Errorf("field %q.%q argument %q of type %q is required, but it was not provided", parent.name, s.name, a.name, a.typ)
		}
	}
	child := p.schema.types[def.typ.named()]
	leaf := child.kind == kindScalar || child.kind == kindEnum
	switch {
	case leaf && f.HasSelections:
		return nil, fmt.Errorf("field %q.%q of type %q must not have a selection", parent.name, s.name, def.typ)
	case !leaf && !f.HasSelections:
		return nil, fmt.Errorf("field %q.%q of type %q must have a selection of subfields", parent.name, s.name, def.typ)
	case !leaf:
		if s.children, err = p.selectionSet(f.SelectionSet, child); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (p *operationParser) spread(ref int, parent *typeDef) (*selection, error) {
	name := p.doc.Input.ByteSliceString(p.doc.FragmentSpreads[ref].FragmentName)
	for _, open := range p.fragments {
		if open == name {
			return nil, fmt.Errorf("fragment %q spreads itself", name)
		}
	}
	fragRef, ok := p.doc.FragmentDefinitionRef([]byte(name))
	if !ok {
		return nil, fmt.Errorf("unknown fragment %q", name)
	}
	def := p.doc.FragmentDefinitions[fragRef]
	p.fragments = append(p.fragments, name)
	defer func() { p.fragments = p.fragments[:len(p.fragments)-1] }()
	directives := append(append([]int(nil), p.doc.FragmentSpreads[ref].Directives.Refs...), def.Directives.Refs...)
	return p.fragment(def.TypeCondition.Type, def.SelectionSet, directives, parent)
}

func (p *operationParser) fragment(typeRef, setRef int, directives []int, parent *typeDef) (*selection, error) {
	s := &selection{}
	target := parent
	if typeRef >= 0 {
		s.typeCondition = p.doc.TypeNameString(typeRef)
		t, ok := p.schema.types[s.typeCondition]
		if !ok || (t.kind != kindObject && t.kind != kindInterface && t.kind != kindUnion) {
			return nil, fmt.Errorf("unknown type %q in fragment type condition", s.typeCondition)
		}
		target = t
	}
	var err error
	if s.conditions, err = p.conditions(directives); err != nil {
		return nil, err
	}
	if setRef == ast.InvalidRef {
		return s, nil
	}
	s.children, err = p.selectionSet(setRef, target)
	return s, err
}

func (p *operationParser) conditions(directiveRefs []int) ([]condition, error) {
	var out []condition
	for _, ref := range directiveRefs {
		name := p.doc.DirectiveNameString(ref)
		if name != "skip" && name != "include" {
			continue
		}
		v, ok := p.doc.DirectiveArgumentValueByName(ref, []byte("if"))
		if !ok {
			return nil, fmt.Errorf("directive @%s needs an argument \"if\"", name)
		}
		node, err := p.value(v)
		if err != nil {
			return nil, fmt.Errorf("directive @%s: %w", name, err)
		}
		out = append(out, condition{include: name == "include", value: node})
	}
	return out, nil
}

// value converts an input value and checks that the variables it uses are declared.
func (p *operationParser) value(v ast.Value) (valueNode, error) {
	node, err := literalValue(p.doc, v)
	if err != nil {
		return nil, err
	}
	if err := p.checkVariables(node); err != nil {
		return nil, err
	}
	return node, nil
}

func (p *operationParser) checkVariables(n valueNode) error {
	switch t := n.(type) {
	case variableNode:
		if !p.declared[t.name] {
			return fmt.Errorf("variable $%s is not defined", t.name)
		}
	case listNode:
		for _, e := range t {
			if err := p.checkVariables(e); err != nil {
				return err
			}
		}
	case objectNode:
		for _, f := range t {
			if err := p.checkVariables(f.value); err != nil {
				return err
			}
		}
	}
	return nil
}

func hasVariables(n valueNode) bool {
	switch t := n.(type) {
	case variableNode:
		return true
	case listNode:
		for _, e := range t {
			if hasVariables(e) {
				return true
			}
		}
	case objectNode:
		for _, f := range t {
			if hasVariables(f.value) {
				return true
			}
		}
	}
	return false
}

// collectStatic lists the response keys of the top level fields, ignoring fragment type
// conditions and directives: enough to count subscription root fields and to see which
// root fields an operation may select.
func collectStatic(sels []*selection) []*selection {
	var out []*selection
	seen := map[string]bool{}
	var walk func([]*selection)
	walk = func(sels []*selection) {
		for _, s := range sels {
			if !s.isField() {
				walk(s.children)
				continue
			}
			if !seen[s.responseKey()] {
				seen[s.responseKey()] = true
				out = append(out, s)
			}
		}
	}
	walk(sels)
	return out
}

// selectsField reports whether the operation selects the named root field anywhere.
func (op *operation) selectsField(name string) bool {
	for _, s := range collectStatic(op.selections) {
		if s.name == name {
			return true
		}
	}
	return false
}
