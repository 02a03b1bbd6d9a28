package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// hostileSize is the default request body limit: the largest query a client can send.
const hostileSize = 1 << 20

// hostileQueries are operations of about hostileSize bytes (the JSON body stays under the
// limit) built to be expensive for a GraphQL server: each must be refused by the operation
// limits, at once.
func hostileQueries() map[string]string {
	fill := func(head, unit, tail string) string {
		var b strings.Builder
		b.WriteString(head)
		for b.Len()+len(unit)+len(tail) < hostileSize-1024 {
			b.WriteString(unit)
		}
		b.WriteString(tail)
		return b.String()
	}
	deep := func() string {
		n := (hostileSize - 1024) / 10
		return "{" + strings.Repeat(" a {", n) + " id" + strings.Repeat(" }", n) + " }"
	}
	chain := func() string {
		var b strings.Builder
		b.WriteString("{ employee(id: 1) { ...F0 } }")
		i := 0
		for ; b.Len() < hostileSize-1024; i++ {
			fmt.Fprintf(&b, " fragment F%d on Employee { id ...F%d ...F%d }", i, i+1, i+1)
		}
		fmt.Fprintf(&b, " fragment F%d on Employee { id }", i)
		return b.String()
	}
	n := 0
	return map[string]string{
		"wide_aliases": fill("{", " a: employee(id: 1) { id }", " }"),
		"wide_fields":  fill("{ employee(id: 1) {", " id", " } }"),
		"deep":         deep(),
		"fragments":    chain(),
		"directives":   fill("{ employee(id: 1) { id", " @skip(if: false)", " } }"),
		"variables": func() string {
			var b strings.Builder
			b.WriteString("query (")
			for b.Len() < hostileSize-1024 {
				fmt.Fprintf(&b, "$v%d: Int ", n)
				n++
			}
			b.WriteString(") { employee(id: 1) { id } }")
			return b.String()
		}(),
		"tokens": fill("{ employee(id: [", " 1", "]) { id } }"),
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHostileRequest posts each 1 MiB hostile operation to a gateway and reports the
// time to the answer (ns/op) and the process CPU per request (cpu-ms/op: the gateway's work
// plus the in-process client's, which only writes the prepared body and reads the answer).
//
// The large-body budget is off: it measures each request's own cost, and the default
// budget (limits.max_large_body_rate 16MiB) would make a client that sends these back to
// back wait about 64 ms for each after the first 16.
//
//	go test ./gateway -run '^$' -bench Hostile -benchtime 20x
func BenchmarkHostileRequest(b *testing.B) {
	g := startGateway(b, withYAML("limits: { max_large_body_rate: 0 }"))
	client := &http.Client{}
	for name, query := range hostileQueries() {
		body, _ := json.Marshal(map[string]string{"query": query})
		if len(body) > hostileSize {
			b.Fatalf("%s: body of %d bytes", name, len(body))
		}
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			cpu0 := cpuTime()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/graphql-response+json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(answer, []byte("_EXCEEDED")) {
					b.Fatalf("status %d: %.300s", resp.StatusCode, answer)
				}
			}
			b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N)/1e6, "cpu-ms/op")
		})
	}
}
