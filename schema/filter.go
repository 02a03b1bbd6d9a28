package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/edgate/edgate/directives"
	nodev1 "github.com/wundergraph/cosmo/router/gen/proto/wg/cosmo/node/v1"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/argument_templates"
	"github.com/wundergraph/graphql-go-tools/v2/pkg/engine/plan"
)

// planFilter converts a binding's @openfed__subscriptionFilter condition into the engine's
// form. The engine compares each value's JSON bytes with the event's value, except that a
// value holding a {{ args.x }} template is rendered from the variable and compared by
// type; for that it wants the template bare, so a quoted template loses its quotes.
func planFilter(f *directives.Filter) (*plan.SubscriptionFilterCondition, error) {
	if f == nil {
		return nil, nil
	}
	out := &plan.SubscriptionFilterCondition{}
	switch {
	case len(f.And) > 0:
		for i := range f.And {
			c, err := planFilter(&f.And[i])
			if err != nil {
				return nil, err
			}
			out.And = append(out.And, *c)
		}
	case len(f.Or) > 0:
		for i := range f.Or {
			c, err := planFilter(&f.Or[i])
			if err != nil {
				return nil, err
			}
			out.Or = append(out.Or, *c)
		}
	case f.Not != nil:
		c, err := planFilter(f.Not)
		if err != nil {
			return nil, err
		}
		out.Not = c
	case f.In != nil:
		if len(f.In.FieldPath) == 0 {
			return nil, errors.New("IN condition without fieldPath")
		}
		in := &plan.SubscriptionFieldCondition{FieldPath: f.In.FieldPath}
		for _, v := range f.In.Values {
			in.Values = append(in.Values, engineFilterValue(v))
		}
		out.In = in
	default:
		return nil, errors.New("empty filter condition")
	}
	return out, nil
}

func engineFilterValue(v string) string {
	if !argument_templates.ContainsArgumentTemplateString([]byte(v)) {
		return v
	}
	if strings.HasPrefix(v, `"`) {
		var s string
		if err := json.Unmarshal([]byte(v), &s); err == nil {
			return s
		}
	}
	return v
}

// bindingFilter converts a filter condition of a Cosmo execution config (IN values as a
// JSON array) into the directives form (one JSON literal per value).
func bindingFilter(c *nodev1.SubscriptionFilterCondition) (*directives.Filter, error) {
	if c == nil {
		return nil, nil
	}
	out := &directives.Filter{}
	switch {
	case len(c.GetAnd()) > 0:
		for _, sub := range c.GetAnd() {
			f, err := bindingFilter(sub)
			if err != nil {
				return nil, err
			}
			out.And = append(out.And, *f)
		}
	case len(c.GetOr()) > 0:
		for _, sub := range c.GetOr() {
			f, err := bindingFilter(sub)
			if err != nil {
				return nil, err
			}
			out.Or = append(out.Or, *f)
		}
	case c.GetNot() != nil:
		f, err := bindingFilter(c.GetNot())
		if err != nil {
			return nil, err
		}
		out.Not = f
	case c.GetIn() != nil:
		var values []json.RawMessage
		if err := json.Unmarshal([]byte(c.GetIn().GetJson()), &values); err != nil {
			return nil, fmt.Errorf("IN values %q: %w", c.GetIn().GetJson(), err)
		}
		in := &directives.FilterIn{FieldPath: c.GetIn().GetFieldPath()}
		for _, v := range values {
			in.Values = append(in.Values, string(v))
		}
		out.In = in
	default:
		return nil, errors.New("empty filter condition")
	}
	return out, nil
}
