package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/edgate/edgate/testkit/demo"
)

const subscription = "subscription { employeeUpdates { id name role } }"

func startQuickstart(t *testing.T) *quickstart {
	t.Helper()
	q, err := start(context.Background(), options{
		GatewayAddr: "127.0.0.1:0", PageAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0",
		Interval: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	return q
}

func stopQuickstart(t *testing.T, q *quickstart) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q.stop(ctx)
}

func TestQuickstart_SSEGetReceivesEmployeeUpdatesWithNames(t *testing.T) {
	defer noLeakedGoroutines(t)()
	q := startQuickstart(t)
	defer stopQuickstart(t, q)

	data := firstSSEEvent(t, q.GraphQLURL()+"?query="+url.QueryEscape(subscription))
	assertEmployeeUpdate(t, data)
}

func TestQuickstart_PageAndItsForwardedEndpointWork(t *testing.T) {
	defer noLeakedGoroutines(t)()
	q := startQuickstart(t)
	defer stopQuickstart(t, q)

	resp, err := http.Get(q.PageURL())
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		t.Fatalf("page: status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	for _, want := range []string{"new EventSource(", `"graphql-transport-ws"`, q.GraphQLURL(), `<link rel="icon" type="image/svg+xml" href="/favicon.svg">`, `href="/graphql?query=`} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("page does not contain %q", want)
		}
	}
	// The icon, also where browsers look without reading the page.
	for _, path := range []string{"/favicon.svg", "/favicon.ico"} {
		resp, err := http.Get(strings.TrimSuffix(q.PageURL(), "/") + path)
		if err != nil {
			t.Fatal(err)
		}
		icon, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/svg+xml" || !bytes.HasPrefix(icon, []byte("<svg")) {
			t.Errorf("%s: status %d, content type %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
	}
	// The GraphQL IDE, through the page's origin.
	req, _ := http.NewRequest(http.MethodGet, strings.TrimSuffix(q.PageURL(), "/")+"/graphql", nil)
	req.Header.Set("Accept", "text/html")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	ide, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	script := regexp.MustCompile(`src="(graphql/playground/[^"]+)"`).FindSubmatch(ide)
	if resp.StatusCode != http.StatusOK || script == nil {
		t.Fatalf("IDE page: status %d\n%s", resp.StatusCode, ide)
	}
	resp, err = http.Get(strings.TrimSuffix(q.PageURL(), "/") + "/" + string(script[1]))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/javascript; charset=utf-8" {
		t.Fatalf("IDE script through the page's origin: status %d, %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	// The page subscribes on its own origin: SSE with GET ...
	pageGraphQL := strings.TrimSuffix(q.PageURL(), "/") + "/graphql"
	assertEmployeeUpdate(t, firstSSEEvent(t, pageGraphQL+"?query="+url.QueryEscape(subscription)))

	// ... and graphql-transport-ws, as its script does.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(pageGraphQL, "http"), &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	defer conn.CloseNow()
	if conn.Subprotocol() != "graphql-transport-ws" {
		t.Fatalf("subprotocol %q", conn.Subprotocol())
	}
	send := func(msg string) {
		if err := conn.Write(ctx, websocket.MessageText, []byte(msg)); err != nil {
			t.Fatalf("write %s: %v", msg, err)
		}
	}
	read := func() (typ string, payload json.RawMessage) {
		for {
			_, b, err := conn.Read(ctx)
			if err != nil {
				t.Fatalf("read: %v", err)
			}
			var m struct {
				Type    string          `json:"type"`
				Payload json.RawMessage `json:"payload"`
			}
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatalf("message %s: %v", b, err)
			}
			if m.Type == "ping" {
				send(`{"type":"pong"}`)
				continue
			}
			return m.Type, m.Payload
		}
	}
	send(`{"type":"connection_init","payload":{}}`)
	if typ, _ := read(); typ != "connection_ack" {
		t.Fatalf("got %q, want connection_ack", typ)
	}
	send(`{"id":"employees","type":"subscribe","payload":{"query":` + jsonString(subscription) + `}}`)
	typ, payload := read()
	if typ != "next" {
		t.Fatalf("got %q %s, want next", typ, payload)
	}
	assertEmployeeUpdate(t, string(payload))
	conn.Close(websocket.StatusNormalClosure, "")
}

func TestServe_PrintsTheURLsAndStopsWhenCancelled(t *testing.T) {
	defer noLeakedGoroutines(t)()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, options{GatewayAddr: "127.0.0.1:0", PageAddr: "127.0.0.1:0", NATSAddr: "127.0.0.1:0"}, &out)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C") {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("no banner; output so far:\n%s", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	banner := out.String()
	for _, want := range []string{"http://127.0.0.1:", "curl -N -H 'Accept: text/event-stream' 'http://127.0.0.1:",
		"/graphql?query=subscription%7BemployeeUpdates%7Bid%20name%20role%7D%7D'", "pub employeeUpdated.3"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not return after cancel")
	}
}

// firstSSEEvent opens an SSE stream with GET and returns the data of its first "next" event.
func firstSSEEvent(t *testing.T, rawURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("sse: %v", err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		t.Fatalf("sse: status %d, content type %q", resp.StatusCode, ct)
	}
	sc := bufio.NewScanner(resp.Body)
	event := ""
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		case strings.HasPrefix(line, "data:") && event == "next":
			return strings.TrimSpace(strings.TrimPrefix(line, "data:"))
		}
	}
	t.Fatalf("sse stream ended without a next event: %v", sc.Err())
	return ""
}

// assertEmployeeUpdate checks that data is an employeeUpdates result whose name and role
// are those of the demo roster for its id, i.e. were fetched from the employees subgraph.
func assertEmployeeUpdate(t *testing.T, data string) {
	t.Helper()
	var res struct {
		Data struct {
			EmployeeUpdates struct {
				ID   int    `json:"id"`
				Name string `json:"name"`
				Role string `json:"role"`
			} `json:"employeeUpdates"`
		} `json:"data"`
		Errors []json.RawMessage `json:"errors"`
	}
	if err := json.Unmarshal([]byte(data), &res); err != nil || len(res.Errors) > 0 {
		t.Fatalf("result %s: %v", data, err)
	}
	got := res.Data.EmployeeUpdates
	for _, e := range demo.Roster() {
		if e.ID == got.ID {
			if got.Name != e.Name || got.Role != e.Role {
				t.Fatalf("employee %d: got %q / %q, want %q / %q", e.ID, got.Name, got.Role, e.Name, e.Role)
			}
			return
		}
	}
	t.Fatalf("result %s names no demo employee", data)
}

// noLeakedGoroutines returns a check that every goroutine started since the call has ended.
// (goleak cannot parse the deep stacks of the embedded NATS server, so this counts instead.)
func noLeakedGoroutines(t *testing.T) func() {
	before := runtime.NumGoroutine()
	return func() {
		t.Helper()
		http.DefaultClient.CloseIdleConnections()
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				var dump strings.Builder
				_ = pprof.Lookup("goroutine").WriteTo(&dump, 1)
				t.Fatalf("%d goroutines left running (had %d before):\n%s", runtime.NumGoroutine(), before, dump.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func jsonString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
