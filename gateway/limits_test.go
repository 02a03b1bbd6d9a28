package gateway

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// limitErrors decodes a GraphQL response body and returns its first error's extensions.
func limitExtensions(t *testing.T, body []byte) map[string]any {
	t.Helper()
	var resp struct {
		Data   any `json:"data"`
		Errors []struct {
			Message    string         `json:"message"`
			Extensions map[string]any `json:"extensions"`
		} `json:"errors"`
	}
	if err := json.Unmarshal(body, &resp); err != nil {
		t.Fatalf("body %.200s: %v", body, err)
	}
	if len(resp.Errors) != 1 || resp.Data != nil {
		t.Fatalf("body %.300s: want one error and no data", body)
	}
	return resp.Errors[0].Extensions
}

func wantLimit(t *testing.T, ext map[string]any, code, limit string, maximum int) {
	t.Helper()
	if ext["code"] != code || ext["limit"] != limit || ext["maximum"] != float64(maximum) {
		t.Fatalf("extensions %v, want code %s limit %s maximum %d", ext, code, limit, maximum)
	}
}

// doGraphQL sends a GraphQL request and returns the status, content type and body.
func doGraphQL(t *testing.T, req *http.Request) (int, string, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header.Get("Content-Type"), b
}

func postGraphQL(t *testing.T, g *testGateway, accept, query string) (int, string, []byte) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", accept)
	return doGraphQL(t, req)
}

// wideQuery selects n aliased root fields.
func wideQuery(n int) string {
	var b strings.Builder
	b.WriteString("{")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, " a%d: employee(id: 1) { id }", i)
	}
	b.WriteString(" }")
	return b.String()
}

// Every limit is on by default and refuses with its own code, its key and its value.
func TestLimits_DefaultsRefuseEachShapeWithItsCode(t *testing.T) {
	g := startGateway(t)
	deep := "{ employee(id: 1) " + strings.Repeat("{ details ", 40) + "{ id }" + strings.Repeat(" }", 40) + " }"
	var fields strings.Builder
	fields.WriteString("{ employee(id: 1) {")
	for i := 0; i < 501; i++ {
		fields.WriteString(" id")
	}
	fields.WriteString(" } }")
	var chain strings.Builder
	chain.WriteString("{ employee(id: 1) { ...F0 } }")
	for i := 0; i < 30; i++ {
		fmt.Fprintf(&chain, " fragment F%d on Employee { id ...F%d ...F%d }", i, i+1, i+1)
	}
	chain.WriteString(" fragment F30 on Employee { id }")
	var fragments strings.Builder
	fragments.WriteString("{ employee(id: 1) { ...F0 } }")
	for i := 0; i < 201; i++ {
		fmt.Fprintf(&fragments, " fragment F%d on Employee { id }", i)
	}
	var vars strings.Builder
	vars.WriteString("query (")
	for i := 0; i < 101; i++ {
		fmt.Fprintf(&vars, "$v%d: Int ", i)
	}
	vars.WriteString(") { employee(id: 1) { id } }")

	cases := []struct {
		name, query, code, limit string
		maximum                  int
	}{
		{"tokens", "{ employee(id: [" + strings.Repeat(" 1", 15000) + "]) { id } }", "MAX_OPERATION_TOKENS_EXCEEDED", "limits.max_operation_tokens", 15000},
		{"nesting", "{ employee(id: [" + strings.Repeat("[", 130) + strings.Repeat("]", 130) + "]) { id } }", "MAX_OPERATION_NESTING_EXCEEDED", "limits.max_operation_nesting", 128},
		{"depth", deep, "MAX_QUERY_DEPTH_EXCEEDED", "limits.max_query_depth", 32},
		{"fields", fields.String(), "MAX_OPERATION_FIELDS_EXCEEDED", "limits.max_operation_fields", 500},
		{"fields of a fragment chain", chain.String(), "MAX_OPERATION_FIELDS_EXCEEDED", "limits.max_operation_fields", 500},
		{"aliases", "{ employee(id: 1) {" + strings.Repeat(" a: id", 101) + " } }", "MAX_OPERATION_ALIASES_EXCEEDED", "limits.max_operation_aliases", 100},
		{"root fields", "{" + strings.Repeat(" __typename", 65) + " }", "MAX_ROOT_FIELDS_EXCEEDED", "limits.max_root_fields", 64},
		{"fragments", fragments.String(), "MAX_FRAGMENTS_EXCEEDED", "limits.max_fragments", 200},
		{"directives", "{ employee(id: 1) { id" + strings.Repeat(" @skip(if: false)", 11) + " } }", "MAX_DIRECTIVES_PER_LOCATION_EXCEEDED", "limits.max_directives_per_location", 10},
		{"variables", vars.String(), "MAX_VARIABLE_DEFINITIONS_EXCEEDED", "limits.max_variable_definitions", 100},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			status, ctype, body := postGraphQL(t, g, "application/graphql-response+json", c.query)
			if status != http.StatusBadRequest || ctype != "application/graphql-response+json" {
				t.Fatalf("status %d, content type %q, body %.300s", status, ctype, body)
			}
			wantLimit(t, limitExtensions(t, body), c.code, c.limit, c.maximum)
		})
	}

	// An operation within the limits still runs.
	status, _, body := postGraphQL(t, g, "application/graphql-response+json", wideQuery(64))
	if status != http.StatusOK || !strings.Contains(string(body), `"a63":{"id":1}`) {
		t.Fatalf("status %d body %.300s", status, body)
	}
}

