package ws

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/internal/netwriter"
	"github.com/edgate/edgate/internal/telemetry"
	"github.com/edgate/edgate/resolve"
)

// closeGrace is how long a connection that sent a close frame waits for the client's
// close frame (or EOF) before the socket is closed anyway.
const closeGrace = time.Second

type connState uint8

const (
	stateWaitingInit  connState = iota // no connection_init yet
	stateInitialising                  // Authenticate is running
	stateReady                         // acknowledged: operations may start
	stateClosing                       // close frame queued; waiting for the client or closeGrace
	stateClosed                        // socket closed, subscriptions stopped
)

// conn is one WebSocket connection. Nothing runs for it while it is idle: on Linux the
// handler's epoll loop reads it when the socket is readable, and a shard of the writer
// pool (internal/netwriter) writes it when one of its streams wakes. Only connections
// that epoll cannot serve (TLS, other systems) have a reader goroutine (and the pool
// gives them a writer goroutine).
//
// Lock order: Handler.mu before conn.mu. Streams are pulled without conn.mu and closed
// without conn.mu (a stream's close calls back into the hub, whose fan-out calls wake).
type conn struct {
	h       *Handler
	nc      net.Conn
	rc      syscall.RawConn // nil when the connection has no file descriptor (TLS)
	polled  bool            // read by the epoll loop rather than a goroutine
	pollKey netpoll.Key     // the connection's poller registration, 0 before (guarded by mu)
	proto   *protocol
	wc      *netwriter.Conn // the pool's side of the connection, set before anything wakes it

	// Read side, used only by the connection's single reader.
	partial    []byte // an incomplete frame; nil between frames
	message    []byte // the fragments of a message being assembled
	fragmented bool
	broken     bool   // a framing error or oversize message: ignore the rest
	messages   bucket // the message rate (Options.MessagesPerSecond)
	subscribes bucket // the subscribe rate (Options.SubscribesPerSecond)

	mu          sync.Mutex
	state       connState
	header      http.Header        // upgrade headers (+ Authorization from connection_init)
	reqID       string             // the upgrade request's id (X-Request-ID), "" without the middleware
	upgrade     *trace.SpanContext // the upgrade request's span, which operation spans link to; nil untraced
	initPayload json.RawMessage    // connection_init payload, nil when none
	subs        []*subscription    // running operations; a slice because most hold one
	out         []byte             // encoded frames waiting for the writer
	dirty       []*subscription    // subscriptions whose stream has something to pull
	draining    bool               // Shutdown: end every subscription, then close (see shutdown)
	timer       *time.Timer        // init timeout, later the close grace

	lastPing time.Duration // used only by the writer's Tick
}

// subscription is one operation of a connection: a subscription, or a query or mutation
// while it executes.
type subscription struct {
	id     string
	c      *conn // the connection: the stream wakes it (Wake, WakeNow)
	stream *resolve.Stream
	cancel context.CancelFunc
	dirty  bool // listed in conn.dirty, or woken before its stream was attached
	done   bool // removed from conn.subs; its stream is closed or about to be
	// positions: results carry their stream position (the resume extension, resumeFrom);
	// set with stream, before the writer reads either
	positions bool
}

type startResult int

const (
	started startResult = iota
	notReady
	duplicateID
	tooMany
	closing
)

// feed parses the frames in data, bytes just read from the socket, and handles every
// complete one. Only the connection's reader calls it.
func (c *conn) feed(data []byte) {
	if c.broken {
		return
	}
	buf := data
	if c.partial != nil {
		c.partial = append(c.partial, data...)
		buf = c.partial
	}
	for len(buf) > 0 {
		h, ok, err := parseFrameHeader(buf)
		if err != nil {
			c.broken = true
			c.closeWith(closeProtocolError, "invalid frame")
			return
		}
		if !ok {
			break
		}
		// Refuse an oversize frame from its header, before its payload is buffered.
		if h.length > c.h.opts.MaxMessageBytes ||
			(h.op == opContinuation && int64(len(c.message))+h.length > c.h.opts.MaxMessageBytes) {
			c.broken = true
			c.closeWith(c.proto.tooBigCode, "Message too large")
			return
		}
		end := h.size + int(h.length)
		if len(buf) < end {
			break
		}
		payload := buf[h.size:end]
		unmask(payload, h.mask)
		buf = buf[end:]
		if !c.frame(h, payload) {
			c.broken = true
			return
		}
	}
	switch {
	case len(buf) == 0:
		c.partial = nil
	case c.partial != nil:
		c.partial = c.partial[:copy(c.partial, buf)]
	default:
		c.partial = append([]byte(nil), buf...)
	}
}

