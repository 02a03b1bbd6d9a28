package schema

import (
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
)

// dataSourceMetadata tells the planner which fields a data source serves (root nodes:
// where a fetch may start; child nodes: fields reachable below them) and its federation
// facts. entityResolver=false marks every key as unusable for _entities fetches, which is
// what an event subgraph's resolvable:false keys mean.
func dataSourceMetadata(in *nodev1.DataSourceConfiguration, entityResolver bool) *plan.DataSourceMetadata {
	directives := make(plan.DirectiveConfigurations, 0, len(in.GetDirectives()))
	for _, d := range in.GetDirectives() {
		directives = append(directives, plan.DirectiveConfiguration{DirectiveName: d.GetDirectiveName(), RenameTo: d.GetDirectiveName()})
	}
	md := &plan.DataSourceMetadata{
		RootNodes:  typeFields(in.GetRootNodes()),
		ChildNodes: typeFields(in.GetChildNodes()),
		Directives: &directives,
	}
	for _, k := range in.GetKeys() {
		key := requiredField(k)
		key.DisableEntityResolver = k.GetDisableEntityResolver() || !entityResolver
		for _, c := range k.GetConditions() {
			cond := plan.KeyCondition{FieldPath: c.GetFieldPath()}
			for _, coord := range c.GetFieldCoordinatesPath() {
				cond.Coordinates = append(cond.Coordinates, plan.FieldCoordinate{TypeName: coord.GetTypeName(), FieldName: coord.GetFieldName()})
			}
			key.Conditions = append(key.Conditions, cond)
		}
		md.Keys = append(md.Keys, key)
	}
	for _, r := range in.GetRequires() {
		md.Requires = append(md.Requires, requiredField(r))
	}
	for _, p := range in.GetProvides() {
		md.Provides = append(md.Provides, requiredField(p))
	}
	for _, e := range in.GetEntityInterfaces() {
		md.EntityInterfaces = append(md.EntityInterfaces, plan.EntityInterfaceConfiguration{
			InterfaceTypeName: e.GetInterfaceTypeName(),
			ConcreteTypeNames: e.GetConcreteTypeNames(),
		})
	}
	for _, o := range in.GetInterfaceObjects() {
		md.InterfaceObjects = append(md.InterfaceObjects, plan.EntityInterfaceConfiguration{
			InterfaceTypeName: o.GetInterfaceTypeName(),
			ConcreteTypeNames: o.GetConcreteTypeNames(),
		})
	}
	return md
}

func typeFields(nodes []*nodev1.TypeField) plan.TypeFields {
	out := make(plan.TypeFields, 0, len(nodes))
	for _, n := range nodes {
		out = append(out, plan.TypeField{
			TypeName:           n.GetTypeName(),
			FieldNames:         n.GetFieldNames(),
			ExternalFieldNames: n.GetExternalFieldNames(),
			FetchReasonFields:  n.GetRequireFetchReasonsFieldNames(),
		})
	}
	return out
}

func requiredField(f *nodev1.RequiredField) plan.FederationFieldConfiguration {
	return plan.FederationFieldConfiguration{
		TypeName:     f.GetTypeName(),
		FieldName:    f.GetFieldName(),
		SelectionSet: f.GetSelectionSet(),
	}
}
