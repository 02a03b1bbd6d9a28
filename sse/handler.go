package sse

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/internal/drain"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// Options configure a Handler. Zero values take the documented defaults.
type Options struct {
	Executor Executor
	// Metrics receives the delivery latency of every event frame; nil: none.
	Metrics *telemetry.Metrics
	// HeartbeatInterval is how long a stream may be silent before the handler sends a
	// heartbeat (an SSE ":" comment or a multipart "{}" part). Default 5s; negative sends
	// none.
	HeartbeatInterval time.Duration
	// RetryInterval is the reconnect delay an SSE stream asks for in a `retry:` field, sent
	// with the response headers and before a shutdown tells the client to reconnect. Each
	// stream gets a value drawn between half of it and all of it, so that the clients of
	// an instance that dies do not come back in the same instant. Default 1s; negative
	// sends no hint (EventSource then waits its own default, about 3s).
	RetryInterval time.Duration
	// MaxBodyBytes limits a POST body; a larger one gets 413 with a GraphQL error.
	// Default 1 MiB.
	MaxBodyBytes int64
	// ReadBodyTimeout bounds the time a client may take to send a POST body, from the end
	// of its headers; over it the client gets 408 (and, on HTTP/1.1, the connection is
	// closed). Default 10s; negative is unlimited.
	ReadBodyTimeout time.Duration
	// LargeBodyRate bounds the bytes per second, over all clients, of the POST bodies
	// larger than 64 KiB that the handler reads: each such request waits for its share
	// before its body is read (the wait does not count against ReadBodyTimeout), and one
	// that would wait longer than LargeBodyWait gets 503 with Retry-After and
	// extensions.code MAX_LARGE_BODY_RATE_EXCEEDED, unread. Smaller bodies never wait.
	// The bucket holds one second of the rate, and at least MaxBodyBytes. Default 16 MiB;
	// negative is unlimited.
	LargeBodyRate int64
	// LargeBodyWait is the longest a large body waits for LargeBodyRate. Default 5s.
	LargeBodyWait time.Duration
	// WriteTimeout bounds one write to a streaming client; a client that stops reading
	// loses its stream when it passes instead of holding the handler forever. Default 10s.
	WriteTimeout time.Duration
	// Pool writes the streams that need no goroutine (hijacked HTTP/1.1 connections,
	// HTTP/2 streams of internal/h2server); share one with the other transports. Without
	// it the handler starts its own with MaxPendingBytes, WriterShards and WriteTimeout
	// and stops it in Shutdown.
	Pool *netwriter.Pool
	// MaxPendingBytes bounds what a hijacked HTTP/1.1 stream may have waiting for its
	// client beyond the socket's own buffer (netwriter's slow-client policy). Default
	// 256 KiB. Used only without Pool.
	MaxPendingBytes int
	// WriterShards is the number of goroutines writing hijacked HTTP/1.1 streams.
	// Default 2×GOMAXPROCS, at least 2 and at most 8. Used only without Pool.
	WriterShards int
	// Log receives request failures; the zero value logs nothing.
	Log zerolog.Logger
}

// Defaults of Options.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultRetryInterval     = time.Second
	DefaultMaxBodyBytes      = 1 << 20
	DefaultReadBodyTimeout   = 10 * time.Second
	DefaultLargeBodyRate     = 16 << 20
	DefaultLargeBodyWait     = 5 * time.Second
	DefaultWriteTimeout      = 10 * time.Second
	DefaultMaxPendingBytes   = netwriter.DefaultMaxPendingBytes
)

