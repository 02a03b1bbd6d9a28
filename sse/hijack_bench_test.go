//go:build linux

package sse_test

import (
	"context"
	"fmt"
	"net"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/sse"
)

// byteCounter reads streams and signals when the bytes it waits for have arrived.
type byteCounter struct {
	got     atomic.Int64
	want    atomic.Int64
	reached chan struct{}
	timeout *time.Timer
}

func (c *byteCounter) read(conn net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := conn.Read(buf)
		if w := c.want.Load(); c.got.Add(int64(n)) >= w && w > 0 {
			select {
			case c.reached <- struct{}{}:
			default:
			}
		}
		if err != nil {
			return
		}
	}
}

// wait waits until want bytes arrived in total (without allocating: the benchmarks
// report the writer's allocations).
func (c *byteCounter) wait(b *testing.B, want int64) {
	c.want.Store(want)
	if c.timeout == nil {
		c.timeout = time.NewTimer(time.Hour)
	}
	c.timeout.Reset(10 * time.Second)
	for c.got.Load() < want {
		select {
		case <-c.reached:
		case <-c.timeout.C:
			b.Fatalf("%d of %d bytes arrived", c.got.Load(), want)
		}
	}
}

func openHijacked(b *testing.B, n int, opts sse.Options) ([]*fakeSub, *byteCounter, func()) {
	f := newFakeExecutor()
	f.queueSize = 1 << 16
	opts.Executor = f
	opts.HeartbeatInterval = time.Hour
	h := sse.NewHandler(opts)
	srv := httptest.NewServer(h)
	addr := srv.Listener.Addr().String()
	counter := &byteCounter{reached: make(chan struct{}, 1)}
	subs := make([]*fakeSub, n)
	streams := make([]*rawStream, n)
	for i := range n {
		streams[i] = dialStream(b, addr, nil)
		subs[i] = f.next(b)
		go counter.read(streams[i].conn)
	}
	return subs, counter, func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		srv.Close()
		for _, s := range streams {
			s.conn.Close()
		}
	}
}

// BenchmarkHijacked_OneEventToManyStreams measures the writer shards fanning one event out
// to every stream (one op = one delivery: a Pull, a frame, one write(2) on loopback), as
// the hub does for a group. The client side's reads run in the same process and count.
func BenchmarkHijacked_OneEventToManyStreams(b *testing.B) {
	for _, n := range []int{100, 1000} {
		b.Run(fmt.Sprintf("streams=%d", n), func(b *testing.B) {
			subs, counter, stop := openHijacked(b, n, sse.Options{})
			defer stop()
			payload := []byte(`{"data":{"employeeUpdated":{"id":1}}}`)
			frame := int64(len("id: 1000000\nevent: next\ndata: \n\n") + len(payload))
			b.ReportAllocs()
			b.SetBytes(frame)
			var want int64
			b.ResetTimer()
			for i := 0; i < b.N; i += n {
				id := fmt.Sprint(1000000 + i%1000000)
				for _, s := range subs {
					s.stream.Push(resolve.Message{ID: id, Payload: payload})
				}
				want += frame * int64(n)
				counter.wait(b, want)
			}
		})
	}
}

// BenchmarkHijacked_CoalescedMessages pushes batches into one hijacked stream (one op =
// one batch): the shard sends a batch with one write.
func BenchmarkHijacked_CoalescedMessages(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			subs, counter, stop := openHijacked(b, 1, sse.Options{})
			defer stop()
			sub := subs[0]
			payload := []byte(`{"data":{"employeeUpdated":{"id":1,"name":"Jens Neuse","tag":"x"}}}`)
			ids := make([]string, batch)
			frameBytes := 0
			for i := range ids {
				ids[i] = fmt.Sprint(1000000 + i)
				frameBytes += len("id: \nevent: next\ndata: \n\n") + len(ids[i]) + len(payload)
			}
			b.ReportAllocs()
			b.SetBytes(int64(frameBytes))
			var want int64
			b.ResetTimer()
			for b.Loop() {
				for i := range batch {
					sub.stream.Push(resolve.Message{ID: ids[i], Payload: payload})
				}
				want += int64(frameBytes)
				counter.wait(b, want)
			}
		})
	}
}
