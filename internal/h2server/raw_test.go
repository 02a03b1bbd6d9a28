package h2server_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"

	"github.com/edgate/edgate/internal/netwriter"
)

// rawClient speaks HTTP/2 frame by frame, to test each protocol rule the server relies on.
type rawClient struct {
	t      testing.TB
	nc     net.Conn
	fr     *http2.Framer
	enc    *hpack.Encoder
	encBuf bytes.Buffer
	dec    *hpack.Decoder
	// the server's SETTINGS
	settings map[http2.SettingID]uint32
	// :status of every response head read so far (every HEADERS frame is decoded as it
	// arrives, which keeps the HPACK state right)
	statuses map[uint32]string
}

// dialRaw connects, sends the preface and settings, and reads the server's SETTINGS.
func dialRaw(t testing.TB, ts *testServer, settings ...http2.Setting) *rawClient {
	t.Helper()
	var nc net.Conn
	var err error
	if ts.tls {
		nc, err = tls.Dial("tcp", ts.addr(), &tls.Config{InsecureSkipVerify: true, NextProtos: []string{"h2"}})
	} else {
		nc, err = net.Dial("tcp", ts.addr())
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	c := &rawClient{t: t, nc: nc, settings: map[http2.SettingID]uint32{}, statuses: map[uint32]string{}}
	c.fr = http2.NewFramer(nc, nc)
	c.enc = hpack.NewEncoder(&c.encBuf)
	c.dec = hpack.NewDecoder(4096, nil)
	if _, err := io.WriteString(nc, "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	if err := c.fr.WriteSettings(settings...); err != nil {
		t.Fatal(err)
	}
	for {
		f := c.read()
		if sf, ok := f.(*http2.SettingsFrame); ok && !sf.IsAck() {
			_ = sf.ForeachSetting(func(s http2.Setting) error { c.settings[s.ID] = s.Val; return nil })
			if err := c.fr.WriteSettingsAck(); err != nil {
				t.Fatal(err)
			}
			return c
		}
	}
}

func (c *rawClient) read() http2.Frame {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.t.Fatalf("reading a frame: %v", err)
	}
	if h, ok := f.(*http2.HeadersFrame); ok {
		fields, err := c.dec.DecodeFull(h.HeaderBlockFragment())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, hf := range fields {
			if hf.Name == ":status" {
				c.statuses[h.StreamID] = hf.Value
			}
		}
	}
	return f
}

// expect reads frames until one satisfies ok (others are skipped).
func (c *rawClient) expect(what string, ok func(http2.Frame) bool) http2.Frame {
	c.t.Helper()
	for {
		f := c.read()
		if ok(f) {
			return f
		}
		if ga, isGoAway := f.(*http2.GoAwayFrame); isGoAway && what != "GOAWAY" {
			c.t.Fatalf("waiting for %s: GOAWAY %v", what, ga.ErrCode)
		}
	}
}

func (c *rawClient) headers(id uint32, method, path string, end bool, extra ...hpack.HeaderField) {
	c.t.Helper()
	c.encBuf.Reset()
	fields := append([]hpack.HeaderField{
		{Name: ":method", Value: method}, {Name: ":scheme", Value: "http"},
		{Name: ":path", Value: path}, {Name: ":authority", Value: "localhost"},
	}, extra...)
	for _, f := range fields {
		_ = c.enc.WriteField(f)
	}
	if err := c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: c.encBuf.Bytes(), EndStream: end, EndHeaders: true}); err != nil {
		c.t.Fatal(err)
	}
}

// response reads the response head of stream id and returns its status.
func (c *rawClient) response(id uint32) string {
	c.t.Helper()
	for c.statuses[id] == "" {
		c.read()
	}
	return c.statuses[id]
}

// dataUntil reads DATA of stream id until n bytes (or END_STREAM) arrived.
func (c *rawClient) dataUntil(id uint32, n int) (body []byte, ended bool) {
	c.t.Helper()
	for len(body) < n && !ended {
		f := c.expect("DATA", func(f http2.Frame) bool {
			d, ok := f.(*http2.DataFrame)
			return ok && d.StreamID == id
		}).(*http2.DataFrame)
		body = append(body, f.Data()...)
		ended = f.StreamEnded()
	}
	return body, ended
}

func (c *rawClient) goAway() *http2.GoAwayFrame {
	c.t.Helper()
	return c.expect("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok }).(*http2.GoAwayFrame)
}

func (c *rawClient) rst(id uint32) *http2.RSTStreamFrame {
	c.t.Helper()
	return c.expect("RST_STREAM", func(f http2.Frame) bool {
		r, ok := f.(*http2.RSTStreamFrame)
		return ok && r.StreamID == id
	}).(*http2.RSTStreamFrame)
}

// testBody is a detached body fed by the test.
type testBody struct {
	mu     sync.Mutex
	chunks [][]byte
	end    bool
	waker  netwriter.Waker
	closed chan error
}

func newTestBody() *testBody { return &testBody{closed: make(chan error, 1)} }

func (b *testBody) Next(dst []byte, _ int, _ time.Duration) ([]byte, bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ch := range b.chunks {
		dst = append(dst, ch...)
	}
	b.chunks = nil
	return dst, b.end
}

func (b *testBody) Tick(dst []byte, _ time.Duration) []byte { return dst }

func (b *testBody) Closed(err error) { b.closed <- err }

func (b *testBody) send(p string, end bool) {
	b.mu.Lock()
	b.chunks = append(b.chunks, []byte(p))
	b.end = end
	w := b.waker
	b.mu.Unlock()
	w.Wake()
}

func (b *testBody) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case err := <-b.closed:
		return err
	case <-time.After(5 * time.Second):
		t.Fatal("the body was never closed")
		return nil
	}
}

// detachHandler detaches every request's body to a testBody handed to the test.
func detachHandler(bodies chan<- *testBody) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		d, ok := w.(interface {
			Detach(netwriter.Body) netwriter.Waker
		})
		if !ok {
			panic("not detachable")
		}
		b := newTestBody()
		b.mu.Lock()
		b.waker = d.Detach(b)
		b.mu.Unlock()
		if b.waker == nil {
			panic("stream gone")
		}
		bodies <- b
	})
}

func isErr(err, target error) bool { return errors.Is(err, target) }
