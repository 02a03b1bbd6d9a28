package ws

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"

	"github.com/edgate/edgate/resolve"
)

// Subprotocol names as sent in Sec-WebSocket-Protocol.
const (
	ProtocolTransportWS = "graphql-transport-ws"
	ProtocolGraphQLWS   = "graphql-ws"
)

// protocol holds what differs between the two GraphQL-over-WebSocket dialects. Both are
// stateless singletons; the connection state lives in conn.
type protocol struct {
	name string
	// handle processes one complete client message.
	handle func(c *conn, m *clientMessage)
	// nextType is the message type of a result: "next" or legacy "data".
	nextType string
	// ack is written when connection_init is accepted.
	ack []byte
	// keepAlive is written every PingInterval: a ping, or legacy "ka".
	keepAlive []byte
	// keepAliveOnAck sends the first keepAlive with the ack (legacy clients expect it).
	keepAliveOnAck bool
	// tooBigCode closes a connection whose client sent a message over MaxMessageBytes.
	tooBigCode int
	// rejectAuth ends a connection whose Authenticate failed.
	rejectAuth func(c *conn)
	// badMessage answers a message that is not JSON or has no type.
	badMessage func(c *conn)
}

// negotiate picks the subprotocol from the client's offers. selected is "" when the client
// offered none; ok is false when it offered only protocols we do not speak.
//
// graphql-transport-ws wins when both are offered. A client that offers nothing gets the
// legacy graphql-ws protocol, because old subscriptions-transport-ws setups and hand-written
// clients often omit the header, while every graphql-transport-ws client sends it.
func negotiate(h http.Header) (p *protocol, selected string, ok bool) {
	offered := false
	legacy := false
	for _, v := range h.Values("Sec-Websocket-Protocol") {
		for tok := range strings.SplitSeq(v, ",") {
			switch strings.TrimSpace(tok) {
			case "":
				continue
			case ProtocolTransportWS:
				return transportWS, ProtocolTransportWS, true
			case ProtocolGraphQLWS:
				legacy = true
			}
			offered = true
		}
	}
	if legacy {
		return graphqlWS, ProtocolGraphQLWS, true
	}
	if !offered {
		return graphqlWS, "", true
	}
	return nil, "", false
}

