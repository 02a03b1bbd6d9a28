package h2server_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgate/edgate/internal/h2server"
	"github.com/edgate/edgate/internal/netwriter"
)

func forBoth(t *testing.T, f func(t *testing.T, tlsOn bool)) {
	t.Run("h2c", func(t *testing.T) { f(t, false) })
	t.Run("tls", func(t *testing.T) { f(t, true) })
}

// a Go HTTP/2 client for ts
func h2Client(ts *testServer) *http.Client {
	tr := &http2.Transport{}
	if ts.tls {
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true}
	} else {
		tr.AllowHTTP = true
		tr.DialTLSContext = func(ctx context.Context, network, addr string, _ *tls.Config) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

func (s *testServer) url(path string) string {
	if s.tls {
		return "https://" + s.addr() + path
	}
	return "http://" + s.addr() + path
}

func TestHTTP2_RequestsWithBodiesLargerThanTheWindowsBothWays(t *testing.T) {
	forBoth(t, func(t *testing.T, tlsOn bool) {
		ts := startServer(t, tlsOn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			w.Header().Set("X-Got", fmt.Sprint(len(body), " ", r.Proto, " ", r.Method))
			// answer 3 MiB: more than the client's stream window, in many frames
			_, _ = w.Write(bytes.Repeat(body[:1024], 3*1024))
		}))
		client := h2Client(ts)
		in := bytes.Repeat([]byte("0123456789abcdef"), 300<<10/16) // 300 KiB: beyond the default 64 KiB window
		resp, err := client.Post(ts.url("/graphql"), "application/json", bytes.NewReader(in))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		out, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-Got"); got != fmt.Sprint(len(in), " HTTP/2.0 POST") {
			t.Fatalf("handler saw %q", got)
		}
		if resp.ProtoMajor != 2 || len(out) != 3<<20 || !bytes.Equal(out[:1024], in[:1024]) {
			t.Fatalf("%s response of %d bytes", resp.Proto, len(out))
		}
	})
}

func TestHTTP2_SmallResponseGetsContentLengthAndSniffedType(t *testing.T) {
	ts := startServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "<html><body>hi</body></html>")
	}))
	resp, err := h2Client(ts).Get(ts.url("/"))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.ContentLength != int64(len(body)) || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || resp.Header.Get("Date") == "" {
		t.Fatalf("content-length %d, type %q, date %q", resp.ContentLength, resp.Header.Get("Content-Type"), resp.Header.Get("Date"))
	}
}

func TestHTTP2_ServerSettingsAreAdvertisedAndClientSettingsAcknowledged(t *testing.T) {
	ts := startServer(t, false, conformanceHandler())
	c := dialRaw(t, ts, http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 20})
	want := map[http2.SettingID]uint32{
		http2.SettingMaxConcurrentStreams: 1000,
		http2.SettingInitialWindowSize:    1 << 20,
		http2.SettingMaxFrameSize:         16384,
		http2.SettingMaxHeaderListSize:    1 << 20,
	}
	for id, v := range want {
		if c.settings[id] != v {
			t.Errorf("%v = %d, want %d", id, c.settings[id], v)
		}
	}
	c.expect("SETTINGS ACK", func(f http2.Frame) bool { s, ok := f.(*http2.SettingsFrame); return ok && s.IsAck() })
	c.fr.WritePing(false, [8]byte{1, 2, 3})
	ping := c.expect("PING ACK", func(f http2.Frame) bool { p, ok := f.(*http2.PingFrame); return ok && p.IsAck() }).(*http2.PingFrame)
	if ping.Data != [8]byte{1, 2, 3} {
		t.Fatalf("PING ACK carries %v", ping.Data)
	}
}

func TestHTTP2_StreamWithoutWindowGetsNothingUntilWindowUpdate(t *testing.T) {
	forBoth(t, func(t *testing.T, tlsOn bool) {
		bodies := make(chan *testBody, 4)
		ts := startServer(t, tlsOn, detachHandler(bodies))
		c := dialRaw(t, ts, http2.Setting{ID: http2.SettingInitialWindowSize, Val: 10})
		c.headers(1, "GET", "/", true)
		if st := c.response(1); st != "200" {
			t.Fatalf("status %s", st)
		}
		b := <-bodies
		b.send(strings.Repeat("x", 25), false)
		got, _ := c.dataUntil(1, 10)
		if len(got) != 10 {
			t.Fatalf("%d bytes within a 10-byte window", len(got))
		}
		// nothing more arrives until the client grants window: a PING round trip shows
		// the server had written everything it was going to
		c.fr.WritePing(false, [8]byte{9})
		c.expect("PING ACK", func(f http2.Frame) bool {
			if d, ok := f.(*http2.DataFrame); ok && d.StreamID == 1 {
				t.Fatalf("DATA beyond the window: %q", d.Data())
			}
			p, ok := f.(*http2.PingFrame)
			return ok && p.IsAck()
		})
		c.fr.WriteWindowUpdate(1, 100)
		rest, _ := c.dataUntil(1, 15)
		if string(rest) != strings.Repeat("x", 15) {
			t.Fatalf("after WINDOW_UPDATE: %q", rest)
		}
		b.send("!", true)
		last, ended := c.dataUntil(1, 1)
		if string(last) != "!" || !ended {
			t.Fatalf("end %q, END_STREAM %v", last, ended)
		}
		if err := b.waitClosed(t); err != nil {
			t.Fatalf("body closed with %v after it ended", err)
		}
	})
}

