package directives

import (
	"fmt"
	"sort"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/lexer/position"
)

// sdlDoc is one parsed SDL with what the checks need to report by line.
type sdlDoc struct {
	file       string
	src        string
	doc        *ast.Document
	lineStarts []int // byte offset of the first byte of each line
	errs       Errors
	types      *typeIndex
}

func newSDLDoc(file, src string, doc *ast.Document) *sdlDoc {
	d := &sdlDoc{file: file, src: src, doc: doc, lineStarts: []int{0}}
	for i := 0; i < len(src); i++ {
		if src[i] == '\n' {
			d.lineStarts = append(d.lineStarts, i+1)
		}
	}
	d.types = indexTypes(d)
	return d
}

func (d *sdlDoc) errorf(line int, format string, args ...any) {
	if line < 1 {
		line = 1
	}
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Message: fmt.Sprintf(format, args...)})
}

// offset converts a lexer position (1-based line and byte column) to a byte offset in src.
func (d *sdlDoc) offset(p position.Position) int {
	line := int(p.LineStart)
	if line < 1 || line > len(d.lineStarts) {
		return len(d.src)
	}
	off := d.lineStarts[line-1] + int(p.CharStart) - 1
	if off < 0 {
		return 0
	}
	if off > len(d.src) {
		return len(d.src)
	}
	return off
}

// lineAt returns the 1-based line holding byte offset off.
func (d *sdlDoc) lineAt(off int) int {
	return sort.Search(len(d.lineStarts), func(i int) bool { return d.lineStarts[i] > off })
}

func (d *sdlDoc) text(r ast.ByteSliceReference) string {
	return d.src[r.Start:r.End]
}

func (d *sdlDoc) directiveName(ref int) string { return d.text(d.doc.Directives[ref].Name) }
func (d *sdlDoc) directiveLine(ref int) int    { return int(d.doc.Directives[ref].At.LineStart) }
func (d *sdlDoc) fieldName(ref int) string     { return d.text(d.doc.FieldDefinitions[ref].Name) }
func (d *sdlDoc) fieldLine(ref int) int {
	return d.lineAt(int(d.doc.FieldDefinitions[ref].Name.Start))
}

// directiveArg returns the value of the named argument of directive ref.
func (d *sdlDoc) directiveArg(ref int, name string) (ast.Value, bool) {
	for _, a := range d.doc.Directives[ref].Arguments.Refs {
		if d.text(d.doc.Arguments[a].Name) == name {
			return d.doc.Arguments[a].Value, true
		}
	}
	return ast.Value{}, false
}

func (d *sdlDoc) hasDirective(list ast.DirectiveList, name string) bool {
	for _, ref := range list.Refs {
		if d.directiveName(ref) == name {
			return true
		}
	}
	return false
}

// typeString prints a type reference as written in SDL, e.g. "[Employee!]!".
func (d *sdlDoc) typeString(ref int) string {
	t := d.doc.Types[ref]
	switch t.TypeKind {
	case ast.TypeKindNonNull:
		return d.typeString(t.OfType) + "!"
	case ast.TypeKindList:
		return "[" + d.typeString(t.OfType) + "]"
	case ast.TypeKindNamed:
		return d.text(t.Name)
	}
	return "?"
}

// namedType strips list and non-null wrappers.
func (d *sdlDoc) namedType(ref int) string {
	for d.doc.Types[ref].TypeKind != ast.TypeKindNamed {
		ref = d.doc.Types[ref].OfType
	}
	return d.text(d.doc.Types[ref].Name)
}

// compositeType is an object or interface type with its extensions merged in.
type compositeType struct {
	name       string
	line       int
	keys       []int // @key directive refs
	external   bool  // type-level @external: every field is external
	fields     map[string]int
	implements []string
}

// typeIndex is the subgraph's own types; definitions and extensions merged.
type typeIndex struct {
	objects    map[string]*compositeType
	interfaces map[string]*compositeType
	unions     map[string][]string
	inputs     map[string]map[string]int // input field name -> InputValueDefinition ref
	leaves     map[string]bool           // scalars and enums
	// root operation type names; "Query", "Mutation", "Subscription" unless a schema
	// definition or extension says otherwise.
	query, mutation, subscription string
}

