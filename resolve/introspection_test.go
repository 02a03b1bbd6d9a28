package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/rs/zerolog"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/astparser"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/schema"
)

// fullIntrospection is graphql-js's getIntrospectionQuery with every option a client such
// as GraphiQL turns on (descriptions, specifiedByURL, isRepeatable, schema description,
// deprecated arguments and input fields).
const fullIntrospection = `query IntrospectionQuery {
  __schema {
    description
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } }`

// The introspection of a composed graph is its client schema (e2e/fixtures/introspection/
// client-schema.graphql, written by hand): the same types and members, a description
// exactly where one was written and null elsewhere, deprecations, and nothing of
// federation or composition. e2e/introspection.test.mjs checks the same with graphql-js's
// buildClientSchema and printSchema.
func TestEngine_IntrospectionIsTheClientSchema(t *testing.T) {
	read := func(name string) string {
		b, err := os.ReadFile("../e2e/fixtures/introspection/" + name)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	super, err := schema.Compose([]schema.SubgraphSource{
		{Name: "catalog", RoutingURL: "http://127.0.0.1:1/graphql", SDL: read("catalog.graphql")},
		{Name: "events", SDL: read("events.graphql")},
	})
	if err != nil {
		t.Fatal(err)
	}
	reg := eventsource.NewRegistry(zerolog.Nop())
	if err := reg.Add(eventsource.NewMemory("nats/default")); err != nil {
		t.Fatal(err)
	}
	e, err := New(context.Background(), Options{Supergraph: super, Events: reg})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Shutdown(End{Code: EndShutdown}); _ = reg.Close() })

	op, err := e.Prepare(context.Background(), &Request{Query: fullIntrospection})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := e.Execute(context.Background(), op, &out); err != nil {
		t.Fatal(err)
	}
	var resp struct {
		Data struct {
			Schema introspectedSchema `json:"__schema"`
		} `json:"data"`
		Errors []GraphQLError `json:"errors"`
	}
	if err := json.Unmarshal(out.Bytes(), &resp); err != nil || len(resp.Errors) > 0 {
		t.Fatalf("introspection: %v %+v\n%s", err, resp.Errors, out.Bytes())
	}
	got := resp.Data.Schema.members()

	doc, report := astparser.ParseGraphqlDocumentString(read("client-schema.graphql"))
	if report.HasErrors() {
		t.Fatal(report.Error())
	}
	want := sdlMembers(&doc)
	if !slices.Equal(got, want) {
		t.Errorf("introspection differs from client-schema.graphql\n got: %s\nwant: %s", strings.Join(got, "\n      "), strings.Join(want, "\n      "))
	}

	s := resp.Data.Schema
	if s.QueryType.Name != "Query" || s.MutationType.Name != "Mutation" || s.SubscriptionType.Name != "Subscription" {
		t.Errorf("root types %+v %+v %+v", s.QueryType, s.MutationType, s.SubscriptionType)
	}
	builtin := []string{"deprecated", "include", "skip", "specifiedBy", "oneOf", "defer", "stream"}
	for _, d := range s.Directives {
		if !slices.Contains(builtin, d.Name) {
			t.Errorf("directive @%s reaches clients", d.Name)
		}
	}
	if strings.Contains(out.String(), `"description":""`) {
		t.Error(`an unwritten description is "" instead of null`)
	}

	// __type answers from the same data; without includeDeprecated, sku (deprecated) is left out.
	op, err = e.Prepare(context.Background(), &Request{Query: `{ p: __type(name: "Product") { name description fields { name description } } s: __type(name: "openfed__Scope") { name } }`})
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if err := e.Execute(context.Background(), op, &out); err != nil {
		t.Fatal(err)
	}
	want1 := `{"data":{"p":{"name":"Product","description":"A product of the catalog.","fields":[{"name":"id","description":null},{"name":"name","description":"The name shown to customers."},{"name":"price","description":null},{"name":"stage","description":null},{"name":"cost","description":null},{"name":"tags","description":null}]},"s":null}}`
	if out.String() != want1 {
		t.Errorf("__type\n got %s\nwant %s", out.String(), want1)
	}
}

