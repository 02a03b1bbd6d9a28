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

// entitiesSubgraph is the employees subgraph of testdata/employees.graphql, answering the
// gateway's `_entities` fetches with a name per representation. It counts fetches, so the
// report can show whether the gateway resolves once per event or once per subscriber.
type entitiesSubgraph struct {
	srv             *http.Server
	ln              net.Listener
	fetches         atomic.Int64
	representations atomic.Int64
}

type graphqlRequest struct {
	Query     string `json:"query"`
	Variables struct {
		Representations []struct {
			Typename string          `json:"__typename"`
			ID       json.RawMessage `json:"id"`
		} `json:"representations"`
	} `json:"variables"`
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
	reps := req.Variables.Representations
	if reps == nil {
		writeGraphQLError(w, "the edgate-bench employees subgraph answers _entities fetches only")
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
		buf = fmt.Appendf(buf, `{"__typename":"Employee","id":%s,"name":"Employee %s"}`, rep.ID, strings.Trim(string(rep.ID), `"`))
	}
	buf = append(buf, "]}}"...)
	_, _ = w.Write(buf)
}

func writeGraphQLError(w http.ResponseWriter, msg string) {
	b, _ := json.Marshal(map[string]any{"data": nil, "errors": []map[string]string{{"message": msg}}})
	_, _ = w.Write(b)
}
