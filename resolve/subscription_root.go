package resolve

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// checkSubscriptionRoot enforces the spec's rule that a subscription's root field is not
// an introspection field (`subscription { __typename }` has no event to wait for), which
// the engine's validator leaves to the planner, where it fails as an internal error. The
// message is graphql-js's. doc is normalized: fragments are inlined.
func checkSubscriptionRoot(doc *ast.Document) error {
	for _, node := range doc.RootNodes {
		if node.Kind != ast.NodeKindOperationDefinition {
			continue
		}
		op := doc.OperationDefinitions[node.Ref]
		if op.OperationType != ast.OperationTypeSubscription || !op.HasSelections {
			continue
		}
		if ref, found := introspectionRootField(doc, op.SelectionSet); found {
			name := "Anonymous Subscription"
			if n := doc.OperationDefinitionNameString(node.Ref); n != "" {
				name = fmt.Sprintf("Subscription %q", n)
			}
			e := GraphQLError{Message: name + " must not select an introspection top level field."}
			pos := doc.Fields[ref].Position
			if pos.LineStart > 0 {
				e.Locations = []Location{{Line: int(pos.LineStart), Column: int(pos.CharStart)}}
			}
			return &RequestError{Errors: []GraphQLError{e}, Status: http.StatusBadRequest}
		}
	}
	return nil
}

func introspectionRootField(doc *ast.Document, set int) (int, bool) {
	for _, ref := range doc.SelectionSets[set].SelectionRefs {
		sel := doc.Selections[ref]
		switch sel.Kind {
		case ast.SelectionKindField:
			if strings.HasPrefix(doc.FieldNameString(sel.Ref), "__") {
				return sel.Ref, true
			}
		case ast.SelectionKindInlineFragment:
			if f := doc.InlineFragments[sel.Ref]; f.HasSelections {
				if r, ok := introspectionRootField(doc, f.SelectionSet); ok {
					return r, true
				}
			}
		}
	}
	return 0, false
}
