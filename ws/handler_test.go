package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgate/edgate/resolve"
)

func TestHandler_NegotiatesSubprotocol(t *testing.T) {
	s := newServer(t, Options{})
	cases := []struct {
		offer []string
		want  string
	}{
		{[]string{ProtocolGraphQLWS, ProtocolTransportWS}, ProtocolTransportWS},
		{[]string{ProtocolTransportWS, ProtocolGraphQLWS}, ProtocolTransportWS},
		{[]string{"foo", ProtocolGraphQLWS}, ProtocolGraphQLWS},
		{nil, ""},
	}
	for _, tc := range cases {
		cl := s.dial(t, tc.offer...)
		if got := cl.c.Subprotocol(); got != tc.want {
			t.Errorf("offer %v: selected %q, want %q", tc.offer, got, tc.want)
		}
	}
}

func TestHandler_NoSubprotocolSpeaksLegacyGraphQLWS(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.dial(t)
	cl.sendRaw(`{"type":"connection_init"}`)
	cl.expect("connection_ack")
	cl.send(start("1", "{ a }"))
	cl.expect("data")
	cl.expect("complete")
}

func TestHandler_RejectsUnknownSubprotocols(t *testing.T) {
	s := newServer(t, Options{})
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	_, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{Subprotocols: []string{"mqtt"}})
	if err == nil {
		t.Fatal("dial with only an unknown subprotocol succeeded")
	}
	if resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("response %v, want 400", resp)
	}
}

func TestHandler_PlainRequestGets426(t *testing.T) {
	s := newServer(t, Options{})
	resp, err := http.Get("http" + strings.TrimPrefix(s.url, "ws"))
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusUpgradeRequired {
		t.Fatalf("status %d, want 426", resp.StatusCode)
	}
}

func TestIsUpgrade(t *testing.T) {
	cases := []struct {
		method, connection, upgrade string
		want                        bool
	}{
		{"GET", "Upgrade", "websocket", true},
		{"GET", "keep-alive, Upgrade", "WebSocket", true},
		{"POST", "Upgrade", "websocket", false},
		{"GET", "keep-alive", "websocket", false},
		{"GET", "Upgrade", "h2c", false},
	}
	for _, tc := range cases {
		r := httptest.NewRequest(tc.method, "/graphql", nil)
		r.Header.Set("Connection", tc.connection)
		r.Header.Set("Upgrade", tc.upgrade)
		if got := IsUpgrade(r); got != tc.want {
			t.Errorf("IsUpgrade(%s, Connection: %s, Upgrade: %s) = %v, want %v", tc.method, tc.connection, tc.upgrade, got, tc.want)
		}
	}
}

func TestHandler_CountsConnections(t *testing.T) {
	s := newServer(t, Options{})
	var clients []*client
	for range 3 {
		clients = append(clients, s.initTransport(t))
	}
	if got := s.h.Connections(); got != 3 {
		t.Fatalf("Connections() = %d, want 3", got)
	}
	for _, cl := range clients {
		_ = cl.c.Close(websocket.StatusNormalClosure, "")
	}
	eventually(t, "every connection is gone", func() bool { return s.h.Connections() == 0 })
}

func TestHandler_ShutdownCompletesSubscriptionsThenCloses1001(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			modern := s.initTransport(t)
			modern.send(subscribe("a", "subscription { a }"))
			modern.send(subscribe("b", "subscription { b }"))
			legacy := s.initLegacy(t)
			legacy.send(start("c", "subscription { c }"))
			streams := map[string]*fakeSub{}
			for range 3 {
				fs := s.exec.nextSub(t)
				streams[fs.req.Query] = fs
			}
			notInit := s.dial(t, ProtocolTransportWS)

			streams["subscription { a }"].push(t, `{"data":{"last":true}}`)
			done := make(chan struct{})
			go func() {
				defer close(done)
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				s.h.Shutdown(ctx, ShutdownOptions{Complete: true})
			}()

			// Whatever was queued is delivered before the completes.
			var events []string
			for {
				msg := modern.read()
				events = append(events, msg.Type+":"+msg.ID)
				if len(events) == 3 {
					break
				}
			}
			if events[0] != "next:a" {
				t.Errorf("first event %s, want the queued next:a", events[0])
			}
			got := strings.Join(events[1:], ",")
			if got != "complete:a,complete:b" && got != "complete:b,complete:a" {
				t.Errorf("events %v, want a complete for a and b", events)
			}
			modern.expectClose(1001, "")
			legacy.expect("complete")
			legacy.expectClose(1001, "")
			notInit.expectClose(1001, "")

			select {
			case <-done:
			case <-time.After(wait):
				t.Fatal("Shutdown did not return")
			}
			for _, fs := range streams {
				fs.waitClosed(t)
			}
			if got := s.h.Connections(); got != 0 {
				t.Fatalf("Connections() = %d after Shutdown", got)
			}
			// New connections are refused.
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			_, resp, err := websocket.Dial(ctx, s.url, &websocket.DialOptions{Subprotocols: []string{ProtocolTransportWS}})
			if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("dial after Shutdown: %v %v, want 503", err, resp)
			}
		})
	}
}

