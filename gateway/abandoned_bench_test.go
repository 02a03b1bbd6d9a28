package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"runtime/pprof"
	"strings"
	"testing"
	"time"
)

// admittedQueries are the costliest operations the default operation limits let through
// to parsing, normalization, validation and planning (each near one limit: 15,000 tokens,
// 100 aliases, 200 fragments, 100 variables).
func admittedQueries() map[string]string {
	var aliases, fragments, variables strings.Builder
	aliases.WriteString("{")
	for i := range 50 {
		fmt.Fprintf(&aliases, " a%d: employee(id: %d) { x: id name role updatedAt }", i, i)
	}
	aliases.WriteString(" }")
	fragments.WriteString("{ employee(id: 1) {")
	for i := range 200 {
		fmt.Fprintf(&fragments, " ...F%d", i)
	}
	fragments.WriteString(" } }")
	for i := range 200 {
		fmt.Fprintf(&fragments, " fragment F%d on Employee { id name }", i)
	}
	list := "[" + strings.Repeat("1 ", 14900) + "]"
	variables.WriteString("query (")
	for i := range 100 {
		fmt.Fprintf(&variables, "$v%d: [Int] = [%s] ", i, strings.Repeat("1 ", 140))
	}
	variables.WriteString(") { employee(id: 1) { id } }")
	return map[string]string{
		"aliases":   aliases.String(),
		"fragments": fragments.String(),
		"list":      "{ employee(id: 1) { id } topProducts(first: " + list + ") { upc } }",
		"variables": variables.String(),
	}
}

// preparing reports whether a goroutine of the process is preparing an operation.
func preparing() bool {
	var buf bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&buf, 1)
	return bytes.Contains(buf.Bytes(), []byte("resolve.(*pipeline).prepareNew"))
}

// BenchmarkAbandonedRequest posts the costliest operations the default limits admit, each
// time with a different text (a miss of the prepared-operation cache), cancels the request
// as soon as the gateway is preparing it, and measures the time from the cancel until no
// goroutine prepares it any more, i.e. until the gateway stops spending CPU on a client
// that left (target: 100 ms). Reported: stop-ms-max and stop-ms-mean over the canceled
// requests, answer-ms (time to the answer of the same operation when not canceled).
//
//	go test ./gateway -run '^$' -bench Abandoned -benchtime 20x
func BenchmarkAbandonedRequest(b *testing.B) {
	g := startGateway(b)
	client := &http.Client{}
	defer client.CloseIdleConnections()
	seq := 0
	request := func(ctx context.Context, query string) *http.Request {
		seq++
		body, _ := json.Marshal(map[string]string{"query": fmt.Sprintf("# %d\n%s", seq, query)})
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, g.URL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		return req
	}
	for name, query := range admittedQueries() {
		b.Run(name, func(b *testing.B) {
			start := time.Now()
			resp, err := client.Do(request(context.Background(), query))
			if err != nil {
				b.Fatal(err)
			}
			answer, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			answerTime := time.Since(start)
			if bytes.Contains(answer, []byte("_EXCEEDED")) {
				b.Fatalf("refused by a limit: %.300s", answer)
			}

			var worst, total time.Duration
			canceled := 0
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan struct{})
				go func() {
					defer close(done)
					if resp, err := client.Do(request(ctx, query)); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}()
				seen := false
				for !seen {
					select {
					case <-done: // answered before it was seen preparing: not counted
					default:
						seen = preparing()
						continue
					}
					break
				}
				t0 := time.Now()
				cancel()
				if seen {
					for preparing() {
					}
					d := time.Since(t0)
					worst = max(worst, d)
					total += d
					canceled++
				}
				<-done
			}
			b.ReportMetric(float64(answerTime.Microseconds())/1000, "answer-ms")
			if canceled > 0 {
				b.ReportMetric(float64(worst.Microseconds())/1000, "stop-ms-max")
				b.ReportMetric(float64(total.Microseconds())/1000/float64(canceled), "stop-ms-mean")
			}
			b.ReportMetric(float64(canceled), "canceled")
		})
	}
}
