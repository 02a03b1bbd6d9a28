package sse_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	r3sse "github.com/r3labs/sse/v2"
	"go.uber.org/goleak"
	"gopkg.in/cenkalti/backoff.v1"

	"github.com/edgate/edgate/internal/netpoll"
	"github.com/edgate/edgate/resolve"
	"github.com/edgate/edgate/sse"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const subscriptionQuery = `subscription { employeeUpdated(id: 1) { id name } }`

func newServer(t *testing.T, opts sse.Options) (*httptest.Server, *sse.Handler, *fakeExecutor) {
	t.Helper()
	f := newFakeExecutor()
	opts.Executor = f
	opts.RetryInterval = noRetryHint(opts.RetryInterval)
	h := sse.NewHandler(opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})
		srv.Close()
	})
	return srv, h, f
}

// noRetryHint turns the `retry:` hint at the start of each stream off for the tests that
// compare stream bytes exactly, unless a test sets an interval; the hint has tests of its
// own (shutdown_test.go).
func noRetryHint(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

func requestContext(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 10*time.Second)
}

// post sends a GraphQL POST with the given Accept header.
func post(t *testing.T, ctx context.Context, url, accept, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func get(t *testing.T, ctx context.Context, rawURL, accept string, header http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func gqlBody(query string) string {
	b, _ := json.Marshal(map[string]any{"query": query})
	return string(b)
}

// frames reads SSE events (everything up to and including the blank line) as raw text.
type frames struct{ r *bufio.Reader }

func newFrames(resp *http.Response) *frames { return &frames{r: bufio.NewReader(resp.Body)} }

func (f *frames) next(t *testing.T) string {
	t.Helper()
	var sb strings.Builder
	for {
		line, err := f.r.ReadString('\n')
		sb.WriteString(line)
		if err != nil {
			t.Fatalf("reading event stream after %q: %v", sb.String(), err)
		}
		if line == "\n" {
			return sb.String()
		}
	}
}

func (f *frames) expectEOF(t *testing.T) {
	t.Helper()
	if rest, err := io.ReadAll(f.r); err != nil || len(rest) != 0 {
		t.Fatalf("expected the stream to end, got %q, %v", rest, err)
	}
}

func readExactly(t *testing.T, r io.Reader, want string) {
	t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(r, got); err != nil {
		t.Fatalf("reading %q: got %q: %v", want, got, err)
	}
	if string(got) != want {
		t.Fatalf("bytes differ\n got: %q\nwant: %q", got, want)
	}
}

func checkSSEHeaders(t *testing.T, resp *http.Response) {
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}
	want := map[string]string{
		"Content-Type":      "text/event-stream",
		"Cache-Control":     "no-cache",
		"X-Accel-Buffering": "no",
	}
	// a close-delimited (hijacked) stream says "Connection: close", which Go's client
	// turns into resp.Close
	if resp.ProtoMajor == 1 && !resp.Close {
		want["Connection"] = "keep-alive"
	}
	for k, v := range want {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
}

// checkHijacked asserts the framing of a subscription whose HTTP/1.1 connection the
// handler hijacked: no Transfer-Encoding, the body ends with the connection.
func checkHijacked(t *testing.T, resp *http.Response) {
	t.Helper()
	if !netpoll.Supported {
		return
	}
	if !resp.Close || len(resp.TransferEncoding) != 0 || resp.ContentLength != -1 {
		t.Errorf("not a close-delimited response: Close %v, Transfer-Encoding %v, Content-Length %d", resp.Close, resp.TransferEncoding, resp.ContentLength)
	}
}

func TestSSE_HeadersArriveBeforeTheFirstEventAndFramesCarryIDs(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute})
	ctx, cancel := requestContext(t)
	defer cancel()

	// Do returns when the response headers arrive; nothing has been pushed yet.
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	checkSSEHeaders(t, resp)
	checkHijacked(t, resp)
	sub := f.next(t)
	if got := sub.op.Request.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("request headers were not passed to the executor: Content-Type %q", got)
	}

	fr := newFrames(resp)
	sub.push(t, "7", `{"data":{"employeeUpdated":{"id":1,"name":"Jens"}}}`)
	if got, want := fr.next(t), "id: 7\nevent: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":1,\"name\":\"Jens\"}}}\n\n"; got != want {
		t.Fatalf("frame\n got %q\nwant %q", got, want)
	}
	sub.push(t, "8", `{"data":{"employeeUpdated":{"id":1,"name":"Björn"}}}`)
	if got, want := fr.next(t), "id: 8\nevent: next\ndata: {\"data\":{\"employeeUpdated\":{\"id\":1,\"name\":\"Björn\"}}}\n\n"; got != want {
		t.Fatalf("frame\n got %q\nwant %q", got, want)
	}
	sub.stream.Finish(resolve.End{})
	if got := fr.next(t); got != "event: complete\ndata:\n\n" {
		t.Fatalf("complete frame %q", got)
	}
	fr.expectEOF(t)
	sub.waitClosed(t)
}

