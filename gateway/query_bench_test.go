package gateway

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// benchWriter is the least a handler needs to answer: what it costs beyond this is the
// gateway's own work per request, without net/http's connection handling.
type benchWriter struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (w *benchWriter) Header() http.Header         { return w.header }
func (w *benchWriter) WriteHeader(status int)      { w.status = status }
func (w *benchWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

func (w *benchWriter) reset() {
	clear(w.header)
	w.status = 0
	w.body.Reset()
}

// BenchmarkQueryHandler runs cached queries through the GraphQL endpoint's handler chain
// (request id, tracing off, CORS, the POST handler, prepared-operation cache, resolver)
// without a network, to count what the gateway allocates and spends per request;
// edgate-bench -mode query measures the same over keep-alive connections.
//
//	go test ./gateway -run '^$' -bench QueryHandler -benchmem
func BenchmarkQueryHandler(b *testing.B) {
	g := startGateway(b)
	h := g.routes()
	for _, bc := range []struct{ name, body, want string }{
		{"typename", `{"query":"{ __typename }"}`, `{"data":{"__typename":"Query"}}`},
		{"one-fetch", `{"query":"{ employee(id: 1) { id name } }"}`, `{"data":{"employee":{"id":1,"name":`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			w := &benchWriter{header: http.Header{}}
			body := strings.NewReader(bc.body)
			req, err := http.NewRequest(http.MethodPost, g.URL(), body)
			if err != nil {
				b.Fatal(err)
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/graphql-response+json, application/json")
			run := func() {
				w.reset()
				body.Reset(bc.body)
				r := *req // net/http makes a request per request too
				r.Body = io.NopCloser(body)
				h.ServeHTTP(w, &r)
			}
			run()
			if w.status != http.StatusOK || !strings.HasPrefix(w.body.String(), bc.want) {
				b.Fatalf("got %d %s, want 200 %s...", w.status, w.body.String(), bc.want)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				run()
			}
		})
	}
}

// BenchmarkQueryLoopback posts cached queries over keep-alive HTTP/1.1 connections, 8
// clients in a closed loop, and reports the process CPU per request (cpu-µs/op) besides
// ns/op. The clients write a prepared request and read the answer by its Content-Length
// with no HTTP library, so most of that CPU is the gateway's: net/http, the handler chain
// and the system calls of one request.
//
//	go test ./gateway -run '^$' -bench QueryLoopback -benchtime 20000x
func BenchmarkQueryLoopback(b *testing.B) {
	g := startGateway(b)
	for _, bc := range []struct{ name, body, want string }{
		{"typename", `{"query":"{ __typename }"}`, `{"data":{"__typename":"Query"}}`},
		{"one-fetch", `{"query":"{ employee(id: 1) { id name } }"}`, `{"data":{"employee":{"id":1,"name":`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			raw := []byte(fmt.Sprintf("POST /graphql HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/graphql-response+json, application/json\r\nContent-Length: %d\r\n\r\n%s", g.Addr(), len(bc.body), bc.body))
			const clients = 8
			conns := make([]*loopClient, clients)
			for i := range conns {
				c, err := net.Dial("tcp", g.Addr())
				if err != nil {
					b.Fatal(err)
				}
				defer c.Close()
				conns[i] = &loopClient{conn: c, r: bufio.NewReader(c), req: raw}
				if body, err := conns[i].do(); err != nil || !strings.HasPrefix(string(body), bc.want) {
					b.Fatalf("got %s (%v), want %s...", body, err, bc.want)
				}
			}
			var next atomic.Int64
			var failed atomic.Value
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			var wg sync.WaitGroup
			for _, c := range conns {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := c.do(); err != nil {
							failed.Store(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			if err := failed.Load(); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		})
	}
}

// loopClient is one keep-alive connection of BenchmarkQueryLoopback.
type loopClient struct {
	conn net.Conn
	r    *bufio.Reader
	req  []byte
	body []byte
}

// do sends the request and returns the body of a 200 answer.
func (c *loopClient) do() ([]byte, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return nil, err
	}
	status, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if !bytes.HasPrefix(status, []byte("HTTP/1.1 200 ")) {
		return nil, fmt.Errorf("status line %q", status)
	}
	length := -1
	for {
		line, err := c.r.ReadSlice('\n')
		if err != nil {
			return nil, err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
		}
	}
	if length < 0 {
		return nil, errors.New("no Content-Length")
	}
	c.body = slices.Grow(c.body[:0], length)[:length]
	_, err = io.ReadFull(c.r, c.body)
	return c.body, err
}
