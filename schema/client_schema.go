package schema

import (
	"fmt"
	"slices"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astprinter"
)

// The composer's client schema still holds what only the gateway needs: the definitions of
// federation and composition directives (@authenticated, @requiresScopes, ...) with their
// argument types (openfed__Scope). Introspection, validation and `edgate -print-schema`
// use the schema without them, the one clients are meant to see.

// internalDirectives are the federation, composition and gateway directives that never
// reach clients, whatever subgraph declared them.
var internalDirectives = []string{
	"authenticated", "requiresScopes", "policy", "inaccessible", "tag",
	"key", "external", "requires", "provides", "extends", "shareable", "override",
	"link", "composeDirective", "interfaceObject", "context", "fromContext",
	"cost", "listSize", "configureDescription", "semanticNonNull",
}

// internalPrefixes name the namespaces of federation (join__, link__, federation__),
// Cosmo composition (openfed__) and event directives (edfs__). A directive so named is
// always internal; a type so named is dropped unless the client schema uses it, as it uses
// edfs__PublishResult, the return type of publish fields.
var internalPrefixes = []string{"join__", "link__", "federation__", "openfed__", "edfs__"}

func isInternalDirective(name string) bool {
	return slices.Contains(internalDirectives, name) || hasInternalPrefix(name)
}

func hasInternalPrefix(name string) bool {
	for _, p := range internalPrefixes {
		if strings.HasPrefix(name, p) {
			return true
		}
	}
	return false
}

// clientSchema returns sdl without internal directive definitions and usages, and without
// internal types that nothing else in it refers to.
func clientSchema(sdl string) (string, error) {
	doc, report := astparser.ParseGraphqlDocumentString(sdl)
	if report.HasErrors() {
		return "", fmt.Errorf("parse: %w", report)
	}
	stripDirectiveUsages(&doc)

	// Types kept for sure: every type without an internal prefix. Internal-prefixed types
	// are kept only when reachable from those (or from a kept directive's arguments).
	byName := map[string]ast.Node{}
	for _, n := range doc.RootNodes {
		if name := typeName(&doc, n); name != "" {
			byName[name] = n
		}
	}
	used := map[string]bool{}
	var use func(name string)
	use = func(name string) {
		if used[name] {
			return
		}
		used[name] = true
		if n, ok := byName[name]; ok {
			for _, ref := range referencedTypes(&doc, n) {
				use(ref)
			}
		}
	}
	for _, n := range doc.RootNodes {
		switch {
		case n.Kind == ast.NodeKindDirectiveDefinition:
			if !isInternalDirective(doc.DirectiveDefinitionNameString(n.Ref)) {
				for _, ref := range doc.DirectiveDefinitions[n.Ref].ArgumentsDefinition.Refs {
					use(doc.ResolveTypeNameString(doc.InputValueDefinitions[ref].Type))
				}
			}
		case n.Kind == ast.NodeKindSchemaDefinition:
			for _, ref := range doc.SchemaDefinitions[n.Ref].RootOperationTypeDefinitions.Refs {
				use(doc.Input.ByteSliceString(doc.RootOperationTypeDefinitions[ref].NamedType.Name))
			}
		default:
			if name := typeName(&doc, n); name != "" && !hasInternalPrefix(name) {
				use(name)
			}
		}
	}
	kept := doc.RootNodes[:0]
	for _, n := range doc.RootNodes {
		if n.Kind == ast.NodeKindDirectiveDefinition && isInternalDirective(doc.DirectiveDefinitionNameString(n.Ref)) {
			continue
		}
		if name := typeName(&doc, n); name != "" && !used[name] {
			continue
		}
		kept = append(kept, n)
	}
	doc.RootNodes = kept
	out, err := astprinter.PrintStringIndent(&doc, "  ")
	if err != nil {
		return "", fmt.Errorf("print: %w", err)
	}
	return out, nil
}

