package minigraph

import (
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/wundergraph/graphql-go-tools/v2/pkg/ast"
)

// maxBody bounds request bodies; subgraph requests in tests are far smaller.
const maxBody = 8 << 20

// Handler serves GraphQL over HTTP (POST with a JSON body, GET with query parameters),
// GraphQL over SSE (either method with "Accept: text/event-stream") and GraphQL over
// WebSocket (graphql-transport-ws and graphql-ws) on one path.
func (s *Subgraph) Handler() http.Handler {
	return http.HandlerFunc(s.serveHTTP)
}

func (s *Subgraph) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if isWebSocketUpgrade(r) {
		s.serveWebSocket(w, r)
		return
	}
	if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
		s.serveSSE(w, r)
		return
	}
	contentType := "application/json"
	if strings.Contains(r.Header.Get("Accept"), "application/graphql-response+json") {
		contentType = "application/graphql-response+json"
	}
	reply := func(status int, body []byte) {
		w.Header().Set("Content-Type", contentType+"; charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write(body)
	}
	// With application/json a GraphQL error is still a 200; the newer media type uses 400
	// for requests that never executed (GraphQL over HTTP, section "Status codes").
	rejected := http.StatusOK
	if contentType != "application/json" {
		rejected = http.StatusBadRequest
	}
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		reply(http.StatusMethodNotAllowed, requestError("method %s is not allowed", r.Method))
		return
	}
	req, err := readRequest(r)
	if err != nil {
		reply(http.StatusBadRequest, requestError("%v", err))
		return
	}
	p, err := s.prepare(r.Context(), req, r.Header, TransportHTTP)
	if err != nil {
		reply(rejected, requestError("%v", err))
		return
	}
	switch {
	case p.isSubscription():
		reply(rejected, requestError("subscriptions need Accept: text/event-stream or a WebSocket"))
	case r.Method == http.MethodGet && p.op.kind != ast.OperationTypeQuery:
		w.Header().Set("Allow", "POST")
		reply(http.StatusMethodNotAllowed, requestError("mutations need POST"))
	default:
		reply(http.StatusOK, p.execute())
	}
}

// readRequest reads the operation from a POST JSON body or from GET query parameters.
func readRequest(r *http.Request) (request, error) {
	var req request
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		req.Query, req.OperationName = q.Get("query"), q.Get("operationName")
		for name, into := range map[string]*map[string]any{"variables": &req.Variables, "extensions": &req.Extensions} {
			if raw := q.Get(name); raw != "" {
				if err := decodeJSON([]byte(raw), into); err != nil {
					return req, fmt.Errorf("query parameter %q is not a JSON object: %w", name, err)
				}
			}
		}
	} else {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody))
		if err != nil {
			return req, fmt.Errorf("read body: %w", err)
		}
		if err := decodeJSON(body, &req); err != nil {
			return req, fmt.Errorf("body is not a GraphQL JSON request: %w", err)
		}
		req.normalize()
	}
	if req.Query == "" {
		return req, fmt.Errorf("missing query")
	}
	return req, nil
}
