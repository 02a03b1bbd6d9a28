package ws

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
)

// BenchmarkFlush_CoalescedFrames measures one writer flush: pulling a subscription's
// queued messages, framing them and sending them to a loopback socket in one write.
//
//	go test ./ws -run '^$' -bench Flush -benchmem
func BenchmarkFlush_CoalescedFrames(b *testing.B) {
	for _, batch := range []int{1, 16, 128} {
		b.Run(fmt.Sprintf("messages=%d", batch), func(b *testing.B) {
			c, s := benchConn(b)
			var buf []byte
			st := resolve.NewStream(batch*2, resolve.Disconnect, func() {})
			s.stream = st
			payload := []byte(`{"data":{"employeeUpdated":{"id":1,"details":{"forename":"Jens","surname":"Neuse"}}}}`)
			frame := len(appendResult(nil, s.id, transportWS.nextType, payload))
			b.SetBytes(int64(frame * batch))
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				for range batch {
					st.Push(resolve.Message{Payload: payload})
				}
				c.mu.Lock()
				s.dirty = true
				c.dirty = append(c.dirty, s)
				c.mu.Unlock()
				out, _ := c.Fill(buf[:0], 1<<20, 0)
				if _, err := c.nc.Write(out); err != nil {
					b.Fatal(err)
				}
				buf = out
			}
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*batch), "ns/msg")
		})
	}
}

// benchConn returns a ready connection over loopback TCP whose peer discards everything,
// with one subscription and no writer pool (the benchmark fills and writes).
func benchConn(b *testing.B) (*conn, *subscription) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		peer, err := ln.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, peer)
		_ = peer.Close()
	}()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	_ = ln.Close()
	h := NewHandler(Options{Executor: newFakeExecutor()})
	c := &conn{h: h, nc: nc, proto: transportWS, state: stateReady}
	s := &subscription{id: "1", cancel: func() {}}
	c.subs = []*subscription{s}
	b.Cleanup(func() {
		_ = nc.Close()
		<-done
		h.goroutines.Wait()
	})
	return c, s
}

const (
	idleClientsURL  = "EDGATE_WS_IDLE_CLIENTS_URL"
	idleClientsN    = "EDGATE_WS_IDLE_CLIENTS_N"
	idleClientsSubs = "EDGATE_WS_IDLE_CLIENTS_SUBS"
)

// BenchmarkIdleConnectionMemory measures what an idle graphql-transport-ws subscriber
// (one connection with one subscription) costs the server: Go heap in use plus goroutine
// stacks, per connection. The clients run in a child process so that only the server
// side is counted. Run it once:
//
//	go test ./ws -run '^$' -bench IdleConnectionMemory -benchtime=1x
func BenchmarkIdleConnectionMemory(b *testing.B) {
	n := 2000
	if v, err := strconv.Atoi(os.Getenv(idleClientsN)); err == nil && v > 0 {
		n = v
	}
	for _, m := range modes {
		b.Run(m.name, func(b *testing.B) {
			per, goroutines := measureIdleConnections(b, n, 1, m)
			b.ReportMetric(per.heapAndStacks, "bytes/conn")
			b.ReportMetric(goroutines, "goroutines/conn")
		})
	}
	// What each further subscription on a multiplexed connection adds.
	// Heap only: the freed stacks of the operations' start-up goroutines blur StackInuse.
	b.Run("epoll/subscriptions=10", func(b *testing.B) {
		one, _ := measureIdleConnections(b, n/2, 1, modes[0])
		ten, _ := measureIdleConnections(b, n/2, 10, modes[0])
		b.ReportMetric(ten.heap, "heap-bytes/conn")
		b.ReportMetric((ten.heap-one.heap)/9, "heap-bytes/extra-subscription")
	})
}

// perConn is memory per connection in bytes.
type perConn struct{ heap, stacks, heapAndStacks float64 }