// A refused operation gets the same error at once over every transport.
func TestLimits_RefusedOverEveryTransport(t *testing.T) {
	g := startGateway(t)
	query := wideQuery(65) // one root field too many
	sub := "subscription {" + strings.Repeat(" employeeUpdated(id: 1) { id }", 65) + " }"
	check := func(t *testing.T, ext map[string]any) {
		t.Helper()
		wantLimit(t, ext, "MAX_ROOT_FIELDS_EXCEEDED", "limits.max_root_fields", 64)
	}
	checkHTTP := func(t *testing.T, send func() (int, string, []byte)) {
		t.Helper()
		status, ctype, body := send()
		if status != http.StatusBadRequest || ctype != "application/graphql-response+json" {
			t.Fatalf("status %d, content type %q, body %.300s", status, ctype, body)
		}
		check(t, limitExtensions(t, body))
	}

	t.Run("POST", func(t *testing.T) {
		checkHTTP(t, func() (int, string, []byte) { return postGraphQL(t, g, "application/graphql-response+json", query) })
	})
	t.Run("GET", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, g.URL()+"?query="+url.QueryEscape(query), nil)
		req.Header.Set("Accept", "application/graphql-response+json")
		checkHTTP(t, func() (int, string, []byte) { return doGraphQL(t, req) })
	})
	t.Run("multipart", func(t *testing.T) {
		checkHTTP(t, func() (int, string, []byte) {
			return postGraphQL(t, g, `multipart/mixed;subscriptionSpec="1.0", application/graphql-response+json`, sub)
		})
	})
	t.Run("SSE accepting JSON", func(t *testing.T) {
		checkHTTP(t, func() (int, string, []byte) {
			return postGraphQL(t, g, "application/graphql-response+json, text/event-stream;q=0.9", sub)
		})
	})
	// A client that prefers an event stream (EventSource cannot read the body of a failed
	// response) gets the error in an accepted stream, then complete, as for any invalid
	// operation (graphql-sse).
	t.Run("SSE", func(t *testing.T) {
		c := subscribeSSE(t, g.URL(), sub, "")
		select {
		case ev := <-c.events:
			if ev.Event != "next" {
				t.Fatalf("frame %+v", ev)
			}
			check(t, limitExtensions(t, []byte(ev.Data)))
		case <-time.After(10 * time.Second):
			t.Fatal("no frame")
		}
		select {
		case ev := <-c.events:
			if ev.Event != "complete" {
				t.Fatalf("frame %+v", ev)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("no complete")
		}
	})
	for _, proto := range []struct{ name, start string }{
		{"graphql-transport-ws", "subscribe"},
		{"graphql-ws", "start"},
	} {
		t.Run(proto.name, func(t *testing.T) {
			c := dialWS(t, g, proto.name)
			wsSend(t, c, `{"type":"connection_init","payload":{}}`)
			if m := wsRead(t, c); m["type"] != "connection_ack" {
				t.Fatalf("got %v", m)
			}
			payload, _ := json.Marshal(map[string]any{"query": sub})
			wsSend(t, c, fmt.Sprintf(`{"id":"1","type":%q,"payload":%s}`, proto.start, payload))
			m := wsRead(t, c)
			errs, _ := m["payload"].([]any)
			if m["type"] != "error" || m["id"] != "1" || len(errs) != 1 {
				t.Fatalf("got %v", m)
			}
			ext, _ := errs[0].(map[string]any)["extensions"].(map[string]any)
			check(t, ext)
			// the connection stays usable
			wsSend(t, c, fmt.Sprintf(`{"id":"2","type":%q,"payload":{"query":"{ employee(id: 1) { id } }"}}`, proto.start))
			if m := wsRead(t, c); m["id"] != "2" || (m["type"] != "next" && m["type"] != "data") {
				t.Fatalf("got %v", m)
			}
		})
	}
}

