package ws

import (
	"encoding/json"
)

// graphqlWS is the legacy graphql-ws protocol of Apollo's subscriptions-transport-ws
// (https://github.com/apollographql/subscriptions-transport-ws/blob/master/PROTOCOL.md).
// Unlike graphql-transport-ws it reports most client mistakes as messages and keeps the
// connection open, as the reference server does.
var graphqlWS = &protocol{
	name:      ProtocolGraphQLWS,
	handle:    handleGraphQLWS,
	nextType:  "data",
	ack:       appendMessage(nil, "", "connection_ack", nil),
	keepAlive: appendMessage(nil, "", "ka", nil),
	// Once a subscriptions-transport-ws client has seen a ka it closes the connection when
	// none arrives within its timeout (30 s by default), so with keep-alive off none is sent.
	keepAliveOnAck: true,
	tooBigCode:     closeTooBig,
	rejectAuth: func(c *conn) {
		c.send(connectionError("Forbidden"))
		c.closeWith(closeForbidden, "Forbidden")
	},
	badMessage: func(c *conn) {
		if !c.overMessageRate() {
			c.send(connectionError("invalid message: expected a JSON object with a type"))
		}
	},
}

func handleGraphQLWS(c *conn, m *clientMessage) {
	switch m.Type {
	case "connection_init":
		c.overMessageRate() // spends a token; the first init is always accepted
		if !isAbsent(m.Payload) && !isObject(m.Payload) {
			c.send(connectionError("connection_init payload must be an object"))
			return
		}
		if !c.init(m.Payload) {
			c.send(connectionError("Too many initialisation requests"))
			c.closeWith(closeTooManyInits, "Too many initialisation requests")
		}
	case "start":
		if m.ID == "" {
			if !c.overMessageRate() {
				c.send(connectionError("start needs an id"))
			}
			return
		}
		if c.refuseStart(m.ID) {
			return
		}
		req, ok := parseRequest(m.Payload)
		if !ok {
			c.send(appendMessage(nil, m.ID, "error", errorsJSON("start payload needs a query")))
			return
		}
		// A repeated id replaces the running operation, as in the reference server.
		switch c.startOperation(m.ID, req, true) {
		case notReady:
			c.send(appendMessage(nil, m.ID, "error", errorsJSON("connection_init must be acknowledged before start")))
		case tooMany:
			c.send(appendMessage(nil, m.ID, "error", c.tooManyErrors()))
		}
	case "stop":
		c.overMessageRate()
		c.stopOperation(m.ID)
	case "connection_terminate":
		c.closeWith(closeNormal, "")
	default:
		if c.overMessageRate() {
			return
		}
		c.send(appendMessage(nil, m.ID, "error", errorsJSON("unexpected message type "+jsonQuote(m.Type))))
	}
}

func connectionError(msg string) []byte {
	payload, _ := json.Marshal(struct {
		Message string `json:"message"`
	}{msg})
	return appendMessage(nil, "", "connection_error", payload)
}

func jsonQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