func TestSSE_PayloadWithLineBreaksBecomesSeveralDataLines(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	sub := f.next(t)
	sub.push(t, "1", "{\n  \"data\": {}\r\n}")
	if got, want := newFrames(resp).next(t), "id: 1\nevent: next\ndata: {\ndata:   \"data\": {}\ndata: }\n\n"; got != want {
		t.Fatalf("frame\n got %q\nwant %q", got, want)
	}
}

func TestSSE_HeartbeatCommentWhileIdle(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: 20 * time.Millisecond})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	f.next(t)
	fr := newFrames(resp)
	for i := 0; i < 3; i++ {
		if got := fr.next(t); got != ":\n\n" {
			t.Fatalf("heartbeat %d: %q", i, got)
		}
	}
}

func TestSSE_ClientDisconnectClosesTheStream(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	sub := f.next(t)
	sub.push(t, "1", `{"data":{}}`)
	newFrames(resp).next(t)
	cancel()
	sub.waitClosed(t)
}

func TestSSE_SlowConsumerEndSendsErrorThenComplete(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	sub := f.next(t)
	sub.stream.Finish(resolve.End{Code: resolve.EndSlowConsumer, Reason: "subscriber did not keep up"})
	fr := newFrames(resp)
	want := "event: next\ndata: {\"errors\":[{\"message\":\"subscriber did not keep up\",\"extensions\":{\"code\":\"SLOW_CONSUMER\"}}]}\n\n"
	if got := fr.next(t); got != want {
		t.Fatalf("error frame\n got %q\nwant %q", got, want)
	}
	if got := fr.next(t); got != "event: complete\ndata:\n\n" {
		t.Fatalf("complete frame %q", got)
	}
	fr.expectEOF(t)
	sub.waitClosed(t)
}

func TestSSE_QueueOverflowEndsWithSlowConsumerError(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	f.queueSize = 2
	ctx, cancel := requestContext(t)
	defer cancel()
	// GET, so the handler does not read a body while we fill the queue
	resp := get(t, ctx, srv.URL+"?query="+url.QueryEscape(subscriptionQuery), "text/event-stream", nil)
	sub := f.next(t)
	// push until the stream ends itself: the handler may drain some in between
	for i := 0; ; i++ {
		if queued, _ := sub.stream.Push(resolve.Message{ID: fmt.Sprint(i), Payload: []byte(`{"data":{}}`)}); !queued {
			break
		}
	}
	fr := newFrames(resp)
	for {
		frame := fr.next(t)
		if strings.HasPrefix(frame, "id: ") {
			continue
		}
		if !strings.Contains(frame, `"code":"SLOW_CONSUMER"`) {
			t.Fatalf("expected the slow consumer error, got %q", frame)
		}
		break
	}
	if got := fr.next(t); got != "event: complete\ndata:\n\n" {
		t.Fatalf("complete frame %q", got)
	}
}

func TestSSE_BurstOfThousandArrivesInOrder(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	sub := f.next(t)
	const n = 1000
	go func() {
		for i := 1; i <= n; i++ {
			sub.stream.Push(resolve.Message{ID: fmt.Sprint(i), Payload: fmt.Appendf(nil, `{"data":{"n":%d}}`, i)})
		}
		sub.stream.Finish(resolve.End{})
	}()
	fr := newFrames(resp)
	for i := 1; i <= n; i++ {
		want := fmt.Sprintf("id: %d\nevent: next\ndata: {\"data\":{\"n\":%d}}\n\n", i, i)
		if got := fr.next(t); got != want {
			t.Fatalf("event %d: got %q", i, got)
		}
	}
	if got := fr.next(t); got != "event: complete\ndata:\n\n" {
		t.Fatalf("complete frame %q", got)
	}
}