// Handler is the http.Handler of the GraphQL endpoint for every request that is not a
// WebSocket upgrade.
//
// A subscription over HTTP/1.1 in cleartext (on Linux) costs no goroutine: once its
// response headers are out, the handler hijacks the connection and hands it to a small
// fixed set of writer shards, which write each stream's queued frames in one non-blocking
// write when its resolve.Stream wakes, send heartbeats from a shard-level ticker and learn
// of disconnects from epoll (internal/netpoll). Such a response carries no
// Transfer-Encoding and "Connection: close": its body ends when the server closes the
// connection after the final frame. Streams of edgate's own HTTP/2 server
// (internal/h2server) are handed to the same shards as DATA frames of their connection.
// net/http's HTTP/2 and TLS HTTP/1.1 streams, and every stream elsewhere than Linux, keep
// net/http's goroutine and chunked framing.
type Handler struct {
	exec         Executor
	heartbeat    time.Duration
	retry        time.Duration // <= 0: no retry hint
	maxBody      int64
	bodyTimeout  time.Duration // <= 0: none
	large        gate          // requests with bodies over largeBody (readRequest)
	budget       *byteBudget   // nil: LargeBodyRate unlimited
	writeTimeout time.Duration
	maxPending   int
	shards       int
	log          zerolog.Logger
	delivered    *telemetry.Delivery // nil without Options.Metrics

	accept acceptMemo

	closed atomic.Bool
	// completeOnShutdown: Shutdown ends streams with complete rather than a reconnect hint.
	completeOnShutdown atomic.Bool
	mu                 sync.Mutex
	open               *subscriber    // every open stream, linked through subscriber.next
	served             sync.WaitGroup // streams written by the pool

	poolOnce sync.Once
	writer   *netwriter.Pool
	ownPool  bool
}

