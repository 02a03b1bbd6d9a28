package resolve

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	engine "github.com/wundergraph/graphql-go-tools/v2/pkg/engine/resolve"
)

// An operation with side effects (a publish, a request to a service) is checked in full
// before the first of them happens: parsing, validation and the variables are checked by
// Prepare, and checkSideEffects renders the subject of every publish and request field and
// authorizes the client for it. A response error therefore never follows a publish that
// the same operation caused, and a client that retries a failed operation does not
// publish twice. (What a broker or subgraph answers at run time is another matter: a
// publish the broker refuses is success: false, a request nobody answers an error.)

// sideEffect is a fetch data source that acts on a broker when it loads.
type sideEffect interface {
	// check renders and authorizes what the fetch would do with input, without doing it;
	// nil means the fetch may run.
	check(ctx context.Context, input []byte) *GraphQLError
	// responseKey is the root field's alias or name: the path of its errors.
	responseKey() string
}

// checkSideEffects checks every side-effecting fetch of the response plan. It returns nil
// when all may run, or the response to send instead of executing anything: every failed
// field's error, with data null.
func checkSideEffects(ctx context.Context, rctx *engine.Context, response *engine.GraphQLResponse) ([]byte, error) {
	if !hasSideEffects(response.Fetches) {
		return nil, nil // most operations: no walk state to allocate
	}
	var (
		errs []GraphQLError
		buf  bytes.Buffer
		err  error
	)
	var walk func(n *engine.FetchTreeNode)
	walk = func(n *engine.FetchTreeNode) {
		if n == nil || err != nil {
			return
		}
		if n.Item != nil {
			if f, ok := n.Item.Fetch.(*engine.SingleFetch); ok {
				if se, ok := f.DataSource.(sideEffect); ok {
					buf.Reset()
					if rerr := f.InputTemplate.Render(rctx, nil, &buf); rerr != nil {
						err = fmt.Errorf("render the input of %s: %w", se.responseKey(), rerr)
						return
					}
					if e := se.check(ctx, buf.Bytes()); e != nil {
						e.Path = []any{se.responseKey()}
						errs = append(errs, *e)
					}
				}
			}
		}
		for _, c := range n.ChildNodes {
			walk(c)
		}
	}
	walk(response.Fetches)
	if err != nil || len(errs) == 0 {
		return nil, err
	}
	return json.Marshal(struct {
		Errors []GraphQLError `json:"errors"`
		Data   any            `json:"data"`
	}{errs, nil})
}

// hasSideEffects reports whether a fetch tree has a side-effecting fetch.
func hasSideEffects(n *engine.FetchTreeNode) bool {
	if n == nil {
		return false
	}
	if n.Item != nil {
		if f, ok := n.Item.Fetch.(*engine.SingleFetch); ok {
			if _, ok := f.DataSource.(sideEffect); ok {
				return true
			}
		}
	}
	for _, c := range n.ChildNodes {
		if hasSideEffects(c) {
			return true
		}
	}
	return false
}
