// Package upstream is edgate's client for subscriptions that subgraphs serve themselves:
// GraphQL over WebSocket (graphql-transport-ws and the legacy graphql-ws, or whichever of
// the two the subgraph picks) and GraphQL over SSE (GET or POST, graphql-sse "distinct
// connections" mode).
//
// WebSocket connections are shared: every subscription to the same URL with the same
// subprotocol setting, handshake headers and connection_init payload runs on one socket,
// whatever its operation. A socket lives while it carries at least one subscription; it is
// pinged, and a socket that does not answer in time is treated as dropped. SSE needs one
// HTTP response per subscription.
//
// The client neither retries nor deduplicates identical operations: the caller (the
// resolve hub) does both, because it knows which subscribers share an operation and what
// the retry policy of each subgraph is.
package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"
)

// Protocols (Request.Protocol).
const (
	ProtocolWS      = "ws"
	ProtocolSSE     = "sse"
	ProtocolSSEPost = "sse_post"
)

// WebSocket subprotocols (Request.Subprotocol).
const (
	SubprotocolAuto               = "auto" // offer both, graphql-transport-ws first
	SubprotocolGraphQLTransportWS = "graphql-transport-ws"
	SubprotocolGraphQLWS          = "graphql-ws"
)

// Body is the GraphQL request sent upstream.
type Body struct {
	Query         string          `json:"query"`
	OperationName string          `json:"operationName,omitempty"`
	Variables     json.RawMessage `json:"variables,omitempty"`
	Extensions    json.RawMessage `json:"extensions,omitempty"`
}

// Request is one upstream subscription.
type Request struct {
	// URL is the subscription endpoint; http(s) and ws(s) schemes are accepted for every
	// protocol and translated as needed.
	URL string
	// Protocol is ProtocolWS (default), ProtocolSSE or ProtocolSSEPost.
	Protocol string
	// Subprotocol is SubprotocolAuto (default), SubprotocolGraphQLTransportWS or
	// SubprotocolGraphQLWS; WebSocket only.
	Subprotocol string
	// Header goes on the WebSocket upgrade request or on the SSE request.
	Header http.Header
	// InitPayload is the connection_init payload (WebSocket only); nil sends none.
	InitPayload json.RawMessage
	Body        Body
}

// Handler receives what the subgraph sends for one subscription. Both functions are
// called from the client's goroutines and must not block; neither is called once Stop
// has returned.
type Handler struct {
	// Next receives each execution result ({"data":...,"errors":...}) as the subgraph sent it.
	Next func(payload []byte)
	// Done is called at most once, when the subscription ends without Stop: with nil when
	// the subgraph completed it, otherwise with an *Error.
	Done func(err error)
}

// Error is an upstream failure.
type Error struct {
	// StatusCode is the HTTP status of a refused WebSocket upgrade or SSE request; 0 when
	// the failure happened later or below HTTP.
	StatusCode int
	// GraphQLErrors is set when the subgraph rejected the operation itself (a protocol
	// `error` message or a GraphQL error response): a JSON array of GraphQL errors.
	GraphQLErrors json.RawMessage
	Err           error
}

