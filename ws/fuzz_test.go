package ws

import (
	"net/http"
	"testing"
)

// FuzzClientMessage: any text message of either protocol decodes to a typed message (and a
// subscribe/start payload to a request with a query) or is refused, never a panic.
func FuzzClientMessage(f *testing.F) {
	for _, s := range []string{
		`{"type":"connection_init","payload":{"Authorization":"Bearer x"}}`,
		`{"id":"1","type":"subscribe","payload":{"query":"subscription { a }","variables":{"v":1},"operationName":null}}`,
		`{"id":"1","type":"start","payload":{"query":"{ a }","extensions":null}}`,
		`{"id":"1","type":"complete"}`, `{"type":"ping","payload":{"t":1}}`, `{"type":""}`, `[]`, `{"id":1}`,
		`{"id":"1","type":"subscribe","payload":"x"}`, `{"id":"1","type":"subscribe","payload":{"query":1}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, ok := parseClientMessage(data)
		if !ok {
			return
		}
		if m.Type == "" {
			t.Fatalf("message without a type accepted: %q", data)
		}
		_ = initAuthorization(m.Payload)
		if req, ok := parseRequest(m.Payload); ok && req == nil {
			t.Fatalf("accepted payload without a request: %q", data)
		}
	})
}

// FuzzNegotiateSubprotocol: any Sec-WebSocket-Protocol header selects one of the two
// protocols or none.
func FuzzNegotiateSubprotocol(f *testing.F) {
	for _, s := range []string{"graphql-transport-ws", "graphql-ws, graphql-transport-ws", "", " , ,x", "mqtt"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, offer string) {
		h := http.Header{}
		h.Set("Sec-Websocket-Protocol", offer)
		p, selected, ok := negotiate(h)
		if ok != (p != nil) || (selected != "" && selected != ProtocolTransportWS && selected != ProtocolGraphQLWS) {
			t.Fatalf("%q: %v %q %v", offer, p, selected, ok)
		}
	})
}
