// Package sse serves the GraphQL endpoint over plain HTTP: GraphQL over HTTP for queries and
// mutations (POST JSON and GET), and subscriptions as Server-Sent Events (graphql-sse,
// distinct connections mode) or Apollo's multipart/mixed subscription protocol. WebSocket
// upgrades are the ws package's job; a router in front sends them there.
//
// Protocol choices, each following the reference implementation of its protocol:
//   - A request that is not well-formed GraphQL over HTTP (bad JSON, no query, wrong
//     method or Content-Type, body too large) gets a 4xx with {"errors":[...]} whatever
//     the client accepts.
//   - A *resolve.RequestError (the document does not parse or validate) keeps its status
//     for application/graphql-response+json and is a 200 for application/json. When the
//     client prefers text/event-stream it is sent in an accepted stream instead, as a
//     "next" with the errors followed by "complete": the graphql-sse protocol requires
//     this because EventSource hides the body of a failed response.
//   - SSE frames are "id: <id>\nevent: next\ndata: <result>\n\n" and
//     "event: complete\ndata:\n\n" (graphql-sse's exact bytes; the empty data line makes
//     EventSource dispatch the event). Results that are not subscription events (a query
//     over SSE, errors) carry no id, so a reconnecting client resumes after the last event.
//   - Multipart follows the Apollo Router's byte layout (see frame.go).
//   - A stream that ends with a resolve.End code first gets an error result with
//     extensions.code set to the upper-cased code, then the normal end.
//   - A subscription over HTTP/1.1 in cleartext (on Linux) is answered without
//     Transfer-Encoding and with "Connection: close" (the set-up the SSE specification
//     recommends): its connection is hijacked after the headers and served by the writer
//     shards (internal/netwriter) without a goroutine, and the body ends when the server
//     closes the connection after the final frame. On edgate's own HTTP/2 server
//     (internal/h2server) the stream's body is detached onto the same shards as DATA
//     frames. Queries over SSE, errors, net/http's HTTP/2 and TLS HTTP/1.1 keep net/http's
//     framing.
//   - Slow clients follow netwriter's policy: while MaxPendingBytes wait for a client's
//     socket nothing more is pulled from its queue, where the hub's slow-consumer policy
//     applies (the SLOW_CONSUMER error then comes after what was pending); a client that
//     reads nothing for WriteTimeout is closed.
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