// clientMessage is the envelope both protocols use.
type clientMessage struct {
	ID      string          `json:"id"`
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

func parseClientMessage(data []byte) (*clientMessage, bool) {
	var m clientMessage
	if err := json.Unmarshal(data, &m); err != nil || m.Type == "" {
		return nil, false
	}
	return &m, true
}

// parseRequest reads a subscribe/start payload. ok is false when it is not an object with a
// string query.
func parseRequest(payload json.RawMessage) (*resolve.Request, bool) {
	var p struct {
		Query         *string         `json:"query"`
		OperationName *string         `json:"operationName"`
		Variables     json.RawMessage `json:"variables"`
		Extensions    json.RawMessage `json:"extensions"`
	}
	if !isObject(payload) || json.Unmarshal(payload, &p) != nil || p.Query == nil {
		return nil, false
	}
	req := &resolve.Request{Query: *p.Query, Variables: nullToNil(p.Variables), Extensions: nullToNil(p.Extensions)}
	if p.OperationName != nil {
		req.OperationName = *p.OperationName
	}
	return req, true
}

func isObject(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

// isAbsent reports a payload that was left out or set to null.
func isAbsent(b json.RawMessage) bool {
	b = bytes.TrimSpace(b)
	return len(b) == 0 || string(b) == "null"
}

func nullToNil(b json.RawMessage) json.RawMessage {
	if isAbsent(b) {
		return nil
	}
	return b
}

// initAuthorization finds a token in a connection_init payload: a string "Authorization"
// or "authorization" at the top level or inside "headers". Clients put it there because
// browsers cannot set headers on a WebSocket upgrade.
func initAuthorization(payload json.RawMessage) string {
	if !isObject(payload) {
		return ""
	}
	var top map[string]json.RawMessage
	if json.Unmarshal(payload, &top) != nil {
		return ""
	}
	if v := authorizationIn(top); v != "" {
		return v
	}
	var headers map[string]json.RawMessage
	if raw, ok := top["headers"]; ok && isObject(raw) && json.Unmarshal(raw, &headers) == nil {
		return authorizationIn(headers)
	}
	return ""
}

func authorizationIn(m map[string]json.RawMessage) string {
	for _, k := range [...]string{"Authorization", "authorization"} {
		var s string
		if raw, ok := m[k]; ok && json.Unmarshal(raw, &s) == nil && s != "" {
			return s
		}
	}
	return ""
}

// connectionHeader copies the upgrade request's headers for the operations of the
// connection, without the handshake's own headers, which no forwarding rule needs and
// which would cost memory on every idle socket.
func connectionHeader(src http.Header) http.Header {
	n, keys := 0, 0
	for k, vs := range src {
		if !handshakeHeader(k) {
			n += len(vs)
			keys++
		}
	}
	h := make(http.Header, keys)
	values := make([]string, 0, n)
	for k, vs := range src {
		if handshakeHeader(k) {
			continue
		}
		start := len(values)
		values = append(values, vs...)
		h[k] = values[start:len(values):len(values)]
	}
	return h
}

func handshakeHeader(k string) bool {
	switch k {
	case "Connection", "Upgrade", "Sec-Websocket-Key", "Sec-Websocket-Version",
		"Sec-Websocket-Extensions", "Sec-Websocket-Protocol":
		return true
	}
	return false
}

// appendMessage appends a text frame holding {"id":id,"type":typ,"payload":payload}; id and
// payload are left out when empty. payload must be valid JSON.
func appendMessage(dst []byte, id, typ string, payload []byte) []byte {
	var idJSON []byte
	if id != "" {
		idJSON, _ = json.Marshal(id)
	}
	n := len(`{"type":""}`) + len(typ)
	if idJSON != nil {
		n += len(`"id":,`) + len(idJSON)
	}
	if len(payload) > 0 {
		n += len(`,"payload":`) + len(payload)
	}
	dst = appendFrameHeader(dst, opText, n)
	dst = append(dst, '{')
	if idJSON != nil {
		dst = append(dst, `"id":`...)
		dst = append(dst, idJSON...)
		dst = append(dst, ',')
	}
	dst = append(dst, `"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, '"')
	if len(payload) > 0 {
		dst = append(dst, `,"payload":`...)
		dst = append(dst, payload...)
	}
	return append(dst, '}')
}

// appendResultAt is appendResult for a subscription that opted in to stream positions
// (resumeFrom): the payload gets "extensions":{"eventId":<position>} as its last member,
// which the client sends back as lastEventId to resume after it. A payload that has
// extensions of its own, or is not an object, goes out unchanged.
func appendResultAt(dst []byte, id, typ string, payload []byte, eventID string) []byte {
	if eventID == "" || len(payload) < 2 || payload[0] != '{' || payload[len(payload)-1] != '}' || bytes.Contains(payload, []byte(`"extensions"`)) {
		return appendResult(dst, id, typ, payload)
	}
	quotedEventID, _ := json.Marshal(eventID)
	ext := make([]byte, 0, len(`,"extensions":{"eventId":}}`)+len(quotedEventID))
	if len(bytes.TrimSpace(payload[1:len(payload)-1])) > 0 {
		ext = append(ext, ',')
	}
	ext = append(ext, `"extensions":{"eventId":`...)
	ext = append(ext, quotedEventID...)
	ext = append(ext, "}}"...)
	with := make([]byte, 0, len(payload)-1+len(ext))
	with = append(with, payload[:len(payload)-1]...)
	with = append(with, ext...)
	return appendResult(dst, id, typ, with)
}

// resumeFrom reads the resume extension of a subscribe (or start) payload's extensions:
// {"lastEventId": "<position>"} resumes a JetStream or Kafka field after that position,
// like SSE's Last-Event-ID, and with any string value (also "") the subscription's results
// carry their positions (appendResultAt).
func resumeFrom(extensions json.RawMessage) (lastEventID string, positions bool) {
	if !isObject(extensions) {
		return "", false
	}
	var e struct {
		LastEventID *string `json:"lastEventId"`
	}
	if json.Unmarshal(extensions, &e) != nil || e.LastEventID == nil {
		return "", false
	}
	return *e.LastEventID, true
}

// appendResult appends the frame of one result of operation id:
// {"id":"<id>","type":"<typ>","payload":<payload>}. The payload is the hub's shared
// rendering and is copied, never re-encoded; nothing per subscription is kept for it.
func appendResult(dst []byte, id, typ string, payload []byte) []byte {
	quoted, simple := len(id)+2, simpleJSONString(id)
	var idJSON []byte
	if !simple {
		idJSON, _ = json.Marshal(id)
		quoted = len(idJSON)
	}
	dst = appendFrameHeader(dst, opText, len(`{"id":,"type":"","payload":}`)+quoted+len(typ)+len(payload))
	dst = append(dst, `{"id":`...)
	if simple {
		dst = append(dst, '"')
		dst = append(dst, id...)
		dst = append(dst, '"')
	} else {
		dst = append(dst, idJSON...)
	}
	dst = append(dst, `,"type":"`...)
	dst = append(dst, typ...)
	dst = append(dst, `","payload":`...)
	dst = append(dst, payload...)
	return append(dst, '}')
}

// simpleJSONString reports whether s is its own JSON string body (as encoding/json
// writes it): printable ASCII without quote, backslash or HTML characters.
func simpleJSONString(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c >= 0x7f, c == '"', c == '\\', c == '<', c == '>', c == '&':
			return false
		}
	}
	return true
}

// endErrors renders a stream's abnormal end as a GraphQL errors array.
func endErrors(end *resolve.End) []byte {
	b, _ := json.Marshal([]resolve.GraphQLError{{
		Message:    end.Reason,
		Extensions: map[string]any{"code": strings.ToUpper(end.Code)},
	}})
	return b
}

func errorsJSON(msg string) []byte {
	return (&resolve.RequestError{Errors: []resolve.GraphQLError{{Message: msg}}}).ErrorsJSON()
}
