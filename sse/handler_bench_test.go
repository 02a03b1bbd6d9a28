package sse_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/sse"
)

// discardWriter is a streaming ResponseWriter that counts bytes and tells the benchmark
// when the expected amount has arrived.
type discardWriter struct {
	header  http.Header
	written atomic.Int64
	want    atomic.Int64
	reached chan struct{}
	writes  atomic.Int64
}

func (w *discardWriter) Header() http.Header { return w.header }
func (w *discardWriter) WriteHeader(int)     {}
func (w *discardWriter) Flush()              {}

// SetWriteDeadline is supported, as by net/http's own writers.
func (w *discardWriter) SetWriteDeadline(time.Time) error { return nil }

func (w *discardWriter) Write(p []byte) (int, error) {
	w.writes.Add(1)
	if n := w.written.Add(int64(len(p))); n >= w.want.Load() && w.want.Load() > 0 {
		select {
		case w.reached <- struct{}{}:
		default:
		}
	}
	return len(p), nil
}

// BenchmarkSSE_CoalescedMessages pushes batches of messages into one subscriber and
// measures the handler turning them into SSE frames (one op = one batch).
func BenchmarkSSE_CoalescedMessages(b *testing.B) {
	for _, batch := range []int{1, 10, 100} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			f := newFakeExecutor()
			f.queueSize = 1 << 16
			h := sse.NewHandler(sse.Options{Executor: f, HeartbeatInterval: time.Hour})
			w := &discardWriter{header: http.Header{}, reached: make(chan struct{}, 1)}
			req := httptest.NewRequest(http.MethodPost, "/graphql", strings.NewReader(gqlBody(subscriptionQuery)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "text/event-stream")
			done := make(chan struct{})
			go func() {
				h.ServeHTTP(w, req)
				close(done)
			}()
			sub := f.next(b)

			payload := []byte(`{"data":{"employeeUpdated":{"id":1,"name":"Jens Neuse","tag":"x"}}}`)
			ids := make([]string, batch)
			frameBytes := 0
			for i := range ids {
				ids[i] = fmt.Sprint(1000000 + i)
				frameBytes += len("id: \nevent: next\ndata: \n\n") + len(ids[i]) + len(payload)
			}
			b.ReportAllocs()
			b.SetBytes(int64(frameBytes))
			b.ResetTimer()
			for b.Loop() {
				w.want.Add(int64(frameBytes))
				for i := range batch {
					sub.stream.Push(resolve.Message{ID: ids[i], Payload: payload})
				}
				<-w.reached
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N*batch)/float64(w.writes.Load()), "msgs/write")
			sub.stream.Finish(resolve.End{})
			<-done
		})
	}
}