func measureIdleConnections(b *testing.B, n, subsPerConn int, m mode) (per perConn, goroutinesPerConn float64) {
	exec := newFakeExecutor()
	h := NewHandler(Options{Executor: exec, PingInterval: -1, InitTimeout: time.Minute})
	h.forceReaderGoroutine = m.goroutine
	srv := httptest.NewServer(h)
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		h.Shutdown(ctx, ShutdownOptions{Complete: true})
		srv.Close()
	}()

	// Warm up: start the handler's goroutines and buffers with one connection.
	runIdleClients(b, srv.URL, 1, 1, func() {
		<-exec.subscribed
	})
	before := memory()

	var after memStats
	total := n * subsPerConn
	runIdleClients(b, srv.URL, n, subsPerConn, func() {
		subs := make([]*fakeSub, 0, total) // the hub would hold the streams
		for range total {
			select {
			case fs := <-exec.subscribed:
				subs = append(subs, fs)
			case <-time.After(30 * time.Second):
				b.Fatalf("only %d of %d subscriptions arrived", len(subs), total)
			}
		}
		after = memory()
		runtime.KeepAlive(subs)
	})
	delta := func(a, b uint64) float64 { return float64(int64(a)-int64(b)) / float64(n) }
	per = perConn{
		heap:          delta(after.heap, before.heap),
		stacks:        delta(after.stacks, before.stacks),
		heapAndStacks: delta(after.heapAndStacks, before.heapAndStacks),
	}
	goroutines := float64(after.goroutines-before.goroutines) / float64(n)
	b.Logf("%d idle connections (%s, %d subscriptions each): %.0f bytes/conn of heap+stacks (heap %.0f, stacks %.0f), %.2f goroutines/conn",
		n, m.name, subsPerConn, per.heapAndStacks, per.heap, per.stacks, goroutines)
	return per, goroutines
}

type memStats struct {
	heap, stacks, heapAndStacks uint64
	goroutines                  int
}

func memory() memStats {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return memStats{heap: ms.HeapInuse, stacks: ms.StackInuse, heapAndStacks: ms.HeapInuse + ms.StackInuse, goroutines: runtime.NumGoroutine()}
}

// runIdleClients starts a child process holding n subscribed connections, calls measure
// while they are open, then ends the child.
func runIdleClients(b *testing.B, url string, n, subsPerConn int, measure func()) {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestIdleClientsProcess$", "-test.timeout=5m")
	cmd.Env = append(os.Environ(), idleClientsURL+"="+url, idleClientsN+"="+strconv.Itoa(n),
		idleClientsSubs+"="+strconv.Itoa(subsPerConn))
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = stdin.Close()
		_ = cmd.Wait()
	}()
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if sc.Text() == "READY" {
			measure()
			go func() { _, _ = io.Copy(io.Discard, stdout) }()
			return
		}
	}
	b.Fatalf("client process ended before its connections were ready: %v", sc.Err())
}

// TestIdleClientsProcess is the child process of BenchmarkIdleConnectionMemory: it opens
// the connections with hand-made frames (no client library goroutines), subscribes on
// each, prints READY and holds them until stdin closes.
func TestIdleClientsProcess(t *testing.T) {
	url := os.Getenv(idleClientsURL)
	if url == "" {
		t.Skip("helper process of BenchmarkIdleConnectionMemory")
	}
	n, _ := strconv.Atoi(os.Getenv(idleClientsN))
	wsURL := "ws" + strings.TrimPrefix(url, "http")
	subsPerConn, _ := strconv.Atoi(os.Getenv(idleClientsSubs))
	frames := maskedFrame(opText, []byte(`{"type":"connection_init"}`))
	for i := range max(subsPerConn, 1) {
		frames = append(frames, maskedFrame(opText, []byte(`{"id":"`+strconv.Itoa(i)+
			`","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 1) { id } }"}}`))...)
	}
	conns := make([]net.Conn, 0, n)
	for range n {
		nc := rawDial(t, wsURL, ProtocolTransportWS, frames)
		_ = nc.SetReadDeadline(time.Now().Add(wait))
		if op, p := readFrame(t, bufio.NewReaderSize(nc, 64)); op != opText || !strings.Contains(string(p), "connection_ack") {
			t.Fatalf("got %s, want connection_ack", p)
		}
		conns = append(conns, nc)
	}
	fmt.Println("READY")
	_, _ = io.Copy(io.Discard, os.Stdin)
	for _, nc := range conns {
		_ = nc.Close()
	}
}
