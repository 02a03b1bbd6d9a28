package h1post

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPost compares one sequential POST with an `_entities`-sized body and answer
// through this client and through net/http (the gateway's default transport settings),
// against the same in-process server. cpu-µs/op is the process's CPU time (user and
// system, server included) per request: the server's share is the same in both.
func BenchmarkPost(b *testing.B) {
	answer := []byte(`{"data":{"_entities":[` + strings.Repeat(`{"__typename":"Employee","name":"Employee 1234"},`, 5) + `{"__typename":"Employee","name":"Employee 1"}]}}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	}))
	b.Cleanup(srv.Close)
	body := []byte(`{"query":"query($representations: [_Any!]!){_entities(representations: $representations){... on Employee {__typename name}}}","variables":{"representations":[` + strings.Repeat(`{"__typename":"Employee","id":1234},`, 5) + `{"__typename":"Employee","id":1}]}}`)
	header := http.Header{"Accept": {"application/json"}, "Content-Type": {"application/json"}, "Accept-Encoding": {"gzip", "deflate"}}

	b.Run("h1post", func(b *testing.B) {
		c, err := New(srv.URL, Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cpu(b, func() {
			resp, err := c.Post(ctx, &Request{Target: "/graphql", Header: header, Body: body})
			if err != nil || !bytes.Equal(resp.Body, answer) {
				b.Fatal(err)
			}
		})
	})
	b.Run("net-http", func(b *testing.B) {
		tr := &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        4096,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			ForceAttemptHTTP2:   true,
		}
		defer tr.CloseIdleConnections()
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cpu(b, func() {
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/graphql", bytes.NewReader(body))
			req.Header = header.Clone()
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			var out bytes.Buffer
			out.ReadFrom(resp.Body)
			resp.Body.Close()
			if !bytes.Equal(out.Bytes(), answer) {
				b.Fatal("answer")
			}
		})
	})
}

// cpu runs op b.N times and reports the process's CPU time per op.
func cpu(b *testing.B, op func()) {
	op() // the connection
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	b.ResetTimer()
	for range b.N {
		op()
	}
	b.StopTimer()
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	used := time.Duration(after.Utime.Nano()-before.Utime.Nano()) + time.Duration(after.Stime.Nano()-before.Stime.Nano())
	b.ReportMetric(float64(used.Microseconds())/float64(b.N), "cpu-µs/op")
}
