package ws

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	"go.uber.org/goleak"

	"github.com/edgate/edgate/resolve"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const wait = 5 * time.Second

// fakeExecutor records every request and hands each subscription's stream to the test.
// Queries containing "invalid" fail validation; "boom" fails internally.
type fakeExecutor struct {
	mu         sync.Mutex
	requests   []*resolve.Request
	subscribed chan *fakeSub
	queueSize  int
}

type fakeSub struct {
	req    *resolve.Request
	stream *resolve.Stream
	closed chan struct{}
}

func newFakeExecutor() *fakeExecutor {
	return &fakeExecutor{subscribed: make(chan *fakeSub, 4096)}
}

func (f *fakeExecutor) Prepare(_ context.Context, req *resolve.Request) (*resolve.Operation, error) {
	f.mu.Lock()
	f.requests = append(f.requests, req)
	f.mu.Unlock()
	switch {
	case strings.Contains(req.Query, "invalid"):
		return nil, resolve.NewRequestError(`Cannot query field "invalid" on type "Subscription".`)
	case strings.Contains(req.Query, "boom"):
		return nil, errors.New("planner exploded")
	}
	op := &resolve.Operation{Kind: resolve.Query, Name: req.OperationName, Request: req}
	q := strings.TrimSpace(req.Query)
	switch {
	case strings.HasPrefix(q, "subscription"):
		op.Kind = resolve.Subscription
	case strings.HasPrefix(q, "mutation"):
		op.Kind = resolve.Mutation
	}
	return op, nil
}

func (f *fakeExecutor) Execute(_ context.Context, op *resolve.Operation, w io.Writer) error {
	_, err := io.WriteString(w, `{"data":{"kind":"`+op.Kind.String()+`"}}`)
	return err
}

func (f *fakeExecutor) Subscribe(_ context.Context, op *resolve.Operation, opts resolve.SubscribeOptions) (*resolve.Stream, error) {
	st := resolve.NewStreamFor(f.queueSize, resolve.Disconnect, opts)
	fs := &fakeSub{req: op.Request, stream: st, closed: make(chan struct{})}
	st.SetOnClose(func() { close(fs.closed) })
	f.subscribed <- fs
	return st, nil
}

func (f *fakeExecutor) lastRequest(t *testing.T) *resolve.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		t.Fatal("executor saw no request")
	}
	return f.requests[len(f.requests)-1]
}

func (f *fakeExecutor) nextSub(t *testing.T) *fakeSub {
	t.Helper()
	select {
	case fs := <-f.subscribed:
		return fs
	case <-time.After(wait):
		t.Fatal("no subscription reached the executor")
		return nil
	}
}

func (fs *fakeSub) push(t *testing.T, payload string) {
	t.Helper()
	if ok, _ := fs.stream.Push(resolve.Message{Payload: []byte(payload)}); !ok {
		t.Fatalf("push %s: stream did not take it", payload)
	}
}

func (fs *fakeSub) waitClosed(t *testing.T) {
	t.Helper()
	select {
	case <-fs.closed:
	case <-time.After(wait):
		t.Fatal("the transport did not close the stream")
	}
}

func (fs *fakeSub) isClosed() bool {
	select {
	case <-fs.closed:
		return true
	default:
		return false
	}
}

type mode struct {
	name      string
	goroutine bool
}

// modes are the two ways a connection is read: the epoll loop (Linux) and a reader
// goroutine (TLS, other systems).
var modes = []mode{{"epoll", false}, {"goroutine", true}}

type server struct {
	h    *Handler
	url  string
	exec *fakeExecutor
}

func newServer(t *testing.T, opts Options, m ...mode) *server {
	t.Helper()
	exec := newFakeExecutor()
	if opts.Executor == nil {
		opts.Executor = exec
	}
	if opts.PingInterval == 0 {
		opts.PingInterval = -1 // tests that want pings ask for them
	}
	h := NewHandler(opts)
	if len(m) > 0 {
		h.forceReaderGoroutine = m[0].goroutine
	}
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		defer cancel()
		h.Shutdown(ctx, ShutdownOptions{Complete: true})
		srv.Close()
	})
	return &server{h: h, url: "ws" + strings.TrimPrefix(srv.URL, "http"), exec: exec}
}

// client is a WebSocket client whose background reader collects messages, so that
// control frames (pings, close) are answered while the test waits.
type client struct {
	t    *testing.T
	c    *websocket.Conn
	msgs chan message
	err  chan error
}

type message struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func (s *server) dial(t *testing.T, protocols ...string) *client {
	t.Helper()
	return s.dialHeader(t, nil, protocols...)
}

