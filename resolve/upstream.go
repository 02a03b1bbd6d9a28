package resolve

import "errors"

// startUpstream starts a subscription that a subgraph serves itself.
func (g *group) startUpstream([]byte) error {
	return &RequestError{Errors: []GraphQLError{{Message: "subscriptions served by subgraphs are not enabled in this build"}}, Status: 501}
}

var _ = errors.New