type introspectedSchema struct {
	QueryType, MutationType, SubscriptionType struct{ Name string }
	Types                                     []struct {
		Kind, Name  string
		Description *string
		Fields      []struct {
			Name              string
			Description       *string
			Args              []introspectedInput
			IsDeprecated      bool
			DeprecationReason *string
		}
		InputFields []introspectedInput
		EnumValues  []struct {
			Name              string
			Description       *string
			IsDeprecated      bool
			DeprecationReason *string
		}
		Interfaces, PossibleTypes []struct{ Name string }
	}
	Directives []struct{ Name string }
}

type introspectedInput struct {
	Name              string
	Description       *string
	DefaultValue      *string
	IsDeprecated      bool
	DeprecationReason *string
}

func member(path string, description *string, deprecated *string, extra string) string {
	s := path
	if description != nil {
		s += fmt.Sprintf(" %q", *description)
	} else {
		s += " null"
	}
	if deprecated != nil {
		s += fmt.Sprintf(" deprecated(%q)", *deprecated)
	}
	return s + extra
}

// members lists every user-defined type and member with its description, deprecation,
// default value, interfaces and possible types, sorted.
func (s introspectedSchema) members() []string {
	var out []string
	for _, t := range s.Types {
		if strings.HasPrefix(t.Name, "__") || slices.Contains([]string{"String", "Int", "Float", "Boolean", "ID"}, t.Name) {
			continue
		}
		var rel []string
		for _, i := range t.Interfaces {
			rel = append(rel, "implements "+i.Name)
		}
		for _, p := range t.PossibleTypes {
			rel = append(rel, "has "+p.Name)
		}
		sort.Strings(rel)
		out = append(out, member(t.Kind+" "+t.Name, t.Description, nil, strings.Join(append([]string{""}, rel...), " ")))
		for _, f := range t.Fields {
			var dep *string
			if f.IsDeprecated {
				dep = f.DeprecationReason
			}
			out = append(out, member(t.Name+"."+f.Name, f.Description, dep, ""))
			for _, a := range f.Args {
				out = append(out, inputMember(t.Name+"."+f.Name+"("+a.Name+")", a))
			}
		}
		for _, f := range t.InputFields {
			out = append(out, inputMember(t.Name+"."+f.Name, f))
		}
		for _, v := range t.EnumValues {
			var dep *string
			if v.IsDeprecated {
				dep = v.DeprecationReason
			}
			out = append(out, member(t.Name+"."+v.Name, v.Description, dep, ""))
		}
	}
	sort.Strings(out)
	return out
}

func inputMember(path string, in introspectedInput) string {
	var dep *string
	if in.IsDeprecated {
		dep = in.DeprecationReason
	}
	extra := ""
	if in.DefaultValue != nil {
		extra = " = " + *in.DefaultValue
	}
	return member(path, in.Description, dep, extra)
}

