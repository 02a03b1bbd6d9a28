package sse_test

import (
	"context"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/edgate/edgate/sse"
)

var retryField = regexp.MustCompile(`^retry: (\d+)\n\n`)

// retryMillis reads the retry field at the start of s; ok is false when there is none.
func retryMillis(s string) (ms int, rest string, ok bool) {
	m := retryField.FindStringSubmatch(s)
	if m == nil {
		return 0, s, false
	}
	ms, _ = strconv.Atoi(m[1])
	return ms, s[len(m[0]):], true
}

func TestSSE_StreamStartsWithARetryHintBetweenHalfAndAllOfTheInterval(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute, RetryInterval: 800 * time.Millisecond})
	ctx, cancel := requestContext(t)
	defer cancel()
	for i := range 5 {
		resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
		sub := f.next(t)
		ms, _, ok := retryMillis(newFrames(resp).next(t))
		if !ok || ms < 400 || ms > 800 {
			t.Fatalf("stream %d: first frame is not a retry hint in [400, 800] ms (got %d, ok=%v)", i, ms, ok)
		}
		resp.Body.Close()
		sub.waitClosed(t)
	}
}

func TestSSE_MultipartAndQueryStreamsGetNoRetryHint(t *testing.T) {
	srv, _, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute, RetryInterval: time.Second})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody("{ hello }"))
	body, _ := io.ReadAll(resp.Body)
	if _, _, ok := retryMillis(string(body)); ok {
		t.Errorf("a query's event stream got a retry hint: %q", body)
	}
	mp := post(t, ctx, srv.URL, "multipart/mixed", gqlBody(subscriptionQuery))
	sub := f.next(t)
	sub.push(t, "1", `{"data":{}}`)
	want := "\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{\"payload\":{\"data\":{}}}\r\n--graphql"
	readExactly(t, mp.Body, want)
	mp.Body.Close()
	sub.waitClosed(t)
}

// The default shutdown moves subscriptions instead of ending them: the SSE stream ends
// after its queued events and a retry hint, without complete; a multipart stream ends
// without its close delimiter.
func TestShutdown_ReconnectEndsStreamsWithARetryHintAndNoComplete(t *testing.T) {
	srv, h, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute, RetryInterval: time.Second})
	ctx, cancel := requestContext(t)
	defer cancel()
	resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
	sub := f.next(t)
	mp := post(t, ctx, srv.URL, "multipart/mixed", gqlBody(subscriptionQuery))
	mpSub := f.next(t)
	sub.push(t, "5", `{"data":{}}`)

	h.Shutdown(context.Background(), sse.ShutdownOptions{})

	body, _ := io.ReadAll(resp.Body)
	_, rest, ok := retryMillis(string(body))
	if !ok {
		t.Fatalf("no retry hint at the stream's start: %q", body)
	}
	want := "id: 5\nevent: next\ndata: {\"data\":{}}\n\n"
	if len(rest) < len(want) || rest[:len(want)] != want {
		t.Fatalf("queued event not delivered before the end: %q", rest)
	}
	ms, rest, ok := retryMillis(rest[len(want):])
	if !ok || ms < 500 || ms > 1000 || rest != "" {
		t.Errorf("stream end: want only a retry hint in [500, 1000] ms, got %q", body)
	}
	mpBody, _ := io.ReadAll(mp.Body)
	if regexp.MustCompile(regexp.QuoteMeta("--graphql--")).Match(mpBody) {
		t.Errorf("multipart stream ended with its close delimiter: %q", mpBody)
	}
	sub.waitClosed(t)
	mpSub.waitClosed(t)
	if resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery)); resp.StatusCode != http.StatusServiceUnavailable {
		t.Errorf("subscription after shutdown: %d, want 503", resp.StatusCode)
	}
}

// Shutdown spreads the ends of the open streams over its window: the first ends at once,
// the last not before the window has passed.
func TestShutdown_SpreadsStreamEndsOverTheWindow(t *testing.T) {
	srv, h, f := newServer(t, sse.Options{HeartbeatInterval: time.Minute})
	ctx, cancel := requestContext(t)
	defer cancel()
	const n, window = 4, 300 * time.Millisecond
	ended := make(chan time.Time, n)
	for range n {
		resp := post(t, ctx, srv.URL, "text/event-stream", gqlBody(subscriptionQuery))
		f.next(t)
		go func() {
			_, _ = io.Copy(io.Discard, resp.Body)
			ended <- time.Now()
		}()
	}
	t0 := time.Now()
	h.Shutdown(context.Background(), sse.ShutdownOptions{Window: window})
	if took := time.Since(t0); took < window {
		t.Errorf("Shutdown returned after %v, before its window of %v", took, window)
	}
	var last time.Duration
	for range n {
		last = max(last, (<-ended).Sub(t0))
	}
	if last < window {
		t.Errorf("the last stream ended after %v, before the window of %v", last, window)
	}
}
