package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
)

// A wsConn is one upstream socket shared by every subscription with its key. Its life:
// the first subscriber creates it and serve opens it (handshake, connection_init, ack);
// subscribers hold a reference each (Client.mu guards refs) and the last one to leave
// closes it; a read error, a close from the subgraph or a missing pong fails it, which
// removes it from the client at once (later subscribers open a new one) and ends each of
// its subscriptions with an *Error.
//
// Goroutines: serve (the reader) and control (pings and the graceful close), both owned
// by the Client's WaitGroup and ended by ctx.
type wsConn struct {
	c           *Client
	key         string
	url         string
	subprotocol string
	header      http.Header
	initPayload json.RawMessage

	ctx    context.Context
	cancel context.CancelFunc
	quit   chan struct{} // closed by shutdown: close the socket gracefully
	once   sync.Once
	ready  chan struct{} // closed once open finished
	err    error         // why open failed; read after ready

	refs int // guarded by Client.mu

	mu      sync.Mutex
	conn    *websocket.Conn // nil until open succeeded
	proto   string
	subs    map[string]*delivery
	nextID  uint64
	dead    bool  // failed or closing: takes no new subscriptions
	closing bool  // the last subscriber left
	cause   error // set when we closed the socket ourselves (no pong)
}

// message is a frame of either protocol.
type message struct {
	ID      string          `json:"id,omitempty"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload,omitempty"`
}

func (c *Client) subscribeWS(ctx context.Context, req Request, h Handler) (*Subscription, error) {
	sp := req.Subprotocol
	switch sp {
	case "":
		sp = SubprotocolAuto
	case SubprotocolAuto, SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS:
	default:
		return nil, fmt.Errorf("upstream: unknown WebSocket subprotocol %q", sp)
	}
	wc, err := c.acquire(req, sp)
	if err != nil {
		return nil, err
	}
	select {
	case <-wc.ready:
	case <-ctx.Done():
		c.release(wc)
		return nil, ctx.Err()
	}
	if wc.err != nil {
		c.release(wc)
		return nil, wc.err
	}
	sub, err := wc.subscribe(req.Body, h)
	if err != nil {
		c.release(wc)
		return nil, err
	}
	return sub, nil
}

// acquire returns the live socket for req, creating it when there is none, with one
// more reference.
func (c *Client) acquire(req Request, subprotocol string) (*wsConn, error) {
	key := connKey(req, req.URL, subprotocol)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	wc := c.conns[key]
	if wc == nil {
		ctx, cancel := context.WithCancel(c.ctx)
		wc = &wsConn{
			c: c, key: key, url: req.URL, subprotocol: subprotocol,
			header: req.Header.Clone(), initPayload: req.InitPayload,
			ctx: ctx, cancel: cancel, quit: make(chan struct{}), ready: make(chan struct{}),
			subs: make(map[string]*delivery),
		}
		c.conns[key] = wc
		c.wg.Add(1)
		go wc.serve()
	}
	wc.refs++
	return wc, nil
}

// release drops one reference; the last one closes the socket.
func (c *Client) release(wc *wsConn) {
	c.mu.Lock()
	wc.refs--
	last := wc.refs == 0
	if last && c.conns[wc.key] == wc {
		delete(c.conns, wc.key)
	}
	c.mu.Unlock()
	if last {
		wc.shutdown()
	}
}

// forget removes a failed socket so that new subscriptions open a fresh one.
func (c *Client) forget(wc *wsConn) {
	c.mu.Lock()
	if c.conns[wc.key] == wc {
		delete(c.conns, wc.key)
	}
	c.mu.Unlock()
}

// shutdown closes the socket after its last subscriber left.
func (wc *wsConn) shutdown() {
	wc.mu.Lock()
	wc.closing, wc.dead = true, true
	open := wc.conn != nil
	wc.mu.Unlock()
	if !open {
		wc.cancel() // abort the handshake; serve cleans up
		return
	}
	wc.once.Do(func() { close(wc.quit) })
}

// abort closes the socket at once (Client.Close).
func (wc *wsConn) abort() {
	wc.mu.Lock()
	wc.closing, wc.dead = true, true
	wc.mu.Unlock()
	wc.cancel()
}

