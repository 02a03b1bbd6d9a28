// Package telemetry is edgate's observability plumbing: request ids, Prometheus
// histograms of the data path, and OpenTelemetry tracing (off by default). The transports,
// the engine and the brokers call it through small helpers that cost nothing when the
// feature they serve is off.
package telemetry

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/http"

	"github.com/rs/zerolog"
)

// RequestIDHeader carries a request's id: taken from the client when it sends a usable one,
// generated otherwise, and echoed in the response.
const RequestIDHeader = "X-Request-ID"

// MaxRequestIDLength bounds a client's id; a longer one is replaced by a generated id.
const MaxRequestIDLength = 128

type requestKey struct{}

// requestInfo is what the middleware puts in a request's context: one value, so that a
// request pays one context allocation for both.
type requestInfo struct {
	id  string
	log zerolog.Logger
}

// RequestIDs gives every request an id (see RequestIDHeader), sets it on the response
// before next runs (so that every response, including WebSocket upgrades and streams,
// carries it), and puts it and a logger tagged with it ("request_id") in the context.
func RequestIDs(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, ok := SanitizeRequestID(r.Header.Get(RequestIDHeader))
		if !ok {
			id = NewRequestID()
		}
		w.Header().Set(RequestIDHeader, id)
		info := &requestInfo{id: id, log: log.With().Str("request_id", id).Logger()}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), requestKey{}, info)))
	})
}

// RequestID returns the id RequestIDs gave ctx's request, or "".
func RequestID(ctx context.Context) string {
	if info, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		return info.id
	}
	return ""
}

// Logger returns the logger of ctx's request (tagged with its id), or fallback when ctx
// has none.
func Logger(ctx context.Context, fallback *zerolog.Logger) *zerolog.Logger {
	if info, ok := ctx.Value(requestKey{}).(*requestInfo); ok {
		return &info.log
	}
	return fallback
}

// SanitizeRequestID accepts a client's id when it is 1 to MaxRequestIDLength characters
// of letters, digits and "-_.:/+=@" (what UUIDs, trace ids, base64 and the usual proxy
// formats use). Anything else could forge log lines or headers and is refused.
func SanitizeRequestID(s string) (string, bool) {
	if len(s) == 0 || len(s) > MaxRequestIDLength {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-', c == '_', c == '.', c == ':', c == '/', c == '+', c == '=', c == '@':
		default:
			return "", false
		}
	}
	return s, true
}

// NewRequestID returns 16 random bytes in hex (the size of a W3C trace id).
func NewRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
