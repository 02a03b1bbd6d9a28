package sse_test

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/edgate/edgate/sse"
)

// paddedBody is a valid request body of n bytes: a query and JSON whitespace.
func paddedBody(n int) string {
	q := `{"query":"{ hello }"}`
	return q + strings.Repeat(" ", n-len(q))
}

// postBody posts body with a declared length (or, chunked, without one) and reads the
// whole answer.
func postBody(t *testing.T, url, body string, chunked bool) (*http.Response, []byte) {
	t.Helper()
	var r io.Reader = strings.NewReader(body)
	if chunked {
		r = io.MultiReader(r) // hides the length: the client sends it chunked
	}
	req, err := http.NewRequest(http.MethodPost, url, r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST: %v", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, answer
}

// rawPost sends a request's head and the first part of its body on a new connection,
// then reads the answer without sending the rest: an answer proves the body was refused
// unread.
func rawPost(t *testing.T, addr, head, partial string) (*http.Response, []byte, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second)) // the test's own backstop
	if _, err := io.WriteString(nc, "POST /graphql HTTP/1.1\r\nHost: edgate\r\nContent-Type: application/json\r\n"+
		"Accept: application/graphql-response+json\r\n"+head+"\r\n"+partial); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(nc)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no answer before the body was sent: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, br
}

// checkClosed asserts that the server closed the connection (a reset is a close too: the
// client's unread body may still be in the server's socket).
func checkClosed(t *testing.T, br *bufio.Reader) {
	t.Helper()
	n, err := br.Read(make([]byte, 1))
	var ne net.Error
	if err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("read %d more bytes (%v); want the connection closed", n, err)
	}
}

// checkOverBudget asserts the documented answer to a large body over the budget.
func checkOverBudget(t *testing.T, resp *http.Response, body []byte, rate int64, br *bufio.Reader) {
	t.Helper()
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status %d (%s), want 503", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/graphql-response+json" {
		t.Errorf("Content-Type %q", ct)
	}
	// the wait the request would have needed is far over LargeBodyWait
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s <= 5 {
		t.Errorf("Retry-After %q, want the seconds until the bytes are there (over 5)", resp.Header.Get("Retry-After"))
	}
	var doc struct {
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || len(doc.Errors) != 1 {
		t.Fatalf("answer %s: %v", body, err)
	}
	e := doc.Errors[0]
	if e.Extensions["code"] != sse.CodeLargeBodyRate || e.Extensions["limit"] != "limits.max_large_body_rate" || e.Extensions["maximum"] != float64(rate) {
		t.Errorf("extensions %v", e.Extensions)
	}
	if !strings.Contains(e.Message, "limits.max_large_body_rate") {
		t.Errorf("message %q does not name the setting", e.Message)
	}
	if !resp.Close {
		t.Errorf("the 503 keeps the connection open (%v)", resp.Header)
	}
	checkClosed(t, br)
}

// Bodies over 64 KiB share LargeBodyRate: once a large body has spent the bucket, the
// next one, which would wait longer than LargeBodyWait, gets 503 before its body is read,
// whether its length is declared or not; bodies up to 64 KiB still pass at once.
func TestSSE_LargeBodyOverTheRateGets503Unread(t *testing.T) {
	const rate = 1 << 10 // bytes per second: the bucket (1 MiB, MaxBodyBytes) refills in 17 min
	addr, _ := slowBodyServer(t, sse.Options{LargeBodyRate: rate})
	url := "http://" + addr + "/graphql"

	if resp, body := postBody(t, url, paddedBody(600<<10), false); resp.StatusCode != http.StatusOK {
		t.Fatalf("the first large body: status %d (%s), want 200", resp.StatusCode, body)
	}

	t.Run("declared length", func(t *testing.T) {
		resp, body, br := rawPost(t, addr, fmt.Sprintf("Content-Length: %d\r\n", 600<<10), `{"query":`)
		checkOverBudget(t, resp, body, rate, br)
	})
	t.Run("chunked", func(t *testing.T) {
		// a body of unknown length is read up to 64 KiB, then it waits for the worst case
		chunk := paddedBody(64<<10 + 100)
		resp, body, br := rawPost(t, addr, "Transfer-Encoding: chunked\r\n", fmt.Sprintf("%x\r\n%s\r\n", len(chunk), chunk))
		checkOverBudget(t, resp, body, rate, br)
	})
	t.Run("small bodies pass", func(t *testing.T) {
		for _, chunked := range []bool{false, true} {
			if resp, body := postBody(t, url, paddedBody(64<<10), chunked); resp.StatusCode != http.StatusOK {
				t.Errorf("64 KiB body (chunked %v): status %d (%s), want 200", chunked, resp.StatusCode, body)
			}
		}
	})
}

// A large body within LargeBodyWait of its share waits for it and is then served: three
// 900 KiB bodies through a 2 MiB/s budget (a 2 MiB bucket) take at least the time the
// bucket needs to refill the 0.7 MiB the third one lacks.
func TestSSE_LargeBodyWaitsForItsShare(t *testing.T) {
	const rate = 2 << 20
	addr, _ := slowBodyServer(t, sse.Options{LargeBodyRate: rate})
	url := "http://" + addr + "/graphql"
	start := time.Now()
	for i := range 3 {
		if resp, body := postBody(t, url, paddedBody(900<<10), i == 2); resp.StatusCode != http.StatusOK {
			t.Fatalf("body %d: status %d (%s), want 200", i, resp.StatusCode, body)
		}
	}
	lacking := 3*(900<<10) - rate
	if min := time.Duration(float64(lacking) / rate * float64(time.Second)); time.Since(start) < min {
		t.Fatalf("three bodies served in %v; the budget admits them in %v at the earliest", time.Since(start), min)
	}
}

// A negative LargeBodyRate turns the budget off.
func TestSSE_LargeBodyRateOff(t *testing.T) {
	addr, _ := slowBodyServer(t, sse.Options{LargeBodyRate: -1})
	url := "http://" + addr + "/graphql"
	for i := range 4 {
		if resp, body := postBody(t, url, paddedBody(1000<<10), false); resp.StatusCode != http.StatusOK {
			t.Fatalf("body %d: status %d (%s), want 200", i, resp.StatusCode, body)
		}
	}
}

// A body declared larger than MaxBodyBytes gets 413 before a byte of it is read.
func TestSSE_DeclaredTooLargeGets413Unread(t *testing.T) {
	addr, _ := slowBodyServer(t, sse.Options{MaxBodyBytes: 1 << 20})
	resp, body, br := rawPost(t, addr, fmt.Sprintf("Content-Length: %d\r\n", 2<<20), `{"query":`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d (%s), want 413", resp.StatusCode, body)
	}
	if !resp.Close {
		t.Errorf("the 413 keeps the connection open (%v)", resp.Header)
	}
	checkClosed(t, br)
}