func (wc *wsConn) serve() {
	defer wc.c.wg.Done()
	defer wc.cancel()
	conn, proto, err := wc.open()
	if err != nil {
		wc.c.forget(wc)
		wc.err = err
		close(wc.ready)
		return
	}
	wc.mu.Lock()
	if wc.closing {
		wc.mu.Unlock()
		_ = conn.CloseNow()
		wc.err = &Error{Err: errors.New("upstream socket closed while opening")}
		close(wc.ready)
		return
	}
	wc.conn, wc.proto = conn, proto
	wc.mu.Unlock()
	close(wc.ready)

	wc.c.wg.Add(1)
	go wc.control()
	wc.fail(wc.read())
}

// open dials, sends connection_init and waits for connection_ack.
func (wc *wsConn) open() (*websocket.Conn, string, error) {
	ctx, cancel := context.WithTimeout(wc.ctx, wc.c.opts.InitTimeout)
	defer cancel()
	offer := []string{SubprotocolGraphQLTransportWS, SubprotocolGraphQLWS}
	if wc.subprotocol != SubprotocolAuto {
		offer = []string{wc.subprotocol}
	}
	conn, resp, err := websocket.Dial(ctx, wc.url, &websocket.DialOptions{
		HTTPClient:   wc.c.dialer,
		HTTPHeader:   wc.header.Clone(),
		Subprotocols: offer,
	})
	if err != nil {
		status := 0
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			status = resp.StatusCode
		}
		return nil, "", &Error{StatusCode: status, Err: fmt.Errorf("websocket handshake with %s: %w", wc.url, err)}
	}
	conn.SetReadLimit(wc.c.opts.ReadLimit)
	proto := conn.Subprotocol()
	if proto == "" {
		// The subgraph chose none: assume what we asked for, the modern protocol for auto.
		proto = offer[0]
	}
	fail := func(err error) (*websocket.Conn, string, error) {
		_ = conn.CloseNow()
		var ue *Error
		if !errors.As(err, &ue) {
			err = &Error{Err: fmt.Errorf("%s connection_init with %s: %w", proto, wc.url, err)}
		}
		return nil, "", err
	}
	if err := writeMessage(ctx, conn, message{Type: "connection_init", Payload: wc.initPayload}); err != nil {
		return fail(err)
	}
	for {
		_, data, err := conn.Read(ctx)
		if err != nil {
			return fail(err)
		}
		var msg message
		if err := json.Unmarshal(data, &msg); err != nil {
			return fail(fmt.Errorf("invalid message %.200q", data))
		}
		switch msg.Type {
		case "connection_ack":
			return conn, proto, nil
		case "ping":
			if err := writeMessage(ctx, conn, message{Type: "pong", Payload: msg.Payload}); err != nil {
				return fail(err)
			}
		case "ka", "pong":
		case "connection_error":
			return fail(&Error{GraphQLErrors: graphQLErrors(msg.Payload), Err: errors.New("connection_error")})
		default:
			return fail(fmt.Errorf("expected connection_ack, got %q", msg.Type))
		}
	}
}

func writeMessage(ctx context.Context, conn *websocket.Conn, msg message) error {
	data, err := json.Marshal(msg)
	if err != nil {
		return fmt.Errorf("encode %s: %w", msg.Type, err)
	}
	return conn.Write(ctx, websocket.MessageText, data)
}

// write sends one message; a write that does not finish in WriteTimeout closes the socket
// (coder/websocket closes a connection whose write context ends).
func (wc *wsConn) write(msg message) error {
	ctx, cancel := context.WithTimeout(wc.ctx, wc.c.opts.WriteTimeout)
	defer cancel()
	return writeMessage(ctx, wc.conn, msg)
}

