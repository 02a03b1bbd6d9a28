package minigraph

import (
	"fmt"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
)

type typeKind int

const (
	kindScalar typeKind = iota
	kindObject
	kindInterface
	kindUnion
	kindEnum
	kindInput
)

// schema is the part of a subgraph SDL the executor needs: types, fields, arguments and
// which object types belong to which abstract type. Root types are always named Query,
// Mutation and Subscription (subgraphs here never rename them).
type schema struct {
	types map[string]*typeDef
}

type typeDef struct {
	name       string
	kind       typeKind
	fields     map[string]*fieldDef // object and interface fields, input object fields
	interfaces []string
	members    map[string]bool // union members; for interfaces filled from implementors
	enumValues map[string]bool
	entity     bool // has a resolvable @key: a member of _Entity
}

type fieldDef struct {
	name string
	typ  *typeRef
	args []*argDef
}

type argDef struct {
	name       string
	typ        *typeRef
	hasDefault bool
	def        any
}

// typeRef is a GraphQL type reference: exactly one of name or elem is set.
type typeRef struct {
	name    string
	elem    *typeRef
	nonNull bool
}

func (t *typeRef) named() string {
	for t.elem != nil {
		t = t.elem
	}
	return t.name
}

func (t *typeRef) String() string {
	s := t.name
	if t.elem != nil {
		s = "[" + t.elem.String() + "]"
	}
	if t.nonNull {
		s += "!"
	}
	return s
}

func (f *fieldDef) arg(name string) *argDef {
	for _, a := range f.args {
		if a.name == name {
			return a
		}
	}
	return nil
}

// parseSchema reads a subgraph SDL and adds the Federation entry points every subgraph
// serves: Query._entities, Query._service and their types.
func parseSchema(sdl string) (*schema, error) {
	doc, report := astparser.ParseGraphqlDocumentString(sdl)
	if report.HasErrors() {
		return nil, fmt.Errorf("parse subgraph SDL: %s", report.Error())
	}
	s := &schema{types: map[string]*typeDef{}}
	for _, name := range []string{"Int", "Float", "String", "Boolean", "ID", "_Any", "FieldSet", "link__Import", "federation__FieldSet"} {
		s.types[name] = &typeDef{name: name, kind: kindScalar}
	}
	get := func(name string, kind typeKind) (*typeDef, error) {
		t, ok := s.types[name]
		if !ok {
			t = &typeDef{name: name, kind: kind, fields: map[string]*fieldDef{}, members: map[string]bool{}, enumValues: map[string]bool{}}
			s.types[name] = t
		}
		if t.kind != kind {
			return nil, fmt.Errorf("type %s is declared as two different kinds", name)
		}
		return t, nil
	}
	for _, node := range doc.RootNodes {
		var err error
		switch node.Kind {
		case ast.NodeKindObjectTypeDefinition:
			err = s.addObject(&doc, doc.ObjectTypeDefinitions[node.Ref], kindObject, get)
		case ast.NodeKindObjectTypeExtension:
			err = s.addObject(&doc, doc.ObjectTypeExtensions[node.Ref].ObjectTypeDefinition, kindObject, get)
		case ast.NodeKindInterfaceTypeDefinition:
			d := doc.InterfaceTypeDefinitions[node.Ref]
			err = s.addObject(&doc, ast.ObjectTypeDefinition{Name: d.Name, ImplementsInterfaces: d.ImplementsInterfaces, Directives: d.Directives, FieldsDefinition: d.FieldsDefinition}, kindInterface, get)
		case ast.NodeKindInterfaceTypeExtension:
			d := doc.InterfaceTypeExtensions[node.Ref].InterfaceTypeDefinition
			err = s.addObject(&doc, ast.ObjectTypeDefinition{Name: d.Name, ImplementsInterfaces: d.ImplementsInterfaces, Directives: d.Directives, FieldsDefinition: d.FieldsDefinition}, kindInterface, get)
		case ast.NodeKindUnionTypeDefinition, ast.NodeKindUnionTypeExtension:
			d := unionAt(&doc, node)
			var t *typeDef
			if t, err = get(doc.Input.ByteSliceString(d.Name), kindUnion); err == nil {
				for _, ref := range d.UnionMemberTypes.Refs {
					t.members[doc.TypeNameString(ref)] = true
				}
			}
		case ast.NodeKindEnumTypeDefinition, ast.NodeKindEnumTypeExtension:
			d := enumAt(&doc, node)
			var t *typeDef
			if t, err = get(doc.Input.ByteSliceString(d.Name), kindEnum); err == nil {
				for _, ref := range d.EnumValuesDefinition.Refs {
					t.enumValues[doc.EnumValueDefinitionNameString(ref)] = true
				}
			}
		case ast.NodeKindInputObjectTypeDefinition, ast.NodeKindInputObjectTypeExtension:
			d := inputAt(&doc, node)
			var t *typeDef
			if t, err = get(doc.Input.ByteSliceString(d.Name), kindInput); err == nil {
				for _, ref := range d.InputFieldsDefinition.Refs {
					var a *argDef
					if a, err = inputValue(&doc, ref); err != nil {
						break
					}
					t.fields[a.name] = &fieldDef{name: a.name, typ: a.typ, args: []*argDef{a}}
				}
			}
		case ast.NodeKindScalarTypeDefinition:
			_, err = get(doc.ScalarTypeDefinitionNameString(node.Ref), kindScalar)
		}
		if err != nil {
			return nil, err
		}
	}
	if err := s.addFederation(); err != nil {
		return nil, err
	}
	for _, t := range s.types {
		if t.kind != kindObject {
			continue
		}
		for _, iface := range t.interfaces {
			it, ok := s.types[iface]
			if !ok || it.kind != kindInterface {
				return nil, fmt.Errorf("type %s implements unknown interface %s", t.name, iface)
			}
			it.members[t.name] = true
		}
	}
	for _, t := range s.types {
		for _, f := range t.fields {
			if _, ok := s.types[f.typ.named()]; !ok {
				return nil, fmt.Errorf("field %s.%s has unknown type %s", t.name, f.name, f.typ.named())
			}
		}
	}
	return s, nil
}

