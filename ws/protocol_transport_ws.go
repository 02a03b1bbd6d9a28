package ws

import (
	"fmt"
)

// graphql-transport-ws close codes
// (https://github.com/enisdenjo/graphql-ws/blob/master/PROTOCOL.md).
const (
	closeBadRequest      = 4400
	closeUnauthorized    = 4401
	closeForbidden       = 4403
	closeInitTimeout     = 4408
	closeSubscriberExist = 4409
	closeTooManyInits    = 4429
)

// transportWS is graphql-transport-ws, the protocol of the graphql-ws client library.
var transportWS = &protocol{
	name:       ProtocolTransportWS,
	handle:     handleTransportWS,
	nextType:   "next",
	ack:        appendMessage(nil, "", "connection_ack", nil),
	keepAlive:  appendMessage(nil, "", "ping", nil),
	tooBigCode: closeBadRequest,
	rejectAuth: func(c *conn) { c.closeWith(closeForbidden, "Forbidden") },
	badMessage: func(c *conn) { c.closeWith(closeBadRequest, "Invalid message received") },
}

func handleTransportWS(c *conn, m *clientMessage) {
	switch m.Type {
	case "connection_init":
		c.overMessageRate() // spends a token; the first init is always accepted
		if !isAbsent(m.Payload) && !isObject(m.Payload) {
			c.closeWith(closeBadRequest, "Invalid message received: connection_init payload must be an object")
			return
		}
		if !c.init(m.Payload) {
			c.closeWith(closeTooManyInits, "Too many initialisation requests")
		}
	case "ping":
		if c.overMessageRate() {
			return
		}
		// The pong carries the ping's payload back, which lets clients measure latency.
		c.send(appendMessage(nil, "", "pong", nullToNil(m.Payload)))
	case "pong":
		c.overMessageRate()
	case "subscribe":
		if m.ID == "" {
			c.closeWith(closeBadRequest, "Invalid message received: subscribe needs an id")
			return
		}
		if c.refuseStart(m.ID) {
			return
		}
		req, ok := parseRequest(m.Payload)
		if !ok {
			c.closeWith(closeBadRequest, "Invalid message received: subscribe payload needs a query")
			return
		}
		switch c.startOperation(m.ID, req, false) {
		case notReady:
			c.closeWith(closeUnauthorized, "Unauthorized")
		case duplicateID:
			c.closeWith(closeSubscriberExist, fmt.Sprintf("Subscriber for %s already exists", m.ID))
		case tooMany:
			c.send(appendMessage(nil, m.ID, "error", c.tooManyErrors()))
		}
	case "complete":
		// The client is done with this operation; the protocol wants no reply.
		c.overMessageRate()
		c.stopOperation(m.ID)
	default:
		c.closeWith(closeBadRequest, fmt.Sprintf("Invalid message received: unexpected type %q", m.Type))
	}
}