func TestHTTP2_ConnectionWindowIsSharedAndReplenished(t *testing.T) {
	bodies := make(chan *testBody, 4)
	ts := startServer(t, false, detachHandler(bodies))
	c := dialRaw(t, ts)
	c.headers(1, "GET", "/", true)
	c.response(1)
	b := <-bodies
	// 65535 is the default connection window: 70,000 bytes need a connection WINDOW_UPDATE
	b.send(strings.Repeat("y", 70000), false)
	got, _ := c.dataUntil(1, 65535)
	if len(got) != 65535 {
		t.Fatalf("%d bytes", len(got))
	}
	c.fr.WriteWindowUpdate(0, 10000)
	c.fr.WriteWindowUpdate(1, 0x7fff) // the stream window (65535 - 65535) too
	rest, _ := c.dataUntil(1, 70000-65535)
	if len(rest) != 70000-65535 {
		t.Fatalf("%d more bytes", len(rest))
	}
}

func TestHTTP2_ResetByClientClosesTheDetachedBodyAtOnce(t *testing.T) {
	forBoth(t, func(t *testing.T, tlsOn bool) {
		bodies := make(chan *testBody, 4)
		ts := startServer(t, tlsOn, detachHandler(bodies))
		c := dialRaw(t, ts)
		c.headers(1, "GET", "/", true)
		c.response(1)
		b := <-bodies
		c.fr.WriteRSTStream(1, http2.ErrCodeCancel)
		if err := b.waitClosed(t); err == nil {
			t.Fatal("a reset body was closed as if it had ended")
		}
		// the connection goes on
		c.headers(3, "GET", "/", true)
		c.response(3)
	})
}

func TestHTTP2_StreamsOverMaxConcurrentAreRefused(t *testing.T) {
	bodies := make(chan *testBody, 1100)
	ts := startServer(t, false, detachHandler(bodies))
	c := dialRaw(t, ts)
	for i := range 1000 {
		c.headers(uint32(2*i+1), "GET", "/", true)
	}
	c.headers(2001, "GET", "/", true)
	if r := c.rst(2001); r.ErrCode != http2.ErrCodeRefusedStream {
		t.Fatalf("stream 1001 reset with %v", r.ErrCode)
	}
}

func TestHTTP2_ProtocolErrorsEndTheConnectionWithGoAway(t *testing.T) {
	cases := []struct {
		name string
		send func(c *rawClient)
		code http2.ErrCode
	}{
		{"DATA on an idle stream", func(c *rawClient) { c.fr.WriteData(5, true, []byte("x")) }, http2.ErrCodeProtocol},
		{"HEADERS on an even stream", func(c *rawClient) { c.headers(2, "GET", "/", true) }, http2.ErrCodeProtocol},
		{"frame larger than MAX_FRAME_SIZE", func(c *rawClient) { c.fr.WriteData(1, false, make([]byte, 16385)) }, http2.ErrCodeFrameSize},
		{"connection window overflow", func(c *rawClient) { c.fr.WriteWindowUpdate(0, 0x7fffffff) }, http2.ErrCodeFlowControl},
		{"CONTINUATION without HEADERS", func(c *rawClient) { c.fr.WriteContinuation(1, true, []byte{0x82}) }, http2.ErrCodeProtocol},
		{"invalid SETTINGS_ENABLE_PUSH", func(c *rawClient) { c.fr.WriteSettings(http2.Setting{ID: http2.SettingEnablePush, Val: 2}) }, http2.ErrCodeProtocol},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, false, conformanceHandler())
			c := dialRaw(t, ts)
			tc.send(c)
			if ga := c.goAway(); ga.ErrCode != tc.code {
				t.Fatalf("GOAWAY %v, want %v", ga.ErrCode, tc.code)
			}
		})
	}
}

