package minigraph

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// initTimeout is how long a graphql-transport-ws client may take to send connection_init
// (the protocol's close code 4408 after that).
const initTimeout = 10 * time.Second

// dropWait bounds how long DropConnections waits for a dropped connection's handler.
const dropWait = 5 * time.Second

// connections is the subgraph's record of its streaming connections, guarded by
// Subgraph.mu.
type connections struct {
	opened         int
	ws             map[*wsConn]struct{}
	sse            map[*sseStream]struct{}
	initPayloads   []map[string]any
	upgradeHeaders []http.Header
	active         int // running subscriptions, all transports
}

// WebSocketConnectionsOpened counts the WebSocket connections accepted so far.
func (s *Subgraph) WebSocketConnectionsOpened() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns.opened
}

// WebSocketConnectionsOpen counts the WebSocket connections open now.
func (s *Subgraph) WebSocketConnectionsOpen() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns.ws)
}

// ActiveSubscriptions counts the subscriptions running now over any transport.
func (s *Subgraph) ActiveSubscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns.active
}

// InitPayloads returns the connection_init payload of every WebSocket connection that
// sent one, in arrival order (nil for an init without payload).
func (s *Subgraph) InitPayloads() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.conns.initPayloads...)
}

// UpgradeHeaders returns the headers of every accepted WebSocket upgrade request, in
// order.
func (s *Subgraph) UpgradeHeaders() []http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]http.Header, len(s.conns.upgradeHeaders))
	for i, h := range s.conns.upgradeHeaders {
		out[i] = h.Clone()
	}
	return out
}

// DropConnections abruptly closes every open WebSocket (no close frame) and aborts every
// SSE response (no final chunk), as a crashing server would, then waits for their
// handlers to finish.
func (s *Subgraph) DropConnections() {
	s.mu.Lock()
	var done []chan struct{}
	for c := range s.conns.ws {
		_ = c.conn.CloseNow()
		done = append(done, c.done)
	}
	for st := range s.conns.sse {
		st.dropped.Store(true)
		st.cancel()
		done = append(done, st.done)
	}
	s.mu.Unlock()
	deadline := time.NewTimer(dropWait)
	defer deadline.Stop()
	for _, d := range done {
		select {
		case <-d:
		case <-deadline.C:
			return
		}
	}
}

func (s *Subgraph) trackSubscription(delta int) {
	s.mu.Lock()
	s.conns.active += delta
	s.mu.Unlock()
}

// subscription is a started subscription: the resolver's channel and how to project
// each of its values.
type subscription struct {
	p     *prepared
	f     *field
	ch    <-chan any
	field *fieldDef
}

// subscribe calls the root field's subscription resolver.
func (p *prepared) subscribe(ctx context.Context) (*subscription, error) {
	e := p.exec
	fields, err := e.collect(p.op.selections, p.op.root.name, nil)
	if err != nil {
		return nil, err
	}
	if len(fields) != 1 || fields[0].first.name == "__typename" {
		return nil, errors.New("a subscription must select exactly one root field")
	}
	f := fields[0]
	def := p.op.root.fields[f.first.name]
	args, err := e.args(def, f.first, []any{f.key})
	if err != nil {
		return nil, err
	}
	resolve := e.sg.Subscription[f.first.name]
	if resolve == nil {
		return nil, fmt.Errorf("no resolver for Subscription.%s", f.first.name)
	}
	ch, err := resolve(ctx, args, e.headers)
	if err != nil {
		return nil, fmt.Errorf("subscribe %s: %w", f.first.name, err)
	}
	return &subscription{p: p, f: f, ch: ch, field: def}, nil
}

// run sends each value, projected, to emit until the resolver closes its channel (true)
// or ctx ends or emit fails (false).
func (sub *subscription) run(ctx context.Context, emit func(payload []byte) error) bool {
	sg := sub.p.exec.sg
	sg.trackSubscription(1)
	defer sg.trackSubscription(-1)
	for {
		select {
		case <-ctx.Done():
			return false
		case v, ok := <-sub.ch:
			if !ok {
				return true
			}
			if err := emit(sub.project(v)); err != nil {
				return false
			}
		}
	}
}

func (sub *subscription) project(v any) []byte {
	path := []any{sub.f.key}
	value, err := sub.p.exec.complete(v, sub.field.typ, sub.f.children(), path)
	if err != nil {
		return encodeResult(nil, true, []gqlError{toGQLError(err)})
	}
	return encodeResult(&object{keys: []string{sub.f.key}, values: []any{value}}, true, nil)
}

// ---- SSE (graphql-sse "distinct connections" mode) ----

type sseStream struct {
	cancel  context.CancelFunc
	dropped atomic.Bool
	done    chan struct{}
}