func TestHandler_ShutdownGivesUpOnUnresponsiveClientsWhenContextEnds(t *testing.T) {
	s := newServer(t, Options{})
	cl := s.initTransport(t)
	cl.send(subscribe("a", "subscription { a }"))
	fs := s.exec.nextSub(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	// The client's reader answers the close at once, so the context's end is not needed;
	// either way Shutdown must return with every stream closed.
	s.h.Shutdown(ctx, ShutdownOptions{Complete: true})
	fs.waitClosed(t)
	if got := s.h.Connections(); got != 0 {
		t.Fatalf("Connections() = %d after Shutdown", got)
	}
}

// A client that stops reading fills the socket; the writer hands the rest to a blocking
// write and everything still arrives in order once the client reads again.
func TestHandler_SlowReaderGetsEverythingInOrder(t *testing.T) {
	s := newServer(t, Options{})
	s.exec.queueSize = 10000
	cl := s.initTransport(t)
	cl.send(subscribe("big", "subscription { a }"))
	fs := s.exec.nextSub(t)
	blob := strings.Repeat("x", 64<<10)
	const n = 200 // ~13 MB: far more than the socket buffers hold
	for i := range n {
		fs.push(t, fmt.Sprintf(`{"data":{"seq":%d,"blob":"%s"}}`, i, blob))
	}
	for i := range n {
		m := cl.expect("next")
		var p struct {
			Data struct{ Seq int } `json:"data"`
		}
		if err := json.Unmarshal(m.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if p.Data.Seq != i {
			t.Fatalf("message %d carries seq %d", i, p.Data.Seq)
		}
	}
	fs.stream.Finish(resolve.End{})
	cl.expect("complete")
}

func TestHandler_ClientThatNeverReadsIsDisconnectedAfterWriteTimeout(t *testing.T) {
	s := newServer(t, Options{WriteTimeout: 200 * time.Millisecond})
	s.exec.queueSize = 10000
	nc := rawDial(t, s.url, ProtocolTransportWS, nil)
	writeMasked(t, nc, opText, []byte(`{"type":"connection_init"}`))
	writeMasked(t, nc, opText, []byte(`{"id":"1","type":"subscribe","payload":{"query":"subscription { a }"}}`))
	fs := s.exec.nextSub(t)
	// The client reads nothing from now on. Loopback sockets autotune their buffers (a
	// receive buffer may grow to tcp_rmem's maximum, 32 MiB on some machines), so the test
	// keeps pushing until the transport gives up rather than guessing what the kernel holds;
	// 4,000 × 64 KiB is far more than any socket buffers. Every message shares one
	// payload, as the hub's do.
	payload := []byte(`{"data":{"b":"` + strings.Repeat("x", 64<<10) + `"}}`)
	for range 4000 {
		if fs.isClosed() {
			break
		}
		if ok, _ := fs.stream.Push(resolve.Message{Payload: payload}); !ok {
			break
		}
	}
	fs.waitClosed(t)
	eventually(t, "the connection is gone", func() bool { return s.h.Connections() == 0 })
}

// A client may send its first message in the same packet as the handshake.
func TestHandler_MessageSentWithTheHandshakeIsRead(t *testing.T) {
	for _, m := range modes {
		t.Run(m.name, func(t *testing.T) {
			s := newServer(t, Options{}, m)
			nc := rawDial(t, s.url, ProtocolTransportWS, maskedFrame(opText, []byte(`{"type":"connection_init"}`)))
			br := bufio.NewReader(nc)
			_ = nc.SetReadDeadline(time.Now().Add(wait))
			op, payload := readFrame(t, br)
			if op != opText || string(payload) != `{"type":"connection_ack"}` {
				t.Fatalf("got frame %x %s, want connection_ack", op, payload)
			}
		})
	}
}

// rawDial performs the WebSocket handshake by hand, sending extra right after the request.
func rawDial(t *testing.T, url, protocol string, extra []byte) net.Conn {
	t.Helper()
	addr := strings.TrimPrefix(url, "ws://")
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	req := "GET / HTTP/1.1\r\nHost: " + addr + "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
		"Sec-WebSocket-Protocol: " + protocol + "\r\n\r\n"
	if _, err := nc.Write(append([]byte(req), extra...)); err != nil {
		t.Fatal(err)
	}
	// Read the response byte by byte so no frame after it is swallowed.
	var head []byte
	one := make([]byte, 1)
	_ = nc.SetReadDeadline(time.Now().Add(wait))
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) {
		if _, err := nc.Read(one); err != nil {
			t.Fatalf("handshake response: %v", err)
		}
		head = append(head, one[0])
	}
	_ = nc.SetReadDeadline(time.Time{})
	if !bytes.HasPrefix(head, []byte("HTTP/1.1 101")) {
		t.Fatalf("handshake response %q", head)
	}
	return nc
}

func maskedFrame(op byte, payload []byte) []byte {
	mask := [4]byte{1, 2, 3, 4}
	b := append(appendFrameHeader(nil, op, len(payload)), payload...)
	hdr := len(b) - len(payload)
	b[1] |= 0x80
	out := append(b[:hdr:hdr], mask[:]...)
	for i, c := range payload {
		out = append(out, c^mask[i%4])
	}
	return out
}

func writeMasked(t *testing.T, nc net.Conn, op byte, payload []byte) {
	t.Helper()
	if _, err := nc.Write(maskedFrame(op, payload)); err != nil {
		t.Fatal(err)
	}
}

// readFrame reads one unmasked server frame.
func readFrame(t *testing.T, br *bufio.Reader) (byte, []byte) {
	t.Helper()
	var h [2]byte
	if _, err := io.ReadFull(br, h[:]); err != nil {
		t.Fatalf("read frame: %v", err)
	}
	n := int(h[1] & 0x7F)
	switch n {
	case 126:
		var l [2]byte
		_, _ = io.ReadFull(br, l[:])
		n = int(binary.BigEndian.Uint16(l[:]))
	case 127:
		var l [8]byte
		_, _ = io.ReadFull(br, l[:])
		n = int(binary.BigEndian.Uint64(l[:]))
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(br, p); err != nil {
		t.Fatalf("read frame payload: %v", err)
	}
	return h[0] & 0x0F, p
}