var builtinScalars = []string{"ID", "String", "Int", "Float", "Boolean"}

func indexTypes(d *sdlDoc) *typeIndex {
	ix := &typeIndex{
		objects:      map[string]*compositeType{},
		interfaces:   map[string]*compositeType{},
		unions:       map[string][]string{},
		inputs:       map[string]map[string]int{},
		leaves:       map[string]bool{},
		query:        "Query",
		mutation:     "Mutation",
		subscription: "Subscription",
	}
	for _, s := range builtinScalars {
		ix.leaves[s] = true
	}
	doc := d.doc
	for _, n := range doc.RootNodes {
		switch n.Kind {
		case ast.NodeKindObjectTypeDefinition:
			ix.addComposite(d, ix.objects, &doc.ObjectTypeDefinitions[n.Ref])
		case ast.NodeKindObjectTypeExtension:
			ix.addComposite(d, ix.objects, &doc.ObjectTypeExtensions[n.Ref].ObjectTypeDefinition)
		case ast.NodeKindInterfaceTypeDefinition:
			def := doc.InterfaceTypeDefinitions[n.Ref]
			ix.addComposite(d, ix.interfaces, interfaceAsObject(&def))
		case ast.NodeKindInterfaceTypeExtension:
			def := doc.InterfaceTypeExtensions[n.Ref].InterfaceTypeDefinition
			ix.addComposite(d, ix.interfaces, interfaceAsObject(&def))
		case ast.NodeKindUnionTypeDefinition:
			ix.addUnion(d, &doc.UnionTypeDefinitions[n.Ref])
		case ast.NodeKindUnionTypeExtension:
			ix.addUnion(d, &doc.UnionTypeExtensions[n.Ref].UnionTypeDefinition)
		case ast.NodeKindInputObjectTypeDefinition:
			ix.addInput(d, &doc.InputObjectTypeDefinitions[n.Ref])
		case ast.NodeKindInputObjectTypeExtension:
			ix.addInput(d, &doc.InputObjectTypeExtensions[n.Ref].InputObjectTypeDefinition)
		case ast.NodeKindEnumTypeDefinition:
			ix.leaves[d.text(doc.EnumTypeDefinitions[n.Ref].Name)] = true
		case ast.NodeKindEnumTypeExtension:
			ix.leaves[d.text(doc.EnumTypeExtensions[n.Ref].Name)] = true
		case ast.NodeKindScalarTypeDefinition:
			ix.leaves[d.text(doc.ScalarTypeDefinitions[n.Ref].Name)] = true
		case ast.NodeKindScalarTypeExtension:
			ix.leaves[d.text(doc.ScalarTypeExtensions[n.Ref].Name)] = true
		case ast.NodeKindSchemaDefinition:
			ix.addRoots(d, doc.SchemaDefinitions[n.Ref].RootOperationTypeDefinitions)
		case ast.NodeKindSchemaExtension:
			ix.addRoots(d, doc.SchemaExtensions[n.Ref].RootOperationTypeDefinitions)
		}
	}
	return ix
}

// interfaceAsObject views an interface through the fields both kinds share.
func interfaceAsObject(def *ast.InterfaceTypeDefinition) *ast.ObjectTypeDefinition {
	return &ast.ObjectTypeDefinition{
		Name:                 def.Name,
		ImplementsInterfaces: def.ImplementsInterfaces,
		Directives:           def.Directives,
		FieldsDefinition:     def.FieldsDefinition,
	}
}

func (ix *typeIndex) addComposite(d *sdlDoc, into map[string]*compositeType, def *ast.ObjectTypeDefinition) {
	name := d.text(def.Name)
	ct := into[name]
	if ct == nil {
		ct = &compositeType{name: name, line: d.lineAt(int(def.Name.Start)), fields: map[string]int{}}
		into[name] = ct
	}
	for _, ref := range def.Directives.Refs {
		switch d.directiveName(ref) {
		case "key":
			ct.keys = append(ct.keys, ref)
		case "external":
			ct.external = true
		}
	}
	for _, ref := range def.FieldsDefinition.Refs {
		ct.fields[d.fieldName(ref)] = ref
	}
	for _, t := range def.ImplementsInterfaces.Refs {
		ct.implements = append(ct.implements, d.namedType(t))
	}
}