func (e *Error) Error() string {
	switch {
	case len(e.GraphQLErrors) > 0:
		var errs []struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(e.GraphQLErrors, &errs) == nil && len(errs) > 0 {
			msgs := make([]string, len(errs))
			for i, m := range errs {
				msgs[i] = m.Message
			}
			return "the subgraph rejected the subscription: " + strings.Join(msgs, "; ")
		}
		return "the subgraph rejected the subscription: " + string(e.GraphQLErrors)
	case e.StatusCode != 0:
		return fmt.Sprintf("the subgraph answered %d %s: %v", e.StatusCode, http.StatusText(e.StatusCode), e.Err)
	}
	return e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// Retryable reports whether subscribing again may help: true for transport failures
// (refused upgrade, dropped socket, missing pong), false when the subgraph rejected the
// operation.
func (e *Error) Retryable() bool { return len(e.GraphQLErrors) == 0 }

// ErrClosed is returned by Subscribe after Close.
var ErrClosed = errors.New("upstream client closed")

// Options configure a Client. Zero values use the documented defaults.
type Options struct {
	// HTTPClient performs WebSocket handshakes and SSE requests; its Transport is used
	// and its Timeout ignored (streams are long-lived). Default: http.DefaultTransport.
	HTTPClient *http.Client
	// PingInterval is the gap between WebSocket pings on each upstream socket. Default
	// 10s; negative disables pings.
	PingInterval time.Duration
	// PingTimeout is how long a pong may take before the socket counts as dead.
	// Default 5s.
	PingTimeout time.Duration
	// InitTimeout bounds the WebSocket handshake plus connection_ack, and the wait for SSE
	// response headers. Default 10s.
	InitTimeout time.Duration
	// WriteTimeout bounds one WebSocket write; a socket that cannot take a message in
	// time is closed. Default 5s.
	WriteTimeout time.Duration
	// ReadLimit bounds one upstream message (WebSocket message or SSE event). Default 16MiB.
	ReadLimit int64
	Log       zerolog.Logger
}

// Client runs upstream subscriptions. It is safe for concurrent use.
type Client struct {
	opts      Options
	streaming *http.Client // SSE: no overall timeout
	dialer    *http.Client // WebSocket handshakes: HTTP/1.1 only
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup

	mu     sync.Mutex
	closed bool
	conns  map[string]*wsConn
}

// New returns a client; Close stops it.
func New(opts Options) *Client {
	if opts.PingInterval == 0 {
		opts.PingInterval = 10 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 5 * time.Second
	}
	if opts.InitTimeout <= 0 {
		opts.InitTimeout = 10 * time.Second
	}
	if opts.WriteTimeout <= 0 {
		opts.WriteTimeout = 5 * time.Second
	}
	if opts.ReadLimit <= 0 {
		opts.ReadLimit = 16 << 20
	}
	var rt http.RoundTripper = http.DefaultTransport
	if opts.HTTPClient != nil && opts.HTTPClient.Transport != nil {
		rt = opts.HTTPClient.Transport
	}
	dialRT := rt
	if t, ok := rt.(*http.Transport); ok && t.ForceAttemptHTTP2 {
		// A WebSocket handshake needs HTTP/1.1; over TLS an HTTP/2-capable transport would
		// negotiate h2 and the upgrade could not happen.
		t = t.Clone()
		t.ForceAttemptHTTP2 = false
		t.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
		dialRT = t
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Client{
		opts:      opts,
		streaming: &http.Client{Transport: rt},
		dialer:    &http.Client{Transport: dialRT},
		ctx:       ctx,
		cancel:    cancel,
		conns:     make(map[string]*wsConn),
	}
}

// Subscribe starts a subscription. It returns once the subgraph accepted the connection
// (WebSocket: connection_ack, then the subscribe message is written; SSE: response
// headers) or with the error that prevented it, usually an *Error. ctx bounds only this
// wait; the subscription runs until Stop or until h.Done is called.
func (c *Client) Subscribe(ctx context.Context, req Request, h Handler) (*Subscription, error) {
	if h.Next == nil || h.Done == nil {
		return nil, errors.New("upstream: handler needs Next and Done")
	}
	switch req.Protocol {
	case "", ProtocolWS:
		return c.subscribeWS(ctx, req, h)
	case ProtocolSSE, ProtocolSSEPost:
		return c.subscribeSSE(ctx, req, h)
	}
	return nil, fmt.Errorf("upstream: unknown protocol %q", req.Protocol)
}

// OpenConnections returns the number of WebSocket connections open or being opened.
func (c *Client) OpenConnections() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.conns)
}

// Close stops every subscription without calling their handlers, closes every
// connection and waits for the client's goroutines.
func (c *Client) Close() {
	c.mu.Lock()
	c.closed = true
	conns := c.conns
	c.conns = make(map[string]*wsConn)
	c.mu.Unlock()
	c.cancel()
	for _, wc := range conns {
		wc.abort()
	}
	c.wg.Wait()
}

// Subscription is a running upstream subscription.
type Subscription struct {
	once sync.Once
	stop func()
}

// Stop ends the subscription (WebSocket: complete or stop is sent, and the socket is
// closed when it was the last subscription on it). It is idempotent.
func (s *Subscription) Stop() { s.once.Do(s.stop) }

// delivery serializes a handler's calls with Stop so that nothing is delivered after
// Stop returned, and Done at most once.
type delivery struct {
	h       Handler
	mu      sync.Mutex
	stopped bool
}

func (d *delivery) next(payload []byte) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.h.Next(payload)
	}
}

func (d *delivery) done(err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.stopped {
		d.stopped = true
		d.h.Done(err)
	}
}

// halt reports whether the subscription was still live.
func (d *delivery) halt() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	live := !d.stopped
	d.stopped = true
	return live
}

// connKey identifies the sockets a subscription may share.
func connKey(req Request, url, subprotocol string) string {
	var b strings.Builder
	b.WriteString(url)
	b.WriteByte(0)
	b.WriteString(subprotocol)
	b.WriteByte(0)
	names := make([]string, 0, len(req.Header))
	for k := range req.Header {
		names = append(names, http.CanonicalHeaderKey(k))
	}
	sort.Strings(names)
	for _, k := range names {
		b.WriteString(k)
		b.WriteByte(1)
		for _, v := range req.Header.Values(k) {
			b.WriteString(v)
			b.WriteByte(2)
		}
	}
	b.WriteByte(0)
	b.Write(compactJSON(req.InitPayload))
	return b.String()
}

// graphQLErrors turns an error payload (an array, one object, or anything else) into a
// JSON array of GraphQL errors.
func graphQLErrors(payload []byte) json.RawMessage {
	trimmed := strings.TrimSpace(string(payload))
	switch {
	case strings.HasPrefix(trimmed, "["):
		return json.RawMessage(trimmed)
	case strings.HasPrefix(trimmed, "{"):
		var obj struct {
			Errors json.RawMessage `json:"errors"`
		}
		if json.Unmarshal([]byte(trimmed), &obj) == nil && strings.HasPrefix(strings.TrimSpace(string(obj.Errors)), "[") {
			return obj.Errors
		}
		return json.RawMessage("[" + trimmed + "]")
	}
	msg, _ := json.Marshal(map[string]string{"message": "subscription error: " + trimmed})
	return json.RawMessage("[" + string(msg) + "]")
}

// compactJSON removes insignificant whitespace so that equal payloads share a socket.
func compactJSON(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	var out bytes.Buffer
	if err := json.Compact(&out, b); err != nil {
		return b
	}
	return out.Bytes()
}