// NewHandler returns a handler that runs operations with opts.Executor.
func NewHandler(opts Options) *Handler {
	h := &Handler{
		exec:         opts.Executor,
		heartbeat:    opts.HeartbeatInterval,
		retry:        opts.RetryInterval,
		maxBody:      opts.MaxBodyBytes,
		bodyTimeout:  opts.ReadBodyTimeout,
		large:        newGate(),
		writeTimeout: opts.WriteTimeout,
		maxPending:   opts.MaxPendingBytes,
		shards:       opts.WriterShards,
		log:          opts.Log,
		writer:       opts.Pool,
		delivered:    opts.Metrics.Delivered(telemetry.TransportSSE),
	}
	if h.heartbeat == 0 {
		h.heartbeat = DefaultHeartbeatInterval
	}
	if h.retry == 0 {
		h.retry = DefaultRetryInterval
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.bodyTimeout == 0 {
		h.bodyTimeout = DefaultReadBodyTimeout
	}
	if h.writeTimeout <= 0 {
		h.writeTimeout = DefaultWriteTimeout
	}
	rate, wait := opts.LargeBodyRate, opts.LargeBodyWait
	if rate == 0 {
		rate = DefaultLargeBodyRate
	}
	if wait <= 0 {
		wait = DefaultLargeBodyWait
	}
	if rate > 0 {
		h.budget = newByteBudget(rate, h.maxBody, wait, time.Now)
	}
	if h.maxPending <= 0 {
		h.maxPending = DefaultMaxPendingBytes
	}
	return h
}

// pool returns the writer pool, starting the handler's own on first use.
func (h *Handler) pool() *netwriter.Pool {
	h.poolOnce.Do(func() {
		if h.writer != nil {
			return
		}
		h.writer = netwriter.New(netwriter.Options{
			Shards:          h.shards,
			MaxPendingBytes: h.maxPending,
			WriteTimeout:    h.writeTimeout,
			// a stream gets its heartbeat, and a stuck one its end, within a quarter
			// interval of the deadline
			Tick: max(min(h.heartbeat, h.writeTimeout)/4, time.Millisecond),
			Log:  h.log,
		})
		h.ownPool = true
	})
	return h.writer
}

// ShutdownOptions say how Shutdown ends the open streams.
type ShutdownOptions struct {
	// Window spreads the end of the open streams evenly over this long, so that the
	// clients told to reconnect do not all reach the other instances at once. 0: all at
	// once.
	Window time.Duration
	// Complete ends each subscription for good: a final "complete" event, or the
	// multipart close delimiter. By default a stream ends as one the client should open
	// again elsewhere: an SSE stream gets a `retry:` hint and ends without "complete"
	// (EventSource reconnects with Last-Event-ID; graphql-sse's client retries), a
	// multipart stream ends without its close delimiter.
	Complete bool
}

// Shutdown ends every open stream after the messages already queued, spread over
// opts.Window, and makes new requests get 503. It waits for the hijacked streams, which
// http.Server.Shutdown does not see, until their final frames are written and their
// connections closed (a client that reads nothing is closed after WriteTimeout); it does
// not wait for the others: their handlers return on their own, which is what
// http.Server.Shutdown waits for. When ctx ends, the streams not yet ended are ended at
// once.
func (h *Handler) Shutdown(ctx context.Context, opts ShutdownOptions) {
	h.completeOnShutdown.Store(opts.Complete)
	h.mu.Lock()
	h.closed.Store(true)
	var open []*subscriber
	for s := h.open; s != nil; s = s.next {
		open = append(open, s)
	}
	h.mu.Unlock()
	drain.Spread(ctx, len(open), opts.Window, func(i int) {
		open[i].shutdown.Store(true)
		open[i].Wake()
	})
	h.served.Wait()
	h.poolOnce.Do(func() {}) // no pool starts after this
	if h.ownPool {
		h.writer.Close()
	}
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	neg := h.accept.negotiate(r.Header["Accept"])
	if h.closed.Load() {
		writeError(w, neg.jsonType, &httpError{status: http.StatusServiceUnavailable, message: "the server is shutting down"})
		return
	}
	req, release, herr := readRequest(w, r, bodyLimits{maxBody: h.maxBody, timeout: h.bodyTimeout, large: h.large, budget: h.budget})
	if herr != nil {
		telemetry.Logger(r.Context(), &h.log).Debug().Str("method", r.Method).Int("status", herr.status).Str("reason", herr.message).Msg("graphql request rejected")
		writeError(w, neg.jsonType, herr)
		return
	}
	// Queries and mutations end with this handler, so they read the request's headers in
	// place; a subscription outlives it and gets its own copy below.
	req.Header = r.Header

	ctx := r.Context()
	op, err := h.exec.Prepare(ctx, req)
	release()
	if err != nil {
		// graphql-sse: validation errors of a request that prefers an event stream go
		// through an accepted stream, because EventSource hides the body of a failed
		// response. A client that prefers JSON gets the GraphQL-over-HTTP error response.
		if neg.queryStream == formatSSE {
			sw := h.startStream(w, r, formatSSE, false, false)
			sw.buf.fatal(h.operationErrors(err, r))
			sw.buf.complete()
			_ = sw.flush()
			return
		}
		h.writeOperationError(w, r, neg.jsonType, err)
		return
	}
	if r.Method == http.MethodGet && op.Kind == resolve.Mutation {
		writeError(w, neg.jsonType, &httpError{status: http.StatusMethodNotAllowed, message: "mutations cannot be sent with GET: use POST", allow: http.MethodPost})
		return
	}

	if op.Kind == resolve.Subscription {
		if neg.subscriptionStream == formatNone {
			writeError(w, neg.jsonType, badRequest("subscriptions need a streaming transport: send Accept: text/event-stream (SSE) or Accept: multipart/mixed;subscriptionSpec=\"1.0\", or connect with a WebSocket (graphql-transport-ws)"))
			return
		}
		op.Request.Header = r.Header.Clone()
		h.serveSubscription(w, r, op, neg.subscriptionStream)
		return
	}
	if neg.queryStream == formatSSE {
		h.serveResultAsStream(w, r, op)
		return
	}
	h.serveJSON(w, r, op, neg.jsonType)
}

// serveJSON runs a query or mutation and answers with one JSON document.
func (h *Handler) serveJSON(w http.ResponseWriter, r *http.Request, op *resolve.Operation, contentType string) {
	buf := getBuffer()
	defer putBuffer(buf)
	if err := h.exec.Execute(r.Context(), op, buf); err != nil {
		h.writeOperationError(w, r, contentType, err)
		return
	}
	setJSONHeader(w.Header(), contentType, buf.Len())
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// contentTypes holds the header values of the response media types, shared by every
// response: net/http only reads them, and Header.Add and Set replace rather than append
// to a full slice.
var contentTypes = map[string][]string{
	mediaJSON:            {mediaJSON},
	mediaGraphQLResponse: {mediaGraphQLResponse},
}

// setJSONHeader sets a JSON response's Content-Type and Content-Length by their canonical
// keys, the per-request cost of Header.Set being the canonicalization and a slice each.
func setJSONHeader(hd http.Header, contentType string, length int) {
	if v, ok := contentTypes[contentType]; ok {
		hd["Content-Type"] = v
	} else {
		hd["Content-Type"] = []string{contentType}
	}
	hd["Content-Length"] = []string{strconv.Itoa(length)}
}

// serveResultAsStream runs a query or mutation for an event-stream client: one next, then
// complete.
func (h *Handler) serveResultAsStream(w http.ResponseWriter, r *http.Request, op *resolve.Operation) {
	sw := h.startStream(w, r, formatSSE, false, false)
	buf := getBuffer()
	defer putBuffer(buf)
	if err := h.exec.Execute(r.Context(), op, buf); err != nil {
		sw.buf.fatal(h.operationErrors(err, r))
	} else {
		sw.buf.next("", buf.Bytes())
	}
	sw.buf.complete()
	_ = sw.flush()
}

// writeOperationError answers a failed Prepare or Execute. A *resolve.RequestError is the
// client's fault: with application/graphql-response+json it keeps its status (400), with
// application/json it is a 200 whose body holds the errors (GraphQL over HTTP, legacy
// media type). Anything else is logged and reported as a 500 without details.
func (h *Handler) writeOperationError(w http.ResponseWriter, r *http.Request, contentType string, err error) {
	if r.Context().Err() != nil && errors.Is(err, r.Context().Err()) {
		return // the client left: no one reads an answer, and the work it asked for stopped
	}
	var rerr *resolve.RequestError
	if !errors.As(err, &rerr) {
		telemetry.Logger(r.Context(), &h.log).Error().Err(err).Str("path", r.URL.Path).Msg("graphql request failed")
		writeError(w, contentType, &httpError{status: http.StatusInternalServerError, message: "internal server error"})
		return
	}
	status := rerr.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	if contentType == mediaJSON && status < 500 {
		status = http.StatusOK
	}
	writeJSON(w, contentType, status, rerr.WithRequestID(telemetry.RequestID(r.Context())).JSON())
}

// operationErrors turns a Prepare/Execute/Subscribe error into the errors sent in-stream.
func (h *Handler) operationErrors(err error, r *http.Request) []resolve.GraphQLError {
	var rerr *resolve.RequestError
	id := telemetry.RequestID(r.Context())
	if errors.As(err, &rerr) {
		return rerr.WithRequestID(id).Errors
	}
	telemetry.Logger(r.Context(), &h.log).Error().Err(err).Str("path", r.URL.Path).Msg("graphql request failed")
	return (&resolve.RequestError{Errors: []resolve.GraphQLError{{Message: "internal server error"}}}).WithRequestID(id).Errors
}

func writeError(w http.ResponseWriter, contentType string, e *httpError) {
	if e.allow != "" {
		w.Header().Set("Allow", e.allow)
	}
	if e.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.FormatInt(int64((e.retryAfter+time.Second-1)/time.Second), 10))
	}
	rerr := resolve.NewRequestError(e.message)
	rerr.Errors[0].Extensions = e.extensions
	// the request id middleware has set the response's id header; the error quotes it
	writeJSON(w, contentType, e.status, rerr.WithRequestID(w.Header().Get(telemetry.RequestIDHeader)).JSON())
}

func writeJSON(w http.ResponseWriter, contentType string, status int, body []byte) {
	setJSONHeader(w.Header(), contentType, len(body))
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// Results are rendered into pooled buffers so that an error during execution can still
// become a clean error response.
var bufferPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufferPool.Get().(*bytes.Buffer) }

func putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return // let a rare huge result be collected instead of pinning it in the pool
	}
	b.Reset()
	bufferPool.Put(b)
}