func (s *server) dialHeader(t *testing.T, header http.Header, protocols ...string) *client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	c, _, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{Subprotocols: protocols, HTTPHeader: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	c.SetReadLimit(1 << 24)
	cl := &client{t: t, c: c, msgs: make(chan message, 4096), err: make(chan error, 1)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			_, b, err := c.Read(context.Background())
			if err != nil {
				cl.err <- err
				close(cl.msgs)
				return
			}
			var m message
			if err := json.Unmarshal(b, &m); err != nil {
				m = message{Type: "<not json: " + string(b) + ">"}
			}
			cl.msgs <- m
		}
	}()
	t.Cleanup(func() {
		_ = c.CloseNow()
		<-done
	})
	return cl
}

func (cl *client) sendRaw(s string) {
	cl.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := cl.c.Write(ctx, websocket.MessageText, []byte(s)); err != nil {
		cl.t.Fatalf("write %s: %v", s, err)
	}
}

func (cl *client) send(v any) {
	cl.t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		cl.t.Fatal(err)
	}
	cl.sendRaw(string(b))
}

func (cl *client) read() message {
	cl.t.Helper()
	select {
	case m, ok := <-cl.msgs:
		if !ok {
			cl.t.Fatalf("connection closed instead of a message: %v", <-cl.err)
		}
		return m
	case <-time.After(wait):
		cl.t.Fatal("no message from the server")
		return message{}
	}
}

// expect reads the next message, skipping keep-alives unless one is expected.
func (cl *client) expect(typ string) message {
	cl.t.Helper()
	for {
		m := cl.read()
		if (m.Type == "ka" || m.Type == "ping") && typ != m.Type {
			continue
		}
		if m.Type != typ {
			cl.t.Fatalf("got %q message (id %q, payload %s), want %q", m.Type, m.ID, m.Payload, typ)
		}
		return m
	}
}

// expectClose reads until the server closes and checks the close code and reason.
func (cl *client) expectClose(code websocket.StatusCode, reason string) {
	cl.t.Helper()
	deadline := time.After(wait)
	for {
		select {
		case m, ok := <-cl.msgs:
			if ok {
				if m.Type == "ka" || m.Type == "ping" {
					continue
				}
				cl.t.Fatalf("got %q message (id %q, payload %s), want close %d", m.Type, m.ID, m.Payload, code)
			}
			err := <-cl.err
			var ce websocket.CloseError
			if !errors.As(err, &ce) {
				cl.t.Fatalf("connection ended with %v, want close %d", err, code)
			}
			if ce.Code != code {
				cl.t.Fatalf("close code %d (%q), want %d", ce.Code, ce.Reason, code)
			}
			if reason != "" && ce.Reason != reason {
				cl.t.Fatalf("close reason %q, want %q", ce.Reason, reason)
			}
			return
		case <-deadline:
			cl.t.Fatalf("server did not close with %d", code)
		}
	}
}

func (cl *client) expectNothing(d time.Duration) {
	cl.t.Helper()
	deadline := time.After(d)
	for {
		select {
		case m, ok := <-cl.msgs:
			if !ok {
				cl.t.Fatalf("connection closed: %v", <-cl.err)
			}
			if m.Type == "ka" || m.Type == "ping" {
				continue
			}
			cl.t.Fatalf("unexpected %q message (id %q, payload %s)", m.Type, m.ID, m.Payload)
		case <-deadline:
			return
		}
	}
}

// initTransport opens a graphql-transport-ws connection and completes connection_init.
func (s *server) initTransport(t *testing.T) *client {
	t.Helper()
	cl := s.dial(t, ProtocolTransportWS)
	cl.sendRaw(`{"type":"connection_init"}`)
	cl.expect("connection_ack")
	return cl
}

func (s *server) initLegacy(t *testing.T) *client {
	t.Helper()
	cl := s.dial(t, ProtocolGraphQLWS)
	cl.sendRaw(`{"type":"connection_init","payload":{}}`)
	cl.expect("connection_ack")
	return cl
}

func subscribe(id, query string) map[string]any {
	return map[string]any{"id": id, "type": "subscribe", "payload": map[string]any{"query": query}}
}

func start(id, query string) map[string]any {
	return map[string]any{"id": id, "type": "start", "payload": map[string]any{"query": query}}
}

func assertJSON(t *testing.T, got json.RawMessage, want string) {
	t.Helper()
	var g, w any
	if err := json.Unmarshal(got, &g); err != nil {
		t.Fatalf("payload %s: %v", got, err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatal(err)
	}
	gb, _ := json.Marshal(g)
	wb, _ := json.Marshal(w)
	if string(gb) != string(wb) {
		t.Fatalf("payload %s, want %s", gb, wb)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