func (s *Subgraph) serveSSE(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	req, err := readRequest(r)
	if err != nil {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write(requestError("%v", err))
		return
	}
	ctx, cancel := context.WithCancel(r.Context())
	st := &sseStream{cancel: cancel, done: make(chan struct{})}
	s.mu.Lock()
	if s.conns.sse == nil {
		s.conns.sse = map[*sseStream]struct{}{}
	}
	s.conns.sse[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		cancel()
		s.mu.Lock()
		delete(s.conns.sse, st)
		s.mu.Unlock()
		close(st.done)
	}()

	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	emit := func(payload []byte) error {
		if _, err := fmt.Fprintf(w, "event: next\ndata: %s\n\n", payload); err != nil {
			return err
		}
		return rc.Flush()
	}
	defer func() {
		if st.dropped.Load() {
			// The documented way to end a response without its terminating chunk, so the
			// client sees a broken stream rather than a clean end.
			panic(http.ErrAbortHandler)
		}
		if ctx.Err() == nil {
			_, _ = fmt.Fprint(w, "event: complete\ndata: \n\n")
			_ = rc.Flush()
		}
	}()
	_ = rc.Flush()

	p, err := s.prepare(ctx, req, r.Header, TransportSSE)
	if err != nil {
		_ = emit(requestError("%v", err))
		return
	}
	if !p.isSubscription() {
		_ = emit(p.execute())
		return
	}
	sub, err := p.subscribe(ctx)
	if err != nil {
		_ = emit(encodeResult(nil, false, []gqlError{toGQLError(err)}))
		return
	}
	sub.run(ctx, emit)
}

// ---- WebSocket ----

func isWebSocketUpgrade(r *http.Request) bool {
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		return false
	}
	for _, v := range r.Header.Values("Connection") {
		for _, token := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(token), "upgrade") {
				return true
			}
		}
	}
	return false
}

// wsConn is one WebSocket connection. Its read loop runs in the handler goroutine; each
// operation runs in a goroutine the connection waits for before the handler returns.
type wsConn struct {
	sg       *Subgraph
	conn     *websocket.Conn
	protocol string
	headers  http.Header
	ctx      context.Context // ends with the connection; writes use it (see write)
	done     chan struct{}
	acked    atomic.Bool
	wg       sync.WaitGroup

	mu   sync.Mutex
	subs map[string]context.CancelFunc
}

type wsMessage struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (s *Subgraph) serveWebSocket(w http.ResponseWriter, r *http.Request) {
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{TransportGraphQLTransportWS, TransportGraphQLWS},
		// A test server: browsers on any origin may connect.
		InsecureSkipVerify: true,
	})
	if err != nil {
		return // Accept has written the error response
	}
	conn.SetReadLimit(maxBody)
	protocol := conn.Subprotocol()
	if protocol == "" {
		protocol = TransportGraphQLTransportWS
	}
	ctx, cancel := context.WithCancel(context.Background())
	c := &wsConn{
		sg: s, conn: conn, protocol: protocol, headers: r.Header.Clone(),
		ctx: ctx, done: make(chan struct{}), subs: map[string]context.CancelFunc{},
	}
	s.mu.Lock()
	if s.conns.ws == nil {
		s.conns.ws = map[*wsConn]struct{}{}
	}
	s.conns.ws[c] = struct{}{}
	s.conns.opened++
	s.conns.upgradeHeaders = append(s.conns.upgradeHeaders, c.headers)
	s.mu.Unlock()

	initTimer := time.AfterFunc(initTimeout, func() {
		if !c.acked.Load() && protocol == TransportGraphQLTransportWS {
			_ = conn.Close(4408, "Connection initialisation timeout")
		}
	})
	defer func() {
		initTimer.Stop()
		cancel()
		c.wg.Wait()
		_ = conn.CloseNow()
		s.mu.Lock()
		delete(s.conns.ws, c)
		s.mu.Unlock()
		close(c.done)
	}()
	c.readLoop()
}

func (c *wsConn) readLoop() {
	for {
		_, data, err := c.conn.Read(c.ctx)
		if err != nil {
			return
		}
		var msg wsMessage
		if err := json.Unmarshal(data, &msg); err != nil || msg.Type == "" {
			_ = c.conn.Close(4400, "Invalid message received")
			return
		}
		var keep bool
		if c.protocol == TransportGraphQLWS {
			keep = c.handleLegacy(msg)
		} else {
			keep = c.handleTransportWS(msg)
		}
		if !keep {
			return
		}
	}
}

