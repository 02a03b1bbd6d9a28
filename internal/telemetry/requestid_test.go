package telemetry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/telemetry"
)

func TestRequestIDs_KeepsAUsableClientIDAndReplacesOthers(t *testing.T) {
	var seen string
	h := telemetry.RequestIDs(zerolog.Nop(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen = telemetry.RequestID(r.Context())
	}))
	cases := []struct {
		in   string
		keep bool
	}{
		{"3f2b8c1e-9d4a-4b6e-8f3a-1c2d3e4f5a6b", true},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", true},
		{"abc+/=@:._-", true},
		{"", false},
		{"has space", false},
		{"new\nline", false},
		{strings.Repeat("a", telemetry.MaxRequestIDLength), true},
		{strings.Repeat("a", telemetry.MaxRequestIDLength+1), false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
		if c.in != "" {
			r.Header.Set(telemetry.RequestIDHeader, c.in)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		echoed := w.Header().Get(telemetry.RequestIDHeader)
		if echoed != seen {
			t.Fatalf("%q: echoed %q, context %q", c.in, echoed, seen)
		}
		if c.keep != (echoed == c.in) {
			t.Fatalf("%q: echoed %q (keep %v)", c.in, echoed, c.keep)
		}
		if !c.keep && len(echoed) != 32 {
			t.Fatalf("%q: generated %q", c.in, echoed)
		}
	}
}

func TestLogger_FallsBackWithoutARequest(t *testing.T) {
	fallback := zerolog.Nop()
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	if telemetry.Logger(r.Context(), &fallback) != &fallback || telemetry.RequestID(r.Context()) != "" {
		t.Fatal("a context without a request id has one")
	}
}

func TestRequestIDs_GeneratedIDsAreHexAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for range 10000 {
		id := telemetry.NewRequestID()
		if len(id) != 32 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("generated %q (seen before: %v)", id, seen[id])
		}
		seen[id] = true
	}
}

func TestRequestIDs_LoggerAndIDReachDerivedContexts(t *testing.T) {
	var out strings.Builder
	h := telemetry.RequestIDs(zerolog.New(&out), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithCancel(context.WithValue(r.Context(), struct{}{}, 1))
		defer cancel()
		fallback := zerolog.Nop()
		log := telemetry.Logger(ctx, &fallback)
		if log == &fallback || log != telemetry.Logger(r.Context(), &fallback) {
			t.Error("the derived context does not carry the request's logger")
		}
		log.Info().Msg("hello")
		if telemetry.RequestID(ctx) != "id-1" {
			t.Errorf("request id %q", telemetry.RequestID(ctx))
		}
		cancel()
		if r.Context().Err() != nil {
			t.Error("canceling a child canceled the request")
		}
	}))
	r := httptest.NewRequest(http.MethodGet, "/graphql", nil)
	r.Header.Set(telemetry.RequestIDHeader, "id-1")
	h.ServeHTTP(httptest.NewRecorder(), r)
	if !strings.Contains(out.String(), `"request_id":"id-1"`) || !strings.Contains(out.String(), `"message":"hello"`) {
		t.Fatalf("log: %s", out.String())
	}
}
