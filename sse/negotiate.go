package sse

import (
	"mime"
	"strconv"
	"strings"
	"sync"
)

// Media types the endpoint speaks.
const (
	mediaJSON            = "application/json"
	mediaGraphQLResponse = "application/graphql-response+json"
	mediaEventStream     = "text/event-stream"
	mediaMultipart       = "multipart/mixed"
)

// streamFormat is the framing of a streamed response.
type streamFormat uint8

const (
	formatNone streamFormat = iota
	formatSSE
	formatMultipart
)

// negotiation is what the client's Accept header allows.
type negotiation struct {
	// jsonType is the Content-Type of JSON responses (results and errors).
	jsonType string
	// queryStream is formatSSE when the client prefers an event stream over JSON even for
	// queries and mutations (graphql-sse clients and EventSource send only
	// text/event-stream); multipart is used for subscriptions only.
	queryStream streamFormat
	// subscriptionStream is the best streaming format the client accepts, formatNone when
	// it accepts neither.
	subscriptionStream streamFormat
}

// negotiate reads the Accept header values. Without an Accept header (or with only
// wildcards) JSON responses are application/json, as GraphQL over HTTP asks for legacy
// clients; application/graphql-response+json is used when the client lists it at least as
// high as application/json.
func negotiate(accept []string) negotiation {
	var (
		qSSE, qMultipart, qGraphQLResp, qJSON, qWildcard float64
		best                                             string
		bestQ                                            = 0.0
	)
	for _, value := range accept {
		for _, part := range strings.Split(value, ",") {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			mt, params, err := mime.ParseMediaType(part)
			if mt == "" || (err != nil && err != mime.ErrInvalidMediaParameter) {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if v, err := strconv.ParseFloat(s, 64); err == nil {
					q = v
				}
			}
			if q <= 0 {
				continue
			}
			kind := ""
			switch mt {
			case mediaEventStream:
				qSSE = max(qSSE, q)
				kind = mediaEventStream
			case mediaMultipart:
				qMultipart = max(qMultipart, q)
				kind = mediaMultipart
			case mediaGraphQLResponse:
				qGraphQLResp = max(qGraphQLResp, q)
				kind = mediaJSON
			case mediaJSON:
				qJSON = max(qJSON, q)
				kind = mediaJSON
			case "*/*", "application/*":
				qWildcard = max(qWildcard, q)
				kind = mediaJSON
			default:
				continue
			}
			// the first of equally weighted types wins (RFC 9110 leaves ties to the server;
			// clients list their favourite first)
			if q > bestQ {
				best, bestQ = kind, q
			}
		}
	}

	n := negotiation{jsonType: mediaJSON}
	if qGraphQLResp > 0 && qGraphQLResp >= max(qJSON, qWildcard) {
		n.jsonType = mediaGraphQLResponse
	}
	if best == mediaEventStream {
		n.queryStream = formatSSE
	}
	switch {
	case qSSE > 0 && qSSE >= qMultipart:
		n.subscriptionStream = formatSSE
	case qMultipart > 0:
		n.subscriptionStream = formatMultipart
	}
	if best == mediaMultipart && qMultipart > 0 {
		n.subscriptionStream = formatMultipart
	}
	return n
}

// acceptMemo remembers the negotiation of the Accept values clients send: a client sends
// the same one on every request, and clients use a handful, so parsing media types per
// request is waste. It stops learning at acceptMemoSize values (arbitrary headers from
// hostile clients cannot grow it); others are negotiated each time.
type acceptMemo struct {
	mu   sync.RWMutex
	seen map[string]negotiation
}

const acceptMemoSize = 256

func (m *acceptMemo) negotiate(accept []string) negotiation {
	if len(accept) != 1 || len(accept[0]) > 512 {
		return negotiate(accept)
	}
	m.mu.RLock()
	n, ok := m.seen[accept[0]]
	m.mu.RUnlock()
	if ok {
		return n
	}
	n = negotiate(accept)
	m.mu.Lock()
	if m.seen == nil {
		m.seen = make(map[string]negotiation)
	}
	if len(m.seen) < acceptMemoSize {
		m.seen[strings.Clone(accept[0])] = n
	}
	m.mu.Unlock()
	return n
}
