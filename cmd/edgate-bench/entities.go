package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// entitiesSubgraph serves the benchmark's subgraphs on one listener: the employees
// subgraph of testdata/employees.graphql at /graphql (root `employee(id:)` queries and
// `_entities` fetches, answering a name per representation) and the details subgraph of
// testdata/details.graphql at /details (`_entities` with a department). It answers from
// the request's variables without executing GraphQL, so it costs the shared cores little.
// It counts `_entities` fetches, so the report can show whether the gateway resolves once
// per event or once per subscriber.
type entitiesSubgraph struct {
	srv             *http.Server
	ln              net.Listener
	fetches         atomic.Int64
	representations atomic.Int64
}

type graphqlRequest struct {
	Query     string                     `json:"query"`
	Variables map[string]json.RawMessage `json:"variables"`
}

type representation struct {
	Typename string          `json:"__typename"`
	ID       json.RawMessage `json:"id"`
}

func startEntitiesSubgraph(addr string) (*entitiesSubgraph, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("entities subgraph listen %s: %w", addr, err)
	}
	s := &entitiesSubgraph{ln: ln}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *entitiesSubgraph) Addr() string { return s.ln.Addr().String() }

func (s *entitiesSubgraph) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(ctx); err != nil {
		_ = s.srv.Close()
	}
}

func (s *entitiesSubgraph) serveHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var req graphqlRequest
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeGraphQLError(w, "bad request: "+err.Error())
		return
	}
	details := r.URL.Path == "/details"
	raw, isEntities := req.Variables["representations"]
	if !isEntities {
		if details || !strings.Contains(req.Query, "employee") {
			writeGraphQLError(w, "the edgate-bench subgraphs answer _entities fetches and employee(id:) only")
			return
		}
		// a root employee(id:) query: the id is the request's only numeric variable
		id := json.RawMessage("1")
		for _, v := range req.Variables {
			if len(v) > 0 && v[0] >= '0' && v[0] <= '9' {
				id = v
				break
			}
		}
		buf := make([]byte, 0, 128)
		buf = append(buf, `{"data":{"employee":`...)
		buf = appendEmployee(buf, id, false)
		buf = append(buf, "}}"...)
		_, _ = w.Write(buf)
		return
	}
	var reps []representation
	if err := json.Unmarshal(raw, &reps); err != nil {
		writeGraphQLError(w, "bad representations: "+err.Error())
		return
	}
	s.fetches.Add(1)
	s.representations.Add(int64(len(reps)))
	buf := make([]byte, 0, 64+len(reps)*64)
	buf = append(buf, `{"data":{"_entities":[`...)
	for i, rep := range reps {
		if i > 0 {
			buf = append(buf, ',')
		}
		if rep.Typename != "Employee" || len(rep.ID) == 0 {
			buf = append(buf, "null"...)
			continue
		}
		buf = appendEmployee(buf, rep.ID, details)
	}
	buf = append(buf, "]}}"...)
	_, _ = w.Write(buf)
}

// appendEmployee appends the employee with id as the employees subgraph (name) or the
// details subgraph (department) knows it.
func appendEmployee(buf []byte, id json.RawMessage, details bool) []byte {
	if details {
		return fmt.Appendf(buf, `{"__typename":"Employee","id":%s,"department":"Department %s"}`, id, strings.Trim(string(id), `"`))
	}
	return fmt.Appendf(buf, `{"__typename":"Employee","id":%s,"name":"Employee %s"}`, id, strings.Trim(string(id), `"`))
}

func writeGraphQLError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"data": nil, "errors": []map[string]string{{"message": msg}}})
	_, _ = w.Write(b)
}