func TestHTTP2_MalformedRequestsAreReset(t *testing.T) {
	cases := []struct {
		name  string
		extra []hpack.HeaderField
	}{
		{"connection-specific header", []hpack.HeaderField{{Name: "connection", Value: "keep-alive"}}},
		{"TE other than trailers", []hpack.HeaderField{{Name: "te", Value: "gzip"}}},
		{"upper-case field name", []hpack.HeaderField{{Name: "X-Upper", Value: "1"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, false, conformanceHandler())
			c := dialRaw(t, ts)
			c.headers(1, "GET", "/", true, tc.extra...)
			if r := c.rst(1); r.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("RST_STREAM %v", r.ErrCode)
			}
		})
	}
	t.Run("content-length mismatch", func(t *testing.T) {
		ts := startServer(t, false, conformanceHandler())
		c := dialRaw(t, ts)
		c.headers(1, "POST", "/", false, hpack.HeaderField{Name: "content-length", Value: "10"})
		c.fr.WriteData(1, true, []byte("short"))
		if r := c.rst(1); r.ErrCode != http2.ErrCodeProtocol {
			t.Fatalf("RST_STREAM %v", r.ErrCode)
		}
	})
}

func TestHTTP2_HeadersOverTheListLimitGet431(t *testing.T) {
	ts := startServer(t, false, conformanceHandler())
	c := dialRaw(t, ts)
	big := strings.Repeat("v", 16000)
	var extra []hpack.HeaderField
	for i := range 70 { // 70 × 16 KB > 1 MiB
		extra = append(extra, hpack.HeaderField{Name: fmt.Sprintf("x-big-%d", i), Value: big})
	}
	c.encBuf.Reset()
	for _, f := range append([]hpack.HeaderField{{Name: ":method", Value: "GET"}, {Name: ":scheme", Value: "http"}, {Name: ":path", Value: "/"}}, extra...) {
		_ = c.enc.WriteField(f)
	}
	block := c.encBuf.Bytes()
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block[:16000], EndStream: true})
	for block = block[16000:]; len(block) > 0; {
		n := min(len(block), 16000)
		c.fr.WriteContinuation(1, n == len(block), block[:n])
		block = block[n:]
	}
	f := c.expect("GOAWAY", func(f http2.Frame) bool {
		switch f.(type) {
		case *http2.HeadersFrame, *http2.GoAwayFrame:
			return true
		}
		return false
	})
	switch f := f.(type) {
	case *http2.HeadersFrame:
		if st := c.statuses[f.StreamID]; st != "431" {
			t.Fatalf("response %s", st)
		}
	case *http2.GoAwayFrame:
		// the Framer stops decoding far beyond the limit: a connection error is allowed
	default:
		t.Fatalf("unexpected %v", f.Header())
	}
}

func TestHTTP2_ShutdownSendsGoAwayAndClosesOnceStreamsEnd(t *testing.T) {
	forBoth(t, func(t *testing.T, tlsOn bool) {
		bodies := make(chan *testBody, 4)
		ts := startServer(t, tlsOn, detachHandler(bodies))
		c := dialRaw(t, ts)
		c.headers(1, "GET", "/", true)
		c.response(1)
		b := <-bodies
		shut := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			shut <- ts.srv.Shutdown(ctx)
		}()
		if ga := c.goAway(); ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
			t.Fatalf("GOAWAY %v last stream %d", ga.ErrCode, ga.LastStreamID)
		}
		// the open stream still works until it ends
		b.send("bye", true)
		got, ended := c.dataUntil(1, 3)
		if string(got) != "bye" || !ended {
			t.Fatalf("%q ended %v", got, ended)
		}
		_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c.nc); err != nil {
			t.Fatalf("the connection did not close cleanly: %v", err)
		}
		if err := <-shut; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	})
}

// The point of the package: an idle detached stream costs no goroutine.
func TestHTTP2_IdleDetachedStreamsCostNoGoroutine(t *testing.T) {
	bodies := make(chan *testBody, 600)
	ts := startServer(t, false, detachHandler(bodies))
	c := dialRaw(t, ts)
	c.headers(1, "GET", "/", true)
	c.response(1)
	<-bodies
	before := runtime.NumGoroutine()
	const n = 500
	for i := range n {
		c.headers(uint32(3+2*i), "GET", "/", true)
	}
	for range n {
		<-bodies
	}
	// the handlers have returned (or are returning): wait for their goroutines to go
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine()-before > 10 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines for %d idle streams", runtime.NumGoroutine()-before, n)
		}
		runtime.Gosched()
	}
}