func TestSSE_GETWithR3labsClientAndLastEventID(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()

	q := url.Values{"query": {subscriptionQuery}}
	client := r3sse.NewClient(srv.URL + "?" + q.Encode())
	client.ReconnectStrategy = &backoff.StopBackOff{}
	client.Headers["Last-Event-ID"] = "41"

	type event struct{ id, event, data string }
	got := make(chan event, 10)
	done := make(chan error, 1)
	go func() {
		done <- client.SubscribeRawWithContext(ctx, func(e *r3sse.Event) {
			got <- event{string(e.ID), string(e.Event), string(e.Data)}
		})
	}()

	sub := f.next(t)
	if sub.opts.LastEventID != "41" {
		t.Errorf("LastEventID = %q, want 41", sub.opts.LastEventID)
	}
	sub.push(t, "42", `{"data":{"x":1}}`)
	sub.push(t, "43", `{"data":{"x":2}}`)
	sub.stream.Finish(resolve.End{})

	want := []event{{"42", "next", `{"data":{"x":1}}`}, {"43", "next", `{"data":{"x":2}}`}, {"43", "complete", ""}}
	for i, w := range want {
		select {
		case e := <-got:
			if e != w {
				t.Fatalf("event %d = %+v, want %+v", i, e, w)
			}
		case <-ctx.Done():
			t.Fatalf("event %d did not arrive", i)
		}
	}
	if err := <-done; err != nil {
		t.Fatalf("client ended with %v", err)
	}
	sub.waitClosed(t)
}

func TestSSE_LastEventIDQueryParameter(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	q := url.Values{"query": {subscriptionQuery}, "lastEventId": {"99-3"}}
	get(t, ctx, srv.URL+"?"+q.Encode(), "text/event-stream", nil)
	if sub := f.next(t); sub.opts.LastEventID != "99-3" {
		t.Fatalf("LastEventID = %q", sub.opts.LastEventID)
	}
}

func TestSSE_QueryIsOneNextThenComplete(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	for _, method := range []string{http.MethodGet, http.MethodPost} {
		var resp *http.Response
		if method == http.MethodGet {
			resp = get(t, ctx, srv.URL+"?query="+url.QueryEscape("{ hello }"), "text/event-stream", nil)
		} else {
			resp = post(t, ctx, srv.URL, "text/event-stream", gqlBody("{ hello }"))
		}
		checkSSEHeaders(t, resp)
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if want := "event: next\ndata: {\"data\":{\"hello\":\"world\"}}\n\nevent: complete\ndata:\n\n"; string(body) != want {
			t.Fatalf("%s body\n got %q\nwant %q", method, body, want)
		}
	}
}

func TestSSE_ValidationErrorIsSentInStream(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody("subscription { invalid }"))
	checkSSEHeaders(t, resp)
	body, _ := io.ReadAll(resp.Body)
	want := "event: next\ndata: {\"errors\":[{\"message\":\"Cannot query field \\\"invalid\\\" on type \\\"Query\\\".\",\"locations\":[{\"line\":1,\"column\":3}]}]}\n\nevent: complete\ndata:\n\n"
	if string(body) != want {
		t.Fatalf("body\n got %q\nwant %q", body, want)
	}
}

func TestSSE_SubscribeRejectionIsSentInStream(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody("subscription { reject }"))
	body, _ := io.ReadAll(resp.Body)
	want := "event: next\ndata: {\"errors\":[{\"message\":\"argument \\\"id\\\" renders \\\"*\\\", which would change the subject\"}]}\n\nevent: complete\ndata:\n\n"
	if string(body) != want {
		t.Fatalf("body\n got %q\nwant %q", body, want)
	}
}