func unionAt(doc *ast.Document, node ast.Node) ast.UnionTypeDefinition {
	if node.Kind == ast.NodeKindUnionTypeExtension {
		return doc.UnionTypeExtensions[node.Ref].UnionTypeDefinition
	}
	return doc.UnionTypeDefinitions[node.Ref]
}

func enumAt(doc *ast.Document, node ast.Node) ast.EnumTypeDefinition {
	if node.Kind == ast.NodeKindEnumTypeExtension {
		return doc.EnumTypeExtensions[node.Ref].EnumTypeDefinition
	}
	return doc.EnumTypeDefinitions[node.Ref]
}

func inputAt(doc *ast.Document, node ast.Node) ast.InputObjectTypeDefinition {
	if node.Kind == ast.NodeKindInputObjectTypeExtension {
		return doc.InputObjectTypeExtensions[node.Ref].InputObjectTypeDefinition
	}
	return doc.InputObjectTypeDefinitions[node.Ref]
}

func (s *schema) addObject(doc *ast.Document, d ast.ObjectTypeDefinition, kind typeKind, get func(string, typeKind) (*typeDef, error)) error {
	t, err := get(doc.Input.ByteSliceString(d.Name), kind)
	if err != nil {
		return err
	}
	for _, ref := range d.ImplementsInterfaces.Refs {
		t.interfaces = append(t.interfaces, doc.TypeNameString(ref))
	}
	for _, ref := range d.Directives.Refs {
		if doc.DirectiveNameString(ref) == "key" && keyResolvable(doc, ref) {
			t.entity = kind == kindObject
		}
	}
	for _, ref := range d.FieldsDefinition.Refs {
		f := &fieldDef{name: doc.FieldDefinitionNameString(ref), typ: convertType(doc, doc.FieldDefinitions[ref].Type)}
		for _, argRef := range doc.FieldDefinitions[ref].ArgumentsDefinition.Refs {
			a, err := inputValue(doc, argRef)
			if err != nil {
				return fmt.Errorf("field %s.%s: %w", t.name, f.name, err)
			}
			f.args = append(f.args, a)
		}
		t.fields[f.name] = f
	}
	return nil
}

func keyResolvable(doc *ast.Document, directiveRef int) bool {
	v, ok := doc.DirectiveArgumentValueByName(directiveRef, []byte("resolvable"))
	return !ok || v.Kind != ast.ValueKindBoolean || bool(doc.BooleanValue(v.Ref))
}

func inputValue(doc *ast.Document, ref int) (*argDef, error) {
	d := doc.InputValueDefinitions[ref]
	a := &argDef{name: doc.Input.ByteSliceString(d.Name), typ: convertType(doc, d.Type)}
	if d.DefaultValue.IsDefined {
		v, err := literalValue(doc, d.DefaultValue.Value)
		if err != nil {
			return nil, fmt.Errorf("default of %s: %w", a.name, err)
		}
		def, err := v.resolve(nil)
		if err != nil {
			return nil, fmt.Errorf("default of %s: %w", a.name, err)
		}
		a.hasDefault, a.def = true, def
	}
	return a, nil
}

func convertType(doc *ast.Document, ref int) *typeRef {
	t := doc.Types[ref]
	switch t.TypeKind {
	case ast.TypeKindNonNull:
		inner := convertType(doc, t.OfType)
		inner.nonNull = true
		return inner
	case ast.TypeKindList:
		return &typeRef{elem: convertType(doc, t.OfType)}
	default:
		return &typeRef{name: doc.Input.ByteSliceString(t.Name)}
	}
}

// addFederation declares the Federation v2 subgraph entry points. _Entity is left out of
// the schema when no type has a resolvable key, as the Federation spec asks.
func (s *schema) addFederation() error {
	s.types["_Service"] = &typeDef{name: "_Service", kind: kindObject, fields: map[string]*fieldDef{
		"sdl": {name: "sdl", typ: &typeRef{name: "String"}},
	}}
	query, ok := s.types["Query"]
	if !ok {
		query = &typeDef{name: "Query", kind: kindObject, fields: map[string]*fieldDef{}}
		s.types["Query"] = query
	}
	query.fields["_service"] = &fieldDef{name: "_service", typ: &typeRef{name: "_Service", nonNull: true}}
	entity := &typeDef{name: "_Entity", kind: kindUnion, members: map[string]bool{}}
	for _, t := range s.types {
		if t.entity {
			entity.members[t.name] = true
		}
	}
	if len(entity.members) == 0 {
		return nil
	}
	s.types["_Entity"] = entity
	query.fields["_entities"] = &fieldDef{
		name: "_entities",
		typ:  &typeRef{elem: &typeRef{name: "_Entity"}, nonNull: true},
		args: []*argDef{{name: "representations", typ: &typeRef{elem: &typeRef{name: "_Any", nonNull: true}, nonNull: true}}},
	}
	return nil
}

// possible reports whether an object of type typename is a valid runtime type for
// the (possibly abstract) type condition.
func (s *schema) possible(condition, typename string) bool {
	if condition == typename {
		return true
	}
	t, ok := s.types[condition]
	return ok && (t.kind == kindInterface || t.kind == kindUnion) && t.members[typename]
}