// handleTransportWS handles one graphql-transport-ws message; false ends the connection.
func (c *wsConn) handleTransportWS(msg wsMessage) bool {
	switch msg.Type {
	case "connection_init":
		if c.acked.Load() {
			_ = c.conn.Close(4429, "Too many initialisation requests")
			return false
		}
		c.init(msg.Payload)
		return c.write(wsMessage{Type: "connection_ack"}) == nil
	case "ping":
		return c.write(wsMessage{Type: "pong", Payload: msg.Payload}) == nil
	case "pong":
		return true
	case "subscribe":
		if !c.acked.Load() {
			_ = c.conn.Close(4401, "Unauthorized")
			return false
		}
		if msg.ID == "" {
			_ = c.conn.Close(4400, "Invalid message received")
			return false
		}
		if !c.start(msg, "next", func(err error) wsMessage {
			payload, _ := json.Marshal([]gqlError{toGQLError(err)})
			return wsMessage{ID: msg.ID, Type: "error", Payload: payload}
		}) {
			_ = c.conn.Close(4409, "Subscriber for "+msg.ID+" already exists")
			return false
		}
		return true
	case "complete":
		c.stop(msg.ID)
		return true
	default:
		_ = c.conn.Close(4400, "Invalid message received")
		return false
	}
}

// handleLegacy handles one graphql-ws (subscriptions-transport-ws) message.
func (c *wsConn) handleLegacy(msg wsMessage) bool {
	switch msg.Type {
	case "connection_init":
		c.init(msg.Payload)
		return c.write(wsMessage{Type: "connection_ack"}) == nil
	case "start":
		errorMessage := func(err error) wsMessage {
			payload, _ := json.Marshal([]gqlError{toGQLError(err)})
			return wsMessage{ID: msg.ID, Type: "error", Payload: payload}
		}
		if !c.acked.Load() {
			return c.write(errorMessage(errors.New("connection_init must come first"))) == nil
		}
		if !c.start(msg, "data", errorMessage) {
			return c.write(errorMessage(fmt.Errorf("operation %q is already running", msg.ID))) == nil
		}
		return true
	case "stop":
		// The legacy protocol confirms a stop with complete.
		if c.stop(msg.ID) {
			return c.write(wsMessage{ID: msg.ID, Type: "complete"}) == nil
		}
		return true
	case "connection_terminate":
		_ = c.conn.Close(websocket.StatusNormalClosure, "")
		return false
	default:
		payload, _ := json.Marshal(map[string]string{"message": "unknown message type " + msg.Type})
		return c.write(wsMessage{ID: msg.ID, Type: "error", Payload: payload}) == nil
	}
}

func (c *wsConn) init(raw json.RawMessage) {
	var payload map[string]any
	if len(raw) > 0 {
		_ = decodeJSON(raw, &payload)
	}
	c.sg.mu.Lock()
	c.sg.conns.initPayloads = append(c.sg.conns.initPayloads, payload)
	c.sg.mu.Unlock()
	c.acked.Store(true)
}

// start runs one operation in its own goroutine; false when the id is taken.
func (c *wsConn) start(msg wsMessage, dataType string, errorMessage func(error) wsMessage) bool {
	var req request
	if err := decodeJSON(msg.Payload, &req); err != nil {
		_ = c.write(errorMessage(fmt.Errorf("invalid payload: %w", err)))
		return true
	}
	req.normalize()
	ctx, cancel := context.WithCancel(c.ctx)
	c.mu.Lock()
	if _, taken := c.subs[msg.ID]; taken {
		c.mu.Unlock()
		cancel()
		return false
	}
	c.subs[msg.ID] = cancel
	c.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer c.stop(msg.ID)
		emit := func(payload []byte) error {
			return c.write(wsMessage{ID: msg.ID, Type: dataType, Payload: payload})
		}
		p, err := c.sg.prepare(ctx, req, c.headers, c.protocol)
		if err != nil {
			_ = c.write(errorMessage(err))
			return
		}
		// The id is released before complete is sent: a client may reuse it at once.
		complete := func() {
			if c.stop(msg.ID) {
				_ = c.write(wsMessage{ID: msg.ID, Type: "complete"})
			}
		}
		if !p.isSubscription() {
			if emit(p.execute()) == nil {
				complete()
			}
			return
		}
		sub, err := p.subscribe(ctx)
		if err != nil {
			_ = c.write(errorMessage(err))
			return
		}
		if sub.run(ctx, emit) {
			complete()
		}
	}()
	return true
}

// stop cancels the operation with the id, reporting whether it was running.
func (c *wsConn) stop(id string) bool {
	c.mu.Lock()
	cancel, ok := c.subs[id]
	delete(c.subs, id)
	c.mu.Unlock()
	if ok {
		cancel()
	}
	return ok
}

// write sends one message. It uses the connection's context: cancelling the context of
// a coder/websocket Write closes the connection, which must not happen when only one
// operation ends.
func (c *wsConn) write(msg wsMessage) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s message: %w", msg.Type, err)
	}
	return c.conn.Write(c.ctx, websocket.MessageText, data)
}
