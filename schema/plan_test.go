package schema_test

import (
	"slices"
	"testing"

	"github.com/edgate/edgate/directives"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
)

func TestBuild_PlansAQueryAcrossTwoSubgraphsAsTwoFetches(t *testing.T) {
	s, _ := build(t, mainGraph(t))

	p := planOperation(t, s, `query Staff { employees { id name products { upc } } }`)
	got := fetchedDataSources(t, p)
	if !slices.Equal(got, []string{"employees", "products"}) {
		t.Fatalf("fetches go to %v, want [employees products]", got)
	}
	// A second operation plans on its own planner and sees the same configuration.
	p = planOperation(t, s, `query One { employee(id: 1) { name details { forename } } }`)
	if got := fetchedDataSources(t, p); !slices.Equal(got, []string{"employees"}) {
		t.Fatalf("fetches go to %v, want [employees]", got)
	}
}

func TestBuild_IntrospectionQueriesPlanOnTheIntrospectionDataSource(t *testing.T) {
	s, _ := build(t, mainGraph(t))

	p := planOperation(t, s, `query Intro { __schema { queryType { name } } __type(name: "Employee") { name } }`)
	got := fetchedDataSources(t, p)
	if len(got) != 2 || slices.Contains(got, "employees") {
		t.Fatalf("introspection fetches go to %v, want two introspection fetches and none to employees", got)
	}
}

func TestBuild_SubscriptionFilterOfABindingReachesThePlan(t *testing.T) {
	shared := mainGraph(t)
	sg := *shared
	sg.Bindings = slices.Clone(shared.Bindings)
	// As @openfed__subscriptionFilter(condition: { IN: { fieldPath: "id", values: ["{{ args.id }}", 42] } })
	// parses: values are JSON literals.
	sg.Bindings[0].Filter = &directives.Filter{In: &directives.FilterIn{
		FieldPath: []string{"id"},
		Values:    []string{`"{{ args.id }}"`, `42`},
	}}
	s, _ := build(t, &sg)

	fc := s.Plan.Fields.ForTypeField("Subscription", "employeeUpdated")
	if fc == nil || fc.SubscriptionFilterCondition == nil || fc.SubscriptionFilterCondition.In == nil {
		t.Fatalf("field configuration has no filter: %+v", fc)
	}
	if got := fc.SubscriptionFilterCondition.In.Values; !slices.Equal(got, []string{"{{ args.id }}", "42"}) {
		t.Errorf("engine filter values = %q, want the template bare and the number as written", got)
	}

	p := planOperation(t, s, `subscription Updated { employeeUpdated(id: 7) { id } }`)
	sub, ok := p.(*plan.SubscriptionResponsePlan)
	if !ok {
		t.Fatalf("plan is %T, want a subscription plan", p)
	}
	filter := sub.Response.Filter
	if filter == nil || filter.In == nil || !slices.Equal(filter.In.FieldPath, []string{"id"}) || len(filter.In.Values) != 2 {
		t.Fatalf("planned filter = %+v", filter)
	}
	if segs := filter.In.Values[0].Segments; len(segs) != 1 || segs[0].SegmentType != resolve.VariableSegmentType {
		t.Errorf("first value segments = %+v, want one variable segment", segs)
	}
	if segs := filter.In.Values[1].Segments; len(segs) != 1 || string(segs[0].Data) != "42" {
		t.Errorf("second value segments = %+v, want static 42", segs)
	}
}