func TestHTTP_QueryOverPOSTAndGET(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	cases := []struct {
		name, accept, wantType string
		resp                   func() *http.Response
	}{
		{"post json", "application/json", "application/json", nil},
		{"post graphql-response", "application/graphql-response+json, application/json;q=0.9", "application/graphql-response+json", nil},
		{"post no accept", "", "application/json", nil},
		{"get wildcard", "*/*", "application/json", nil},
	}
	for _, c := range cases {
		var resp *http.Response
		if strings.HasPrefix(c.name, "get") {
			resp = get(t, ctx, srv.URL+"?query="+url.QueryEscape("{ hello }"), c.accept, nil)
		} else {
			resp = post(t, ctx, srv.URL, c.accept, gqlBody("{ hello }"))
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || string(body) != `{"data":{"hello":"world"}}` || resp.Header.Get("Content-Type") != c.wantType {
			t.Errorf("%s: %d %s %q", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
}

func TestHTTP_MutationOverGETIs405(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	for _, accept := range []string{"application/json", "text/event-stream"} {
		resp := get(t, ctx, srv.URL+"?query="+url.QueryEscape("mutation { publish }"), accept, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "POST" || !strings.Contains(string(body), `"errors"`) {
			t.Errorf("accept %s: %d Allow=%q %s", accept, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	resp := post(t, ctx, srv.URL, "application/json", gqlBody("mutation { publish }"))
	if resp.StatusCode != http.StatusOK {
		t.Errorf("mutation over POST: %d", resp.StatusCode)
	}
}

func TestHTTP_MalformedRequestsAre4xxWithGraphQLErrors(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{MaxBodyBytes: 1024})
	ctx, cancel := requestContext(t)
	defer cancel()
	cases := []struct {
		name, body string
		status     int
		message    string
	}{
		{"bad json", `{"query": "{ hello }"`, 400, "malformed JSON body"},
		{"not an object", `"{ hello }"`, 400, "expected a JSON object"},
		{"batch", `[{"query":"{ hello }"}]`, 400, "batched requests"},
		{"missing query", `{"variables":{}}`, 400, "missing query"},
		{"query not a string", `{"query":1}`, 400, `"query" must be a string`},
		{"variables not an object", `{"query":"{ hello }","variables":[1]}`, 400, `"variables" must be a JSON object`},
		{"too large", `{"query":"` + strings.Repeat("a", 2000) + `"}`, 413, "larger than the limit of 1024 bytes"},
	}
	for _, accept := range []string{"application/json", "application/graphql-response+json"} {
		for _, c := range cases {
			resp := post(t, ctx, srv.URL, accept, c.body)
			body, _ := io.ReadAll(resp.Body)
			var parsed struct {
				Errors []struct{ Message string } `json:"errors"`
			}
			if err := json.Unmarshal(body, &parsed); err != nil || len(parsed.Errors) != 1 {
				t.Errorf("%s/%s: body is not a GraphQL error: %s", accept, c.name, body)
				continue
			}
			if resp.StatusCode != c.status || !strings.Contains(parsed.Errors[0].Message, c.message) || resp.Header.Get("Content-Type") != accept {
				t.Errorf("%s/%s: %d %s %q", accept, c.name, resp.StatusCode, resp.Header.Get("Content-Type"), parsed.Errors[0].Message)
			}
		}
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("query { hello }"))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Errorf("text/plain body: %d", resp.StatusCode)
	}

	req, _ = http.NewRequestWithContext(ctx, http.MethodPut, srv.URL, nil)
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, POST" {
		t.Errorf("PUT: %d Allow=%q", resp.StatusCode, resp.Header.Get("Allow"))
	}
}

// A body is read by its Content-Length when it has one within the limit, and through the
// limit otherwise (chunked); application/json is accepted with parameters and in any case.
func TestHTTP_BodiesWithAndWithoutContentLength(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{MaxBodyBytes: 1024})
	ctx, cancel := requestContext(t)
	defer cancel()
	send := func(contentType string, body io.Reader, length int64) (int, string, string) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, body)
		if err != nil {
			t.Fatal(err)
		}
		req.ContentLength = length // -1: chunked
		req.Header.Set("Content-Type", contentType)
		req.Header.Set("Accept", "application/graphql-response+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Length"), string(b)
	}
	ok := gqlBody("{ hello }")
	want := `{"data":{"hello":"world"}}`
	for _, ct := range []string{"application/json", "Application/JSON", "application/json; charset=utf-8"} {
		if status, length, body := send(ct, strings.NewReader(ok), int64(len(ok))); status != 200 || body != want || length != strconv.Itoa(len(want)) {
			t.Errorf("%s with Content-Length: %d %s (Content-Length %s)", ct, status, body, length)
		}
	}
	// io.MultiReader hides the length from the client, which then sends the body chunked
	if status, _, body := send("application/json", io.MultiReader(strings.NewReader(ok)), -1); status != 200 || body != want {
		t.Errorf("chunked: %d %s", status, body)
	}
	large := `{"query":"` + strings.Repeat("a", 2000) + `"}`
	if status, _, body := send("application/json", io.MultiReader(strings.NewReader(large)), -1); status != 413 || !strings.Contains(body, "larger than the limit of 1024 bytes") {
		t.Errorf("chunked over the limit: %d %s", status, body)
	}
	if status, _, body := send("application/json", strings.NewReader(""), 0); status != 400 || !strings.Contains(body, "empty request body") {
		t.Errorf("empty: %d %s", status, body)
	}
}

func TestHTTP_RequestErrorStatusDependsOnMediaType(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	wantBody := `{"errors":[{"message":"Cannot query field \"invalid\" on type \"Query\".","locations":[{"line":1,"column":3}]}]}`
	cases := []struct {
		accept, wantType string
		status           int
	}{
		{"application/graphql-response+json", "application/graphql-response+json", 400},
		{"application/json", "application/json", 200},
		{"", "application/json", 200},
	}
	for _, c := range cases {
		resp := post(t, ctx, srv.URL, c.accept, gqlBody("{ invalid }"))
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != c.wantType || string(body) != wantBody {
			t.Errorf("accept %q: %d %s %s", c.accept, resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
	}
	// an error that is not the client's is a 500 without internals
	resp := post(t, ctx, srv.URL, "application/json", gqlBody("{ boom }"))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 500 || strings.Contains(string(body), "exploded") {
		t.Errorf("internal error: %d %s", resp.StatusCode, body)
	}
}

func TestHTTP_SubscriptionWithoutStreamingAcceptIs400(t *testing.T) {
	srv, _, _ := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "application/json", gqlBody(subscriptionQuery))
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, s := range []string{"text/event-stream", "multipart/mixed", "WebSocket"} {
		if !strings.Contains(string(body), s) {
			t.Errorf("message does not mention %s: %s", s, body)
		}
	}
}

func TestMultipart_FramesAreByteExact(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: 300 * time.Millisecond})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, `multipart/mixed;boundary="graphql";subscriptionSpec="1.0", application/json`, gqlBody(subscriptionQuery))
	if got := resp.Header.Get("Content-Type"); got != `multipart/mixed;subscriptionSpec="1.0";boundary="graphql"` {
		t.Fatalf("Content-Type %q", got)
	}
	if resp.Header.Get("Cache-Control") != "no-cache" {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
	}
	sub := f.next(t)
	sub.push(t, "1", `{"data":{"employeeUpdated":{"id":1}}}`)
	readExactly(t, resp.Body, "\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{\"payload\":{\"data\":{\"employeeUpdated\":{\"id\":1}}}}\r\n--graphql")
	readExactly(t, resp.Body, "\r\nContent-Type: application/json\r\n\r\n{}\r\n--graphql") // heartbeat
	sub.stream.Finish(resolve.End{})
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "--\r\n" {
		t.Fatalf("end: %q %v", rest, err)
	}
	sub.waitClosed(t)
}

