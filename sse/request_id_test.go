package sse_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/sse"
)

// syncBuffer is a log sink the handler's goroutines and the test share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestSSE_RequestIDInErrorExtensionsAndLogLines(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs)
	f := newFakeExecutor()
	h := sse.NewHandler(sse.Options{Executor: f, Log: log})
	srv := httptest.NewServer(telemetry.RequestIDs(log, h))
	t.Cleanup(func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		srv.Close()
	})

	post := func(query, id string) (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"query":`+mustQuote(query)+`}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		if id != "" {
			req.Header.Set(telemetry.RequestIDHeader, id)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("body %s: %v", body, err)
		}
		return resp, m
	}
	requestID := func(m map[string]any) any {
		errs, _ := m["errors"].([]any)
		if len(errs) != 1 {
			t.Fatalf("errors: %v", m)
		}
		ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
		return ext["requestId"]
	}

	// A client error quotes the client's id.
	resp, m := post(`{ invalid }`, "client-id-1")
	if got := resp.Header.Get(telemetry.RequestIDHeader); got != "client-id-1" {
		t.Fatalf("response id %q", got)
	}
	if got := requestID(m); got != "client-id-1" {
		t.Fatalf("extensions.requestId = %v", got)
	}
	// An internal error quotes it too, and its log line carries it.
	_, m = post(`{ boom }`, "client-id-2")
	if got := requestID(m); got != "client-id-2" {
		t.Fatalf("extensions.requestId = %v", got)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "planner exploded") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["request_id"] != "client-id-2" {
		t.Fatalf("log line without the request id: %s", logs.String())
	}
	// A client id with characters that could forge a log line is replaced.
	resp, m = post(`{ invalid }`, "bad id\"}")
	got := resp.Header.Get(telemetry.RequestIDHeader)
	if got == "" || got == "bad id\"}" || requestID(m) != got {
		t.Fatalf("generated id %q, extensions %v", got, m)
	}
}

func mustQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// The log line of a subscription stream's end carries the stream's request id.
func TestSSE_RequestIDInStreamEndLogLines(t *testing.T) {
	var logs syncBuffer
	log := zerolog.New(&logs).Level(zerolog.DebugLevel)
	f := newFakeExecutor()
	h := sse.NewHandler(sse.Options{Executor: f, Log: log})
	srv := httptest.NewServer(telemetry.RequestIDs(log, h))
	t.Cleanup(func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		srv.Close()
	})
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"query":"subscription { ticks }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "text/event-stream")
	req.Header.Set(telemetry.RequestIDHeader, "stream-id-7")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	sub := <-f.subs
	sub.stream.Finish(resolve.End{Code: resolve.EndSlowConsumer, Reason: "too slow"})
	body, _ := io.ReadAll(resp.Body) // the stream's end closes the response
	if !strings.Contains(string(body), "too slow") {
		t.Fatalf("stream %s", body)
	}
	var line map[string]any
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if strings.Contains(l, "subscription stream ended") {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["request_id"] != "stream-id-7" || line["code"] != resolve.EndSlowConsumer {
		t.Fatalf("end log line %v in %s", line, logs.String())
	}
}