// frame handles one frame; false stops reading.
func (c *conn) frame(h frameHeader, payload []byte) bool {
	switch h.op {
	case opText, opBinary:
		if c.fragmented {
			c.closeWith(closeProtocolError, "new message inside a fragmented message")
			return false
		}
		if !h.fin {
			c.fragmented = true
			c.message = append([]byte(nil), payload...)
			return true
		}
		c.onMessage(payload)
	case opContinuation:
		if !c.fragmented {
			c.closeWith(closeProtocolError, "continuation without a message")
			return false
		}
		c.message = append(c.message, payload...)
		if h.fin {
			msg := c.message
			c.fragmented, c.message = false, nil
			c.onMessage(msg)
		}
	case opPing:
		c.send(appendFrame(nil, opPong, payload))
	case opPong:
	case opClose:
		c.onPeerClose(parseCloseCode(payload))
		return false
	}
	return true
}

func (c *conn) onMessage(data []byte) {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st >= stateClosing {
		return
	}
	m, ok := parseClientMessage(data)
	if !ok {
		c.proto.badMessage(c)
		return
	}
	c.proto.handle(c, m)
}

// onPeerClose answers the client's close frame, or finishes the closing handshake we
// started.
func (c *conn) onPeerClose(code int) {
	c.mu.Lock()
	if c.state >= stateClosing {
		c.mu.Unlock()
		c.teardown()
		return
	}
	c.mu.Unlock()
	// Echo the client's code unless it is one that must not appear on the wire.
	switch {
	case code < 1000, code >= 5000, code == 1004, code == 1005, code == 1006, code == 1015:
		code = closeNormal
	}
	// The client closes the TCP connection once it has our echo; closeGrace is the backstop.
	c.closeWith(code, "")
}

// send queues an encoded frame for the writer. Nothing may follow a close frame, so a
// closing connection sends nothing more.
func (c *conn) send(frame []byte) {
	c.mu.Lock()
	if c.state >= stateClosing {
		c.mu.Unlock()
		return
	}
	c.out = append(c.out, frame...)
	c.mu.Unlock()
	c.wc.Wake()
}

// closeWith stops every operation and closes the connection with code: the close frame
// goes out after what is already queued, and the socket is closed when the client answers
// or after closeGrace.
func (c *conn) closeWith(code int, reason string) {
	c.mu.Lock()
	if c.state >= stateClosing {
		c.mu.Unlock()
		return
	}
	c.state = stateClosing
	stopped := c.detachAllLocked()
	c.out = appendCloseFrame(c.out, code, reason)
	c.resetTimerLocked(closeGrace, c.teardown)
	c.mu.Unlock()
	c.h.release(stopped...)
	c.wc.Wake()
	c.tag(c.h.log.Debug()).Int("code", code).Str("reason", reason).Msg("websocket closing")
}

// shutdown delivers what is queued, then completes every subscription and closes the
// connection with 1001, or (reconnect) closes it with 1012 alone.
func (c *conn) shutdown() {
	c.mu.Lock()
	if c.state >= stateClosing {
		c.mu.Unlock()
		return
	}
	if c.state != stateReady {
		c.mu.Unlock()
		c.closeWith(c.h.shutdownClose())
		return
	}
	c.state = stateClosing
	c.draining = true
	c.resetTimerLocked(closeGrace, c.teardown)
	c.mu.Unlock()
	c.wc.Wake()
}

// teardown closes the socket and stops everything the connection runs. Safe to call more
// than once and from any goroutine without conn.mu.
func (c *conn) teardown() {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	stopped := c.detachAllLocked()
	c.out, c.dirty = nil, nil
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.mu.Unlock()
	c.h.release(stopped...)
	if c.polled {
		c.h.poller.remove(c) // before the socket is closed
	}
	// The pool closes the socket and calls Closed, which forgets the connection.
	c.wc.Close(nil)
}

func (c *conn) resetTimerLocked(d time.Duration, f func()) {
	if c.timer != nil {
		c.timer.Stop()
	}
	c.timer = time.AfterFunc(d, f)
}

// onInitTimeout closes a connection that did not send connection_init in time.
func (c *conn) onInitTimeout() {
	c.mu.Lock()
	st := c.state
	c.mu.Unlock()
	if st == stateWaitingInit {
		c.closeWith(closeInitTimeout, "Connection initialisation timeout")
	}
}

