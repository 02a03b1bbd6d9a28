package sse

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

// FuzzReadRequest: a GraphQL-over-HTTP request body or GET query string either decodes to a
// request or is refused with a client error, never a panic.
func FuzzReadRequest(f *testing.F) {
	for _, s := range []string{
		`{"query":"{ a }"}`,
		`{"query":"query Q($v: Int) { a(x: $v) }","operationName":"Q","variables":{"v":1},"extensions":{"persistedQuery":{}}}`,
		`{"query":null}`, `[{"query":"{a}"}]`, `{"query":1}`, `{"query":"{a}","variables":"x"}`, ``, `{`,
	} {
		f.Add([]byte(s), false)
	}
	for _, s := range []string{"query=%7B+a+%7D", "query={a}&variables={\"v\":1}&operationName=Q", "variables=[]", "query=&query=x", "%zz"} {
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, get bool) {
		var r *http.Request
		if get {
			r = httptest.NewRequest(http.MethodGet, "/graphql", nil)
			r.URL.RawQuery = string(data)
		} else {
			r = httptest.NewRequest(http.MethodPost, "/graphql", bytes.NewReader(data))
			r.Header.Set("Content-Type", "application/json")
		}
		req, _, herr := readRequest(httptest.NewRecorder(), r, bodyLimits{maxBody: 1 << 20, timeout: time.Second})
		switch {
		case herr != nil:
			if herr.status < 400 || herr.status >= 500 || herr.message == "" {
				t.Fatalf("error %+v", herr)
			}
		case req == nil:
			// an empty query string is accepted here and refused by preparation
			t.Fatalf("accepted %q without a request", data)
		}
	})
}

// FuzzNegotiate: any Accept header picks a JSON media type and, at most, one stream format.
func FuzzNegotiate(f *testing.F) {
	for _, s := range []string{
		"text/event-stream", `multipart/mixed;subscriptionSpec="1.0", application/json`,
		"application/graphql-response+json;q=0.9, */*;q=0.1", "text/event-stream;q=x, ;;, a/b;q=1e400", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, accept string) {
		n := negotiate([]string{accept})
		if n.jsonType != mediaJSON && n.jsonType != mediaGraphQLResponse {
			t.Fatalf("json type %q", n.jsonType)
		}
	})
}