// typeName is the name of a type definition or extension node, "" for other nodes.
func typeName(doc *ast.Document, n ast.Node) string {
	switch n.Kind {
	case ast.NodeKindObjectTypeDefinition, ast.NodeKindInterfaceTypeDefinition, ast.NodeKindUnionTypeDefinition,
		ast.NodeKindEnumTypeDefinition, ast.NodeKindScalarTypeDefinition, ast.NodeKindInputObjectTypeDefinition,
		ast.NodeKindObjectTypeExtension, ast.NodeKindInterfaceTypeExtension, ast.NodeKindUnionTypeExtension,
		ast.NodeKindEnumTypeExtension, ast.NodeKindScalarTypeExtension, ast.NodeKindInputObjectTypeExtension:
		return n.NameString(doc)
	}
	return ""
}

// referencedTypes lists the named types a type definition refers to: field, argument and
// input field types, implemented interfaces and union members.
func referencedTypes(doc *ast.Document, n ast.Node) []string {
	var out []string
	fields := func(refs []int) {
		for _, f := range refs {
			out = append(out, doc.ResolveTypeNameString(doc.FieldDefinitions[f].Type))
			for _, a := range doc.FieldDefinitions[f].ArgumentsDefinition.Refs {
				out = append(out, doc.ResolveTypeNameString(doc.InputValueDefinitions[a].Type))
			}
		}
	}
	types := func(refs []int) {
		for _, t := range refs {
			out = append(out, doc.ResolveTypeNameString(t))
		}
	}
	switch n.Kind {
	case ast.NodeKindObjectTypeDefinition:
		fields(doc.ObjectTypeDefinitions[n.Ref].FieldsDefinition.Refs)
		types(doc.ObjectTypeDefinitions[n.Ref].ImplementsInterfaces.Refs)
	case ast.NodeKindInterfaceTypeDefinition:
		fields(doc.InterfaceTypeDefinitions[n.Ref].FieldsDefinition.Refs)
		types(doc.InterfaceTypeDefinitions[n.Ref].ImplementsInterfaces.Refs)
	case ast.NodeKindUnionTypeDefinition:
		types(doc.UnionTypeDefinitions[n.Ref].UnionMemberTypes.Refs)
	case ast.NodeKindInputObjectTypeDefinition:
		for _, f := range doc.InputObjectTypeDefinitions[n.Ref].InputFieldsDefinition.Refs {
			out = append(out, doc.ResolveTypeNameString(doc.InputValueDefinitions[f].Type))
		}
	}
	return out
}

// stripDirectiveUsages removes every use of an internal directive from the definitions
// (the composer's client schema keeps @authenticated and @requiresScopes on fields).
func stripDirectiveUsages(doc *ast.Document) {
	strip := func(list *ast.DirectiveList, has *bool) {
		kept := list.Refs[:0]
		for _, ref := range list.Refs {
			if !isInternalDirective(doc.DirectiveNameString(ref)) {
				kept = append(kept, ref)
			}
		}
		list.Refs = kept
		if has != nil {
			*has = len(kept) > 0
		}
	}
	for i := range doc.ObjectTypeDefinitions {
		strip(&doc.ObjectTypeDefinitions[i].Directives, &doc.ObjectTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.InterfaceTypeDefinitions {
		strip(&doc.InterfaceTypeDefinitions[i].Directives, &doc.InterfaceTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.UnionTypeDefinitions {
		strip(&doc.UnionTypeDefinitions[i].Directives, &doc.UnionTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.EnumTypeDefinitions {
		strip(&doc.EnumTypeDefinitions[i].Directives, &doc.EnumTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.EnumValueDefinitions {
		strip(&doc.EnumValueDefinitions[i].Directives, &doc.EnumValueDefinitions[i].HasDirectives)
	}
	for i := range doc.ScalarTypeDefinitions {
		strip(&doc.ScalarTypeDefinitions[i].Directives, &doc.ScalarTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.InputObjectTypeDefinitions {
		strip(&doc.InputObjectTypeDefinitions[i].Directives, &doc.InputObjectTypeDefinitions[i].HasDirectives)
	}
	for i := range doc.FieldDefinitions {
		strip(&doc.FieldDefinitions[i].Directives, &doc.FieldDefinitions[i].HasDirectives)
	}
	for i := range doc.InputValueDefinitions {
		strip(&doc.InputValueDefinitions[i].Directives, &doc.InputValueDefinitions[i].HasDirectives)
	}
	for i := range doc.SchemaDefinitions {
		strip(&doc.SchemaDefinitions[i].Directives, &doc.SchemaDefinitions[i].HasDirectives)
	}
}