func TestMultipart_FatalEndIsTransportError(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, `multipart/mixed;subscriptionSpec=1.0`, gqlBody(subscriptionQuery))
	sub := f.next(t)
	sub.stream.Finish(resolve.End{Code: resolve.EndReload, Reason: "the operation is no longer valid"})
	body, _ := io.ReadAll(resp.Body)
	want := "\r\n--graphql\r\nContent-Type: application/json\r\n\r\n" +
		`{"payload":null,"errors":[{"message":"the operation is no longer valid","extensions":{"code":"SCHEMA_RELOAD"}}]}` +
		"\r\n--graphql--\r\n"
	if string(body) != want {
		t.Fatalf("body\n got %q\nwant %q", body, want)
	}
}

func TestShutdown_CompletesOpenStreamsAndRefusesNewRequests(t *testing.T) {
	srv, h, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute})
	ctx, cancel := requestContext(t)
	defer cancel()

	var sseResps []*http.Response
	var subs []*fakeSub
	for i := 0; i < 3; i++ {
		sseResps = append(sseResps, post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery)))
		subs = append(subs, f.next(t))
	}
	mp := post(t, ctx, srv.URL, "multipart/mixed", gqlBody(subscriptionQuery))
	subs = append(subs, f.next(t))
	subs[0].push(t, "5", `{"data":{}}`)

	h.Shutdown(context.Background(), sse.ShutdownOptions{Complete: true})

	body, _ := io.ReadAll(sseResps[0].Body)
	if want := "id: 5\nevent: next\ndata: {\"data\":{}}\n\nevent: complete\ndata:\n\n"; string(body) != want {
		t.Errorf("stream 0: %q", body)
	}
	for i, resp := range sseResps[1:] {
		body, _ := io.ReadAll(resp.Body)
		if string(body) != "event: complete\ndata:\n\n" {
			t.Errorf("stream %d: %q", i+1, body)
		}
	}
	body, _ = io.ReadAll(mp.Body)
	if want := "\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{}\r\n--graphql--\r\n"; string(body) != want {
		t.Errorf("multipart: %q", body)
	}
	for _, s := range subs {
		s.waitClosed(t)
	}

	resp := post(t, ctx, srv.URL, "application/json", gqlBody("{ hello }"))
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("request after shutdown: %d", resp.StatusCode)
	}
}
