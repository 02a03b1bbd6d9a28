// Package sse serves the GraphQL endpoint over plain HTTP: GraphQL over HTTP for queries and
// mutations (POST JSON and GET), and subscriptions as Server-Sent Events (graphql-sse,
// distinct connections mode) or Apollo's multipart/mixed subscription protocol. WebSocket
// upgrades are the ws package's job; a router in front sends them there.
package sse

import (
	"context"
	"io"

	"github.com/edgate/edgate/resolve"
)

// Executor runs GraphQL operations for the handler.
type Executor interface {
	// Prepare parses, validates and plans; a client error is a *resolve.RequestError.
	Prepare(ctx context.Context, req *resolve.Request) (*resolve.Operation, error)
	// Execute runs a query or mutation and writes the complete JSON result to w.
	Execute(ctx context.Context, op *resolve.Operation, w io.Writer) error
	// Subscribe starts a subscription; messages are pulled from the returned stream whenever
	// opts.Wake fires; the caller must Close the stream when the client goes away.
	Subscribe(ctx context.Context, op *resolve.Operation, opts resolve.SubscribeOptions) (*resolve.Stream, error)
}