// init accepts connection_init; false when one was received before.
func (c *conn) init(payload json.RawMessage) bool {
	c.mu.Lock()
	if c.state >= stateClosing {
		c.mu.Unlock()
		return true
	}
	if c.state != stateWaitingInit {
		c.mu.Unlock()
		return false
	}
	c.state = stateInitialising
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
	c.initPayload = nullToNil(payload)
	if token := initAuthorization(payload); token != "" && c.header.Get("Authorization") == "" {
		c.header.Set("Authorization", token)
	}
	auth := c.h.opts.Authenticate
	if auth == nil {
		c.mu.Unlock()
		c.ready()
		return true
	}
	header, initPayload := c.header, c.initPayload
	c.h.goroutines.Add(1)
	c.mu.Unlock()
	// Authenticate may call out (a JWKS fetch, an introspection endpoint): never on the
	// reader, which serves every connection.
	go func() {
		defer c.h.goroutines.Done()
		ctx, cancel := context.WithTimeout(context.Background(), c.h.opts.InitTimeout)
		err := auth(ctx, header, initPayload)
		cancel()
		if err != nil {
			c.tag(c.h.log.Debug()).Err(err).Msg("websocket connection_init rejected")
			c.proto.rejectAuth(c)
			return
		}
		c.ready()
	}()
	return true
}

func (c *conn) ready() {
	c.mu.Lock()
	if c.state != stateInitialising {
		c.mu.Unlock()
		return
	}
	c.state = stateReady
	c.out = append(c.out, c.proto.ack...)
	if c.proto.keepAliveOnAck && c.h.opts.PingInterval > 0 {
		c.out = append(c.out, c.proto.keepAlive...)
	}
	c.mu.Unlock()
	c.wc.Wake()
}

func (c *conn) tooManyErrors() []byte {
	return errorsJSON("too many operations on this connection: the limit is " +
		strconv.Itoa(c.h.opts.MaxSubscriptionsPerConnection))
}

// startOperation registers operation id and runs it. With replace, a running operation of
// the same id is stopped first; otherwise it is a duplicate.
func (c *conn) startOperation(id string, req *resolve.Request, replace bool) startResult {
	c.mu.Lock()
	switch {
	case c.state >= stateClosing:
		c.mu.Unlock()
		return closing
	case c.state != stateReady:
		c.mu.Unlock()
		return notReady
	}
	var replaced []stopped
	if old := c.findLocked(id); old != nil {
		if !replace {
			c.mu.Unlock()
			return duplicateID
		}
		replaced = append(replaced, c.detachLocked(old))
	}
	if len(c.subs) >= c.h.opts.MaxSubscriptionsPerConnection {
		c.mu.Unlock()
		c.h.release(replaced...)
		return tooMany
	}
	req.Header = c.header
	req.InitPayload = c.initPayload
	ctx, cancel := context.WithCancel(context.Background())
	s := &subscription{id: id, c: c, cancel: cancel}
	c.subs = append(c.subs, s)
	// Queued under conn.mu while ready, so Shutdown, which waits after every connection is
	// closed, never races the starter's goroutines.Add.
	c.h.starts.enqueue(c.h, startJob{c: c, s: s, req: req, ctx: ctx})
	c.mu.Unlock()
	c.h.release(replaced...)
	return started
}

// run prepares and executes one operation, on a starter goroutine. Subscriptions end here
// once their stream is attached; the writer takes over from the stream's wake-ups.
// Queries and mutations execute on a goroutine of their own, so that a slow subgraph does
// not hold up the starts of other operations.
func (c *conn) run(ctx context.Context, s *subscription, req *resolve.Request) {
	if ctx.Err() != nil {
		return // stopped while it waited for a starter
	}
	ctx, span := telemetry.StartWebSocketOperation(ctx, c.upgrade, c.proto.name, s.id, c.reqID)
	op, err := c.h.opts.Executor.Prepare(ctx, req)
	if err != nil {
		telemetry.End(span, err)
		c.fail(s, err)
		return
	}
	if span != nil {
		span.SetAttributes(attribute.String("graphql.operation.type", op.Kind.String()), attribute.String("graphql.operation.name", op.Name))
	}
	if op.Kind == resolve.Subscription {
		lastEventID, positions := resumeFrom(req.Extensions)
		st, err := c.h.opts.Executor.Subscribe(ctx, op, resolve.SubscribeOptions{Waker: s, LastEventID: lastEventID})
		// The operation's span covers the start; the subscription's own span
		// (graphql.subscription, its child) covers its life.
		telemetry.End(span, err)
		if err != nil {
			c.fail(s, err)
			return
		}
		c.mu.Lock()
		if s.done {
			c.mu.Unlock()
			st.Close()
			return
		}
		s.stream = st
		s.positions = positions
		woken := s.dirty
		s.dirty = false
		// The context only stopped the start; an attached subscription keeps none.
		cancel := s.cancel
		s.cancel = nil
		c.mu.Unlock()
		cancel()
		if woken {
			c.wake(s, false)
		}
		return
	}
	c.mu.Lock()
	if s.done || c.state >= stateClosing {
		c.mu.Unlock()
		telemetry.End(span, context.Canceled)
		return
	}
	c.h.goroutines.Add(1)
	c.mu.Unlock()
	go func() {
		defer c.h.goroutines.Done()
		c.execute(ctx, s, op, span)
	}()
}