func TestHTTP2_HandlersOfOneConnectionRunSixteenAtATimeAndTheRestWait(t *testing.T) {
	release := make(chan struct{})
	var running, most atomic.Int32
	ts := startServer(t, false, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := running.Add(1)
		for m := most.Load(); n > m && !most.CompareAndSwap(m, n); m = most.Load() {
		}
		<-release
		running.Add(-1)
	}))
	c := dialRaw(t, ts)
	for i := range 20 {
		c.headers(uint32(2*i+1), "GET", "/", true)
	}
	deadline := time.Now().Add(5 * time.Second)
	for running.Load() < 16 {
		if time.Now().After(deadline) {
			t.Fatalf("%d handlers running", running.Load())
		}
		runtime.Gosched()
	}
	close(release)
	for i := range 20 {
		if st := c.response(uint32(2*i + 1)); st != "200" {
			t.Fatalf("stream %d: %s", 2*i+1, st)
		}
	}
	if most.Load() != 16 {
		t.Fatalf("%d handlers ran at once, want 16", most.Load())
	}
}

func TestHTTP2_IdleConnectionGetsGoAwayAfterTheIdleTimeout(t *testing.T) {
	pool := netwriter.New(netwriter.Options{Tick: 10 * time.Millisecond})
	t.Cleanup(pool.Close)
	s := h2server.New(h2server.Options{Pool: pool, IdleTimeout: 100 * time.Millisecond})
	c := dialRaw(t, &testServer{srv: nil, tls: false, rawAddr: serveH2C(t, s, conformanceHandler(), true)})
	c.headers(1, "GET", "/", true)
	c.response(1)
	if ga := c.goAway(); ga.ErrCode != http2.ErrCodeNo || ga.LastStreamID != 1 {
		t.Fatalf("GOAWAY %v last %d", ga.ErrCode, ga.LastStreamID)
	}
}

// tickBody is a detached body that sends a heartbeat on every Tick from its due time on.
type tickBody struct {
	due   atomic.Int64 // netwriter clock
	ticks atomic.Int64
}

func (b *tickBody) Next(dst []byte, _ int, _ time.Duration) ([]byte, bool) { return dst, false }
func (b *tickBody) Tick(dst []byte, _ time.Duration) []byte {
	b.ticks.Add(1)
	return append(dst, ": hb\n"...)
}
func (b *tickBody) TickDue() time.Duration { return time.Duration(b.due.Load()) }
func (b *tickBody) Closed(error)           {}

// A detached body that says when it next needs a Tick (netwriter.TickDuer) is not asked
// before then, while another stream of the same connection gets its heartbeats; once
// its time comes its heartbeat goes out.
func TestHTTP2_DetachedBodyIsTickedFromItsDueTimeOn(t *testing.T) {
	pool := netwriter.New(netwriter.Options{Tick: 5 * time.Millisecond})
	t.Cleanup(pool.Close)
	s := h2server.New(h2server.Options{Pool: pool})
	bodies := make(chan *tickBody, 2)
	later, now := &tickBody{}, &tickBody{}
	later.due.Store(int64(time.Hour) + int64(netwriter.Now()))
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		b := now
		if r.URL.Path == "/later" {
			b = later
		}
		if w.(interface {
			Detach(netwriter.Body) netwriter.Waker
		}).Detach(b) == nil {
			t.Error("stream gone")
		}
		bodies <- b
	})
	ts := &testServer{rawAddr: serveH2C(t, s, handler, false)}
	client := h2Client(ts)
	client.Timeout = 0
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	get := func(path string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.url(path), nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		<-bodies
		return resp
	}
	respLater := get("/later")
	respNow := get("/now")
	// three heartbeats on /now: the connection's bodies were visited at least three times
	hb := make([]byte, 3*len(": hb\n"))
	if _, err := io.ReadFull(respNow.Body, hb); err != nil || string(hb) != ": hb\n: hb\n: hb\n" {
		t.Fatalf("read %q: %v", hb, err)
	}
	if n := later.ticks.Load(); n != 0 {
		t.Fatalf("a body due in an hour was ticked %d times", n)
	}
	later.due.Store(0)
	hb = hb[:len(": hb\n")]
	if _, err := io.ReadFull(respLater.Body, hb); err != nil || string(hb) != ": hb\n" {
		t.Fatalf("read %q once due: %v", hb, err)
	}
}

// serveH2C serves h with s on a cleartext listener of its own (prior-knowledge HTTP/2, and
// HTTP/1.1 too when http1) until the test ends, and returns the listener's address.
func serveH2C(t *testing.T, s *h2server.Server, h http.Handler, http1 bool) string {
	t.Helper()
	hs := &http.Server{Handler: h}
	var protocols http.Protocols
	protocols.SetHTTP1(http1)
	protocols.SetUnencryptedHTTP2(true)
	hs.Protocols = &protocols
	s.Configure(hs)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Close() })
	return ln.Addr().String()
}