// read dispatches messages until the socket fails or closes.
func (wc *wsConn) read() error {
	for {
		_, data, err := wc.conn.Read(wc.ctx)
		if err != nil {
			return err
		}
		var msg message
		if err := json.Unmarshal(data, &msg); err != nil {
			return fmt.Errorf("invalid message %.200q", data)
		}
		switch msg.Type {
		case "next", "data":
			if d := wc.lookup(msg.ID); d != nil {
				d.next(msg.Payload)
			}
		case "error":
			if d := wc.remove(msg.ID); d != nil {
				d.done(&Error{GraphQLErrors: graphQLErrors(msg.Payload), Err: errors.New("error message")})
			}
		case "complete":
			if d := wc.remove(msg.ID); d != nil {
				d.done(nil)
			}
		case "ping":
			if err := wc.write(message{Type: "pong", Payload: msg.Payload}); err != nil {
				return err
			}
		case "connection_error":
			return fmt.Errorf("connection_error: %s", msg.Payload)
		default: // pong, ka, and anything newer than us
		}
	}
}

// control pings the subgraph and performs the graceful close.
func (wc *wsConn) control() {
	defer wc.c.wg.Done()
	var tick <-chan time.Time
	if wc.c.opts.PingInterval > 0 {
		t := time.NewTicker(wc.c.opts.PingInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-wc.ctx.Done():
			return
		case <-wc.quit:
			// Close sends the close frame and waits (bounded) for the subgraph's; the
			// reader sees the close and serve ends.
			_ = wc.conn.Close(websocket.StatusNormalClosure, "")
			wc.cancel()
			return
		case <-tick:
			ctx, cancel := context.WithTimeout(wc.ctx, wc.c.opts.PingTimeout)
			err := wc.conn.Ping(ctx)
			cancel()
			if err != nil && wc.ctx.Err() == nil {
				wc.mu.Lock()
				if wc.cause == nil {
					wc.cause = fmt.Errorf("no pong within %s", wc.c.opts.PingTimeout)
				}
				wc.mu.Unlock()
				_ = wc.conn.CloseNow()
				return
			}
		}
	}
}

// fail ends every subscription of a socket that stopped working.
func (wc *wsConn) fail(err error) {
	wc.c.forget(wc)
	wc.mu.Lock()
	quiet := wc.closing
	if wc.cause != nil {
		err = wc.cause
	}
	subs := wc.subs
	wc.subs = nil
	wc.dead = true
	wc.mu.Unlock()
	wc.cancel()
	_ = wc.conn.CloseNow()
	if quiet || wc.c.ctx.Err() != nil {
		return
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		err = fmt.Errorf("the subgraph closed the socket (%d %s)", ce.Code, ce.Reason)
	}
	failure := &Error{Err: fmt.Errorf("upstream socket %s: %w", wc.url, err)}
	wc.c.opts.Log.Warn().Str("url", wc.url).Int("subscriptions", len(subs)).Err(err).Msg("upstream socket failed")
	for _, d := range subs {
		d.done(failure)
	}
}

func (wc *wsConn) lookup(id string) *delivery {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	return wc.subs[id]
}

func (wc *wsConn) remove(id string) *delivery {
	wc.mu.Lock()
	defer wc.mu.Unlock()
	d := wc.subs[id]
	delete(wc.subs, id)
	return d
}

// subscribe starts one operation on the open socket. The caller's reference moves to the
// returned Subscription.
func (wc *wsConn) subscribe(body Body, h Handler) (*Subscription, error) {
	d := &delivery{h: h}
	wc.mu.Lock()
	if wc.dead {
		wc.mu.Unlock()
		return nil, &Error{Err: fmt.Errorf("upstream socket %s closed", wc.url)}
	}
	wc.nextID++
	id := strconv.FormatUint(wc.nextID, 10)
	wc.subs[id] = d
	proto := wc.proto
	wc.mu.Unlock()

	start, stop := "subscribe", "complete"
	if proto == SubprotocolGraphQLWS {
		start, stop = "start", "stop"
	}
	payload, err := json.Marshal(body)
	if err != nil {
		wc.remove(id)
		return nil, fmt.Errorf("encode subscription: %w", err)
	}
	if err := wc.write(message{ID: id, Type: start, Payload: payload}); err != nil {
		wc.remove(id)
		return nil, &Error{Err: fmt.Errorf("send %s to %s: %w", start, wc.url, err)}
	}
	return &Subscription{stop: func() {
		live := d.halt()
		if wc.remove(id) != nil && live {
			// Best effort: if the socket is about to close anyway, the subgraph ends the
			// operation with it.
			_ = wc.write(message{ID: id, Type: stop})
		}
		wc.c.release(wc)
	}}, nil
}