// The limits come from the configuration and reload with it; 0 turns one off.
func TestLimits_Configured(t *testing.T) {
	g := startGateway(t, withYAML("limits: { max_root_fields: 2, max_query_depth: 0 }"))
	status, _, body := postGraphQL(t, g, "application/graphql-response+json", wideQuery(3))
	if status != http.StatusBadRequest {
		t.Fatalf("status %d body %s", status, body)
	}
	wantLimit(t, limitExtensions(t, body), "MAX_ROOT_FIELDS_EXCEEDED", "limits.max_root_fields", 2)
	deep := "{ employee(id: 1) " + strings.Repeat("{ details ", 40) + "{ id }" + strings.Repeat(" }", 40) + " }"
	status, _, body = postGraphQL(t, g, "application/graphql-response+json", deep)
	if bytes.Contains(body, []byte("MAX_QUERY_DEPTH")) {
		t.Fatalf("status %d body %.300s", status, body)
	}
}

// A page on another site cannot open a WebSocket to the gateway (cross-site WebSocket
// hijacking); the gateway's own origin, an origin of cors.allowed_origins and clients that
// send no Origin can.
func TestLimits_WebSocketUpgradeChecksOrigin(t *testing.T) {
	g := startGateway(t, withYAML(`cors: { allowed_origins: ["https://app.example.com"] }`))
	upgrade := func(origin string) int {
		req, _ := http.NewRequest(http.MethodGet, g.URL(), nil)
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
		req.Header.Set("Sec-WebSocket-Protocol", "graphql-transport-ws")
		if origin != "" {
			req.Header.Set("Origin", origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for origin, want := range map[string]int{
		"https://evil.example":    http.StatusForbidden,
		"null":                    http.StatusForbidden,
		"http://" + g.Addr():      http.StatusSwitchingProtocols,
		"https://app.example.com": http.StatusSwitchingProtocols,
		"":                        http.StatusSwitchingProtocols,
	} {
		if got := upgrade(origin); got != want {
			t.Errorf("Origin %q: status %d, want %d", origin, got, want)
		}
	}
}

// Request headers over limits.max_header_bytes get 431.
func TestLimits_MaxHeaderBytes(t *testing.T) {
	g := startGateway(t, withYAML(`limits: { max_header_bytes: 8KiB }`))
	req, _ := http.NewRequest(http.MethodGet, g.URL()+"?query=%7B__typename%7D", nil)
	req.Header.Set("X-Big", strings.Repeat("a", 20<<10))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("status %d", resp.StatusCode)
	}
	req.Header.Set("X-Big", "small")
	status, _, body := doGraphQL(t, req)
	if status != http.StatusOK {
		t.Fatalf("status %d body %s", status, body)
	}
}

// limits.max_large_body_rate: once the bucket (at least one body of the maximum size) is
// spent, a body over 64 KiB that would wait more than 5s for its share gets 503 with
// Retry-After and MAX_LARGE_BODY_RATE_EXCEEDED; small requests are served.
func TestLimits_MaxLargeBodyRate(t *testing.T) {
	g := startGateway(t, withYAML(`limits: { max_large_body_rate: 1KiB }`))
	post := func(body []byte) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, g.URL(), bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/graphql-response+json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, b
	}
	hostile, _ := json.Marshal(map[string]string{"query": hostileQueries()["wide_aliases"]})
	resp, body := post(hostile)
	if resp.StatusCode != http.StatusBadRequest || !bytes.Contains(body, []byte("_EXCEEDED")) {
		t.Fatalf("the first 1 MiB body: status %d body %.300s, want the operation limit's 400", resp.StatusCode, body)
	}
	// 100 KiB more, at 1 KiB/s behind the first: over a minute
	large := append([]byte(`{"query":"{ employee(id: 1) { id } }"}`), bytes.Repeat([]byte(" "), 100<<10)...)
	resp, body = post(large)
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d Retry-After %q body %.300s, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	wantLimit(t, limitExtensions(t, body), "MAX_LARGE_BODY_RATE_EXCEEDED", "limits.max_large_body_rate", 1024)
	status, _, body := postGraphQL(t, g, "application/graphql-response+json", "{ employee(id: 1) { id } }")
	if status != http.StatusOK {
		t.Fatalf("a small request after the 503: status %d body %s", status, body)
	}
}
