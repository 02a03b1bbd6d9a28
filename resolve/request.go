package resolve

import (
	"encoding/json"
	"net/http"
	"strings"
)

// Request is one GraphQL request as a transport received it.
type Request struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName,omitempty"`
	Variables     json.RawMessage `json:"variables,omitempty"`
	Extensions    json.RawMessage `json:"extensions,omitempty"`
	// Header holds the client's request headers; forwarding rules pick from them.
	Header http.Header `json:"-"`
	// InitPayload is the WebSocket connection_init payload, if any.
	InitPayload json.RawMessage `json:"-"`
}

// OperationKind is the type of the operation a request selected.
type OperationKind int

const (
	Query OperationKind = iota
	Mutation
	Subscription
)

func (k OperationKind) String() string {
	switch k {
	case Mutation:
		return "mutation"
	case Subscription:
		return "subscription"
	}
	return "query"
}

// Location is a position in the request document.
type Location struct {
	Line   int `json:"line"`
	Column int `json:"column"`
}

// GraphQLError is one entry of a response's "errors" list.
type GraphQLError struct {
	Message    string         `json:"message"`
	Locations  []Location     `json:"locations,omitempty"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// RequestError is a request that could not be executed at all (it does not parse, does not
// validate, has bad variables, or names an unknown operation). Transports send it as
// {"errors": [...]} with Status (HTTP) or as the protocol's error message.
type RequestError struct {
	Errors []GraphQLError
	// Status is the HTTP status for GraphQL over HTTP: 400 for client errors, 500 otherwise.
	Status int
}

func (e *RequestError) Error() string {
	msgs := make([]string, len(e.Errors))
	for i, err := range e.Errors {
		msgs[i] = err.Message
	}
	return strings.Join(msgs, "; ")
}

// JSON renders the error as a GraphQL response body: {"errors":[...]}.
func (e *RequestError) JSON() []byte {
	b, _ := json.Marshal(struct {
		Errors []GraphQLError `json:"errors"`
	}{e.Errors})
	return b
}

// ErrorsJSON renders errors as the JSON array used in protocol error messages.
func (e *RequestError) ErrorsJSON() []byte {
	b, _ := json.Marshal(e.Errors)
	return b
}

// NewRequestError returns a client error (HTTP 400) with one message.
func NewRequestError(msg string) *RequestError {
	return &RequestError{Errors: []GraphQLError{{Message: msg}}, Status: http.StatusBadRequest}
}

// Operation is a request that parsed, normalized, validated and planned. Transports read
// Kind to choose between Execute and Subscribe.
type Operation struct {
	Kind OperationKind
	// Name is the selected operation's name, "" for an anonymous one.
	Name    string
	Request *Request

	prepared *preparedOperation
}

// SubscribeOptions are a transport's settings for one subscription.
type SubscribeOptions struct {
	// Waker is woken whenever the stream has something to pull (see Waker); when it is
	// nil, Wake and WakeNow are.
	Waker Waker
	// Wake is called whenever the stream has something to pull (see NewStream).
	Wake func()
	// WakeNow, optional, is called instead of Wake when the hub delivers an event on the
	// broker's goroutine to a group of few members (a subscriber on a subject of its
	// own): the transport may write to the socket before it returns, which saves a
	// goroutine hand-off per event. It must not block for long; one that cannot write at
	// once does what Wake does.
	WakeNow func()
	// LastEventID resumes a stream after the event with this ID (SSE Last-Event-ID), where
	// the event source supports it.
	LastEventID string
}
