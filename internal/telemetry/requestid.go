// Package telemetry is edgate's observability plumbing: request ids, Prometheus
// histograms of the data path, and OpenTelemetry tracing (off by default). The transports,
// the engine and the brokers call it through small helpers that cost nothing when the
// feature they serve is off.
package telemetry

import (
	"context"
	"math/rand/v2"
	"net/http"
	"sync"

	"github.com/rs/zerolog"
)

// RequestIDHeader carries a request's id: taken from the client when it sends a usable one,
// generated otherwise, and echoed in the response.
const RequestIDHeader = "X-Request-ID"

// MaxRequestIDLength bounds a client's id; a longer one is replaced by a generated id.
const MaxRequestIDLength = 128

type requestKey struct{}

// requestInfo is the context the middleware gives a request: the parent context with the
// request's id and logger as its one value, so that a request pays one allocation for
// both. The logger tagged with the id is made on first use: most requests log nothing,
// and tagging copies the base logger's context.
type requestInfo struct {
	context.Context
	id      string
	base    *zerolog.Logger
	logOnce sync.Once
	log     zerolog.Logger
}

func (i *requestInfo) Value(key any) any {
	if key == (requestKey{}) {
		return i
	}
	return i.Context.Value(key)
}

func (i *requestInfo) logger() *zerolog.Logger {
	i.logOnce.Do(func() { i.log = i.base.With().Str("request_id", i.id).Logger() })
	return &i.log
}

// requestIDKey is RequestIDHeader in canonical form: the middleware sets it on every
// response without canonicalizing it again.
var requestIDKey = http.CanonicalHeaderKey(RequestIDHeader)

// RequestIDs gives every request an id (see RequestIDHeader), sets it on the response
// before next runs (so that every response, including WebSocket upgrades and streams,
// carries it), and puts it and a logger tagged with it ("request_id") in the context.
func RequestIDs(log zerolog.Logger, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id string
		ok := false
		if v := r.Header[requestIDKey]; len(v) > 0 {
			id, ok = SanitizeRequestID(v[0])
		}
		if !ok {
			id = NewRequestID()
		}
		w.Header()[requestIDKey] = []string{id}
		info := &requestInfo{Context: r.Context(), id: id, base: &log}
		next.ServeHTTP(w, r.WithContext(info))
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
		return info.logger()
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

// NewRequestID returns 16 random bytes in hex (the size of a W3C trace id). They come from
// the runtime's per-thread ChaCha8 generator (seeded from the system's entropy), not from
// crypto/rand's system call: an id must not repeat or be guessable in practice, but it is
// no secret, and it is made for every request.
func NewRequestID() string {
	const digits = "0123456789abcdef"
	var b [32]byte
	for half := 0; half < 2; half++ {
		v := rand.Uint64()
		for i := 0; i < 16; i++ {
			b[half*16+i] = digits[v&15]
			v >>= 4
		}
	}
	return string(b[:])
}