func (ix *typeIndex) addUnion(d *sdlDoc, def *ast.UnionTypeDefinition) {
	name := d.text(def.Name)
	members := ix.unions[name]
	if members == nil {
		members = []string{}
	}
	for _, t := range def.UnionMemberTypes.Refs {
		members = append(members, d.namedType(t))
	}
	ix.unions[name] = members
}

func (ix *typeIndex) addInput(d *sdlDoc, def *ast.InputObjectTypeDefinition) {
	name := d.text(def.Name)
	fields := ix.inputs[name]
	if fields == nil {
		fields = map[string]int{}
		ix.inputs[name] = fields
	}
	for _, ref := range def.InputFieldsDefinition.Refs {
		fields[d.text(d.doc.InputValueDefinitions[ref].Name)] = ref
	}
}

func (ix *typeIndex) addRoots(d *sdlDoc, list ast.RootOperationTypeDefinitionList) {
	for _, ref := range list.Refs {
		rot := d.doc.RootOperationTypeDefinitions[ref]
		name := d.text(rot.NamedType.Name)
		switch rot.OperationType {
		case ast.OperationTypeQuery:
			ix.query = name
		case ast.OperationTypeMutation:
			ix.mutation = name
		case ast.OperationTypeSubscription:
			ix.subscription = name
		}
	}
}

// isEntity reports whether the object type has at least one @key.
func (ix *typeIndex) isEntity(name string) bool {
	o := ix.objects[name]
	return o != nil && len(o.keys) > 0
}

// implementors returns the object types implementing interface name, sorted.
func (ix *typeIndex) implementors(name string) []string {
	var out []string
	for _, o := range ix.objects {
		for _, i := range o.implements {
			if i == name {
				out = append(out, o.name)
				break
			}
		}
	}
	sort.Strings(out)
	return out
}

// entityProblem explains why a subscribe or request field returning named type name cannot
// be resolved from events, or returns "" when it can.
func (ix *typeIndex) entityProblem(name string) string {
	const want = "an event field must return an entity (an object type with @key), a list of entities, or a union or interface of entities"
	switch {
	case ix.objects[name] != nil:
		if ix.isEntity(name) {
			return ""
		}
		return fmt.Sprintf("%s has no @key; %s", name, want)
	case ix.unions[name] != nil:
		var bad []string
		for _, m := range ix.unions[name] {
			if !ix.isEntity(m) {
				bad = append(bad, m)
			}
		}
		if len(ix.unions[name]) == 0 {
			return fmt.Sprintf("union %s has no members in this subgraph; %s", name, want)
		}
		if len(bad) > 0 {
			return fmt.Sprintf("union %s has members that are not entities (%s); %s", name, strings.Join(bad, ", "), want)
		}
		return ""
	case ix.interfaces[name] != nil:
		if len(ix.interfaces[name].keys) > 0 {
			return ""
		}
		impls := ix.implementors(name)
		if len(impls) == 0 {
			return fmt.Sprintf("interface %s has no @key and no implementing types in this subgraph; %s", name, want)
		}
		var bad []string
		for _, m := range impls {
			if !ix.isEntity(m) {
				bad = append(bad, m)
			}
		}
		if len(bad) > 0 {
			return fmt.Sprintf("interface %s is implemented by types that are not entities (%s); %s", name, strings.Join(bad, ", "), want)
		}
		return ""
	case ix.leaves[name]:
		return fmt.Sprintf("%s is a scalar or enum; %s", name, want)
	case ix.inputs[name] != nil:
		return fmt.Sprintf("%s is an input type; %s", name, want)
	}
	return fmt.Sprintf("type %s is not defined in this subgraph; %s", name, want)
}
