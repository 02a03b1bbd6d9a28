package telemetry_test

import (
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
