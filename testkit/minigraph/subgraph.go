// Package minigraph serves small, real Federation v2 subgraphs over HTTP for edgate's
// tests and examples: a strict GraphQL executor over Go JSON-like data (queries,
// mutations, _entities, _service) plus subscriptions over SSE and WebSocket.
//
// Resolvers return data shaped like decoded JSON (map[string]any, []any or any Go slice,
// string, int, float64, bool, nil). The executor projects it with the operation's
// selection: only selected fields appear, aliases become response keys, fragments apply
// when their type condition matches the value's "__typename" (or the field's declared
// object type when the value has none). An object may hold a Resolver as a field value
// to compute that field with its arguments.
package minigraph

import (
	"context"
	"net/http"
	"sync"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// Resolver returns the value of a field (a root Query/Mutation field, or a field of an
// object that holds a Resolver as its value). args are coerced to the schema's types:
// Int → int, Float → float64, ID → string, input objects → map[string]any.
type Resolver func(ctx context.Context, args map[string]any, headers http.Header) (any, error)

// Subgraph is a GraphQL subgraph served by Handler. Set the fields before the first
// request and do not change them afterwards; a Subgraph must not be copied after use.
type Subgraph struct {
	Name string
	// SDL is the subgraph schema (Federation v2), returned by _service { sdl }. The
	// executor adds _entities, _service and their types itself.
	SDL      string
	Query    map[string]Resolver
	Mutation map[string]Resolver
	// Entities resolves one representation (e.g. {"__typename":"Employee","id":1}) to
	// the entity's fields, or nil when unknown. Numbers in representations arrive as int
	// when integral, float64 otherwise. A result without "__typename" gets the
	// representation's.
	Entities func(ctx context.Context, representation map[string]any, headers http.Header) (map[string]any, error)
	// Subscription holds the root Subscription fields, served over SSE and WebSocket.
	// Each call starts one subscription: the channel carries the root field's values and
	// is closed when the stream ends. The function must stop sending when ctx is done
	// (the client unsubscribed or went away): nobody drains the channel after that.
	Subscription map[string]func(ctx context.Context, args map[string]any, headers http.Header) (<-chan any, error)

	once      sync.Once
	schema    *schema
	schemaErr error

	mu       sync.Mutex
	requests []RecordedRequest
	conns    connections
}

// Transports recorded in RecordedRequest.Transport.
const (
	TransportHTTP               = "http"
	TransportSSE                = "sse"
	TransportGraphQLTransportWS = "graphql-transport-ws"
	TransportGraphQLWS          = "graphql-ws"
)

// RecordedRequest is one GraphQL operation the subgraph received.
type RecordedRequest struct {
	Query         string
	Variables     map[string]any
	OperationName string
	Extensions    map[string]any
	// Headers are the HTTP request headers; for WebSocket, the upgrade request's.
	Headers http.Header
	// Transport is one of the Transport constants.
	Transport string
	// SelectsEntities is set when the operation selects _entities.
	SelectsEntities bool
}

// Requests returns the operations received so far, oldest first.
func (s *Subgraph) Requests() []RecordedRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]RecordedRequest(nil), s.requests...)
}

// ResetRequests forgets the recorded operations.
func (s *Subgraph) ResetRequests() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// CountEntitiesRequests counts the recorded operations that select _entities.
func (s *Subgraph) CountEntitiesRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.SelectsEntities {
			n++
		}
	}
	return n
}

// SchemaError reports whether the SDL could be read; Handler answers every request with
// this error when it could not.
func (s *Subgraph) SchemaError() error {
	_, err := s.loadSchema()
	return err
}

func (s *Subgraph) loadSchema() (*schema, error) {
	s.once.Do(func() { s.schema, s.schemaErr = parseSchema(s.SDL) })
	return s.schema, s.schemaErr
}

// request is a GraphQL-over-HTTP request body (also a WebSocket subscribe payload).
type request struct {
	Query         string         `json:"query"`
	Variables     map[string]any `json:"variables"`
	OperationName string         `json:"operationName"`
	Extensions    map[string]any `json:"extensions"`
}

// normalize turns the json.Numbers left by decodeJSON in the maps into int or float64.
func (r *request) normalize() {
	normalizeNumbers(r.Variables)
	normalizeNumbers(r.Extensions)
}

// prepared is a parsed, validated operation with coerced variables, ready to run.
type prepared struct {
	op   *operation
	exec *executor
}

// prepare records the request, then parses and validates it. Its errors are request
// errors: the operation never ran.
func (s *Subgraph) prepare(ctx context.Context, req request, headers http.Header, transport string) (*prepared, error) {
	rec := RecordedRequest{
		Query: req.Query, Variables: req.Variables, OperationName: req.OperationName,
		Extensions: req.Extensions, Headers: headers.Clone(), Transport: transport,
	}
	sch, err := s.loadSchema()
	var op *operation
	if err == nil {
		op, err = parseOperation(sch, req.Query, req.OperationName)
	}
	if op != nil {
		rec.SelectsEntities = op.selectsField("_entities")
	}
	s.mu.Lock()
	s.requests = append(s.requests, rec)
	s.mu.Unlock()
	if err != nil {
		return nil, err
	}
	exec, err := newExecutor(ctx, s, sch, op, req.Variables, headers)
	if err != nil {
		return nil, err
	}
	return &prepared{op: op, exec: exec}, nil
}

func (p *prepared) isSubscription() bool { return p.op.kind == ast.OperationTypeSubscription }

// execute runs a query or mutation and returns the response. Any field error makes the
// whole data null: these subgraphs are for tests, where a partial result hides bugs.
func (p *prepared) execute() []byte {
	data, err := p.exec.executeRoot(p.op)
	if err != nil {
		return encodeResult(nil, true, []gqlError{toGQLError(err)})
	}
	return encodeResult(data, true, nil)
}
