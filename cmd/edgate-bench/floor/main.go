// Command floor is the least a gateway can do per event in edgate-bench's subscription
// runs, for reading their CPU figures: it answers each SSE subscription request
// (`employeeUpdated(id: N)` in the body) with a NATS subscription to employeeUpdated.N
// and relays every message as one SSE frame with one write, with no GraphQL at all.
// edgate-bench starts it like the gateway:
//
//	go build -o /tmp/floor ./cmd/edgate-bench/floor
//	edgate-bench -gateway-bin /tmp/floor -config cmd/edgate-bench/testdata/edgate.yaml \
//	    -transport sse -subscribers 10000 -subjects 0 -rate 1000 -duration 10s
//
// Its CPU per delivery is what a NATS message read, a goroutine hand-off and a socket
// write cost on the machine: a gateway cannot go below it without batching those system
// calls. It is a measuring tool, not a server: no errors beyond the bench's happy path,
// no heartbeats, no limits.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"sync"

	"github.com/nats-io/nats.go"
)

func main() {
	flag.String("config", "", "ignored: accepted so that edgate-bench can start it like the gateway")
	addr := flag.String("listen", "127.0.0.1:3002", "address to serve")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "floor:", err)
		os.Exit(1)
	}
}

var idArg = regexp.MustCompile(`employeeUpdated\(id: *(\d+)\)`)

type relay struct {
	nc   *nats.Conn
	msgs chan *nats.Msg
	mu   sync.Mutex
	subs map[string][]net.Conn
}

func run(addr string) error {
	url := os.Getenv("NATS_URL")
	if url == "" {
		url = nats.DefaultURL
	}
	nc, err := nats.Connect(url)
	if err != nil {
		return fmt.Errorf("connect %s: %w", url, err)
	}
	r := &relay{nc: nc, msgs: make(chan *nats.Msg, 65536), subs: map[string][]net.Conn{}}
	go r.route()
	mux := http.NewServeMux()
	mux.HandleFunc("/health/ready", func(w http.ResponseWriter, _ *http.Request) {})
	mux.HandleFunc("/graphql", r.subscribe)
	return http.ListenAndServe(addr, mux)
}

func (r *relay) subscribe(w http.ResponseWriter, req *http.Request) {
	var body bytes.Buffer
	_, _ = body.ReadFrom(req.Body)
	m := idArg.FindSubmatch(body.Bytes())
	if m == nil {
		http.Error(w, "want employeeUpdated(id: N)", http.StatusBadRequest)
		return
	}
	subject := "employeeUpdated." + string(m[1])
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	_ = brw.Flush()
	_, _ = conn.Write([]byte("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n\r\n"))
	r.mu.Lock()
	_, known := r.subs[subject]
	r.subs[subject] = append(r.subs[subject], conn)
	r.mu.Unlock()
	if !known {
		if _, err := r.nc.ChanSubscribe(subject, r.msgs); err != nil {
			_ = conn.Close()
			return
		}
	}
	go discard(conn)
}

// route is the one goroutine that writes: a message read by the NATS client's goroutine
// is handed here (as a gateway hands an event from its broker to its resolver), framed
// and written to each subscriber of its subject.
func (r *relay) route() {
	var frame []byte
	for msg := range r.msgs {
		id := idOf(msg.Data)
		frame = append(frame[:0], "event: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":"...)
		frame = strconv.AppendInt(frame, id, 10)
		frame = append(frame, "}}}\n\n"...)
		r.mu.Lock()
		conns := r.subs[msg.Subject]
		r.mu.Unlock()
		for _, c := range conns {
			_, _ = c.Write(frame)
		}
	}
}

// idOf reads the id of the bench's payload {"__typename":"Employee","id":N}.
func idOf(data []byte) int64 {
	i := bytes.Index(data, []byte(`"id":`))
	if i < 0 {
		return 0
	}
	j := i + 5
	k := j
	for k < len(data) && data[k] >= '0' && data[k] <= '9' {
		k++
	}
	n, _ := strconv.ParseInt(string(data[j:k]), 10, 64)
	return n
}

// discard reads until the client leaves; its goroutine is the floor's only per-client
// cost besides the socket (edgate keeps none).
func discard(c net.Conn) {
	_, _ = bufio.NewReader(c).WriteTo(discardWriter{})
	_ = c.Close()
}

type discardWriter struct{}

func (discardWriter) Write(p []byte) (int, error) { return len(p), nil }