// sdlMembers lists the same for an SDL document.
func sdlMembers(doc *ast.Document) []string {
	desc := func(d ast.Description) *string {
		if !d.IsDefined {
			return nil
		}
		s := strings.TrimSpace(doc.Input.ByteSliceString(d.Content))
		return &s
	}
	deprecated := func(list ast.DirectiveList) *string {
		for _, ref := range list.Refs {
			if doc.DirectiveNameString(ref) == "deprecated" {
				if v, ok := doc.DirectiveArgumentValueByName(ref, []byte("reason")); ok {
					s := doc.ValueContentString(v)
					return &s
				}
				s := "No longer supported"
				return &s
			}
		}
		return nil
	}
	var out []string
	input := func(path string, ref int) {
		iv := doc.InputValueDefinitions[ref]
		extra := ""
		if iv.DefaultValue.IsDefined {
			v, _ := doc.PrintValueBytes(iv.DefaultValue.Value, nil)
			extra = " = " + string(v)
		}
		out = append(out, member(path, desc(iv.Description), deprecated(iv.Directives), extra))
	}
	fields := func(typeName string, refs []int) {
		for _, f := range refs {
			fd := doc.FieldDefinitions[f]
			name := doc.FieldDefinitionNameString(f)
			out = append(out, member(typeName+"."+name, desc(fd.Description), deprecated(fd.Directives), ""))
			for _, a := range fd.ArgumentsDefinition.Refs {
				input(typeName+"."+name+"("+doc.InputValueDefinitionNameString(a)+")", a)
			}
		}
	}
	implementers := func(iface string) []string {
		var rel []string
		for i := range doc.ObjectTypeDefinitions {
			for _, t := range doc.ObjectTypeDefinitions[i].ImplementsInterfaces.Refs {
				if doc.TypeNameString(t) == iface {
					rel = append(rel, "has "+doc.ObjectTypeDefinitionNameString(i))
				}
			}
		}
		return rel
	}
	typeLine := func(kind, name string, d ast.Description, rel []string) {
		sort.Strings(rel)
		out = append(out, member(kind+" "+name, desc(d), nil, strings.Join(append([]string{""}, rel...), " ")))
	}
	for _, n := range doc.RootNodes {
		switch n.Kind {
		case ast.NodeKindObjectTypeDefinition:
			o := doc.ObjectTypeDefinitions[n.Ref]
			name := doc.ObjectTypeDefinitionNameString(n.Ref)
			var rel []string
			for _, t := range o.ImplementsInterfaces.Refs {
				rel = append(rel, "implements "+doc.TypeNameString(t))
			}
			typeLine("OBJECT", name, o.Description, rel)
			fields(name, o.FieldsDefinition.Refs)
		case ast.NodeKindInterfaceTypeDefinition:
			i := doc.InterfaceTypeDefinitions[n.Ref]
			name := doc.InterfaceTypeDefinitionNameString(n.Ref)
			typeLine("INTERFACE", name, i.Description, implementers(name))
			fields(name, i.FieldsDefinition.Refs)
		case ast.NodeKindUnionTypeDefinition:
			u := doc.UnionTypeDefinitions[n.Ref]
			var rel []string
			for _, t := range u.UnionMemberTypes.Refs {
				rel = append(rel, "has "+doc.TypeNameString(t))
			}
			typeLine("UNION", doc.UnionTypeDefinitionNameString(n.Ref), u.Description, rel)
		case ast.NodeKindEnumTypeDefinition:
			en := doc.EnumTypeDefinitions[n.Ref]
			name := doc.EnumTypeDefinitionNameString(n.Ref)
			typeLine("ENUM", name, en.Description, nil)
			for _, v := range en.EnumValuesDefinition.Refs {
				ev := doc.EnumValueDefinitions[v]
				out = append(out, member(name+"."+doc.EnumValueDefinitionNameString(v), desc(ev.Description), deprecated(ev.Directives), ""))
			}
		case ast.NodeKindScalarTypeDefinition:
			typeLine("SCALAR", doc.ScalarTypeDefinitionNameString(n.Ref), doc.ScalarTypeDefinitions[n.Ref].Description, nil)
		case ast.NodeKindInputObjectTypeDefinition:
			in := doc.InputObjectTypeDefinitions[n.Ref]
			name := doc.InputObjectTypeDefinitionNameString(n.Ref)
			typeLine("INPUT_OBJECT", name, in.Description, nil)
			for _, f := range in.InputFieldsDefinition.Refs {
				input(name+"."+doc.InputValueDefinitionNameString(f), f)
			}
		}
	}
	sort.Strings(out)
	return out
}