// execute runs a query or mutation and sends its result, then ends its span.
func (c *conn) execute(ctx context.Context, s *subscription, op *resolve.Operation, span trace.Span) {
	var result bytes.Buffer
	err := c.h.opts.Executor.Execute(ctx, op, &result)
	telemetry.End(span, err)
	if err != nil {
		c.fail(s, err)
		return
	}
	c.finish(s, appendMessage(appendResult(nil, s.id, c.proto.nextType, result.Bytes()), s.id, "complete", nil))
}

// fail ends operation s with the protocol's error message.
func (c *conn) fail(s *subscription, err error) {
	var reqErr *resolve.RequestError
	var payload []byte
	switch {
	case errors.As(err, &reqErr):
		payload = reqErr.WithRequestID(c.reqID).ErrorsJSON()
	case errors.Is(err, context.Canceled):
		payload = nil // stopped by the client or the connection closed
	default:
		c.tag(c.h.log.Error()).Err(err).Str("id", s.id).Msg("websocket operation failed")
		payload = (&resolve.RequestError{Errors: []resolve.GraphQLError{{Message: "internal server error"}}}).WithRequestID(c.reqID).ErrorsJSON()
	}
	var frame []byte
	if payload != nil {
		frame = appendMessage(nil, s.id, "error", payload)
	}
	c.finish(s, frame)
}

// finish removes operation s and queues its last frames, unless it was stopped meanwhile.
func (c *conn) finish(s *subscription, frames []byte) {
	c.mu.Lock()
	if s.done {
		c.mu.Unlock()
		return
	}
	st := c.detachLocked(s)
	c.out = append(c.out, frames...)
	c.mu.Unlock()
	c.h.release(st)
	c.wc.Wake()
}

// stopOperation stops operation id at the client's request.
func (c *conn) stopOperation(id string) {
	c.mu.Lock()
	s := c.findLocked(id)
	if s == nil {
		c.mu.Unlock()
		return
	}
	st := c.detachLocked(s)
	c.mu.Unlock()
	c.h.release(st)
}

// Wake implements resolve.Waker for s's stream (a method, not two closures per
// subscription).
func (s *subscription) Wake() { s.c.wake(s, false) }

// WakeNow implements resolve.Waker.
func (s *subscription) WakeNow() { s.c.wake(s, true) }

// wake is a stream's Wake (and, with now, its WakeNow): it lists s for the writer.
func (c *conn) wake(s *subscription, now bool) {
	c.mu.Lock()
	if s.done || s.dirty || c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	s.dirty = true
	if s.stream == nil {
		// Woken inside Subscribe: run wakes it again once the stream is attached.
		c.mu.Unlock()
		return
	}
	c.dirty = append(c.dirty, s)
	c.mu.Unlock()
	if now {
		c.wc.WakeNow()
		return
	}
	c.wc.Wake()
}

func (c *conn) findLocked(id string) *subscription {
	for _, s := range c.subs {
		if s.id == id {
			return s
		}
	}
	return nil
}

func (c *conn) detachLocked(s *subscription) stopped {
	for i, x := range c.subs {
		if x == s {
			last := len(c.subs) - 1
			c.subs[i] = c.subs[last]
			c.subs[last] = nil
			c.subs = c.subs[:last]
			break
		}
	}
	if len(c.subs) == 0 {
		c.subs = nil
	}
	s.done = true
	return stopped{cancel: s.cancel, stream: s.stream}
}

func (c *conn) detachAllLocked() []stopped {
	if len(c.subs) == 0 {
		return nil
	}
	list := make([]stopped, 0, len(c.subs))
	for _, s := range c.subs {
		s.done = true
		list = append(list, stopped{cancel: s.cancel, stream: s.stream})
	}
	c.subs = nil
	clear(c.dirty)
	c.dirty = c.dirty[:0]
	return list
}

// readLoop reads a connection the epoll loop cannot serve.
func (c *conn) readLoop() {
	defer c.h.goroutines.Done()
	buf := make([]byte, 1024) // most client messages fit; bigger ones span reads
	for {
		n, err := c.nc.Read(buf)
		if n > 0 {
			c.feed(buf[:n])
		}
		if err != nil {
			c.teardown()
			return
		}
	}
}

// tag adds the connection's request id to a log event about it.
func (c *conn) tag(e *zerolog.Event) *zerolog.Event {
	if c.reqID != "" {
		e = e.Str("request_id", c.reqID)
	}
	return e
}
