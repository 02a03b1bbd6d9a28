package gateway

import (
	"net/http"
	"strings"
	"testing"
)

func TestGateway_CORSPreflightAndSSEForAllowedOrigins(t *testing.T) {
	g := startGateway(t, withYAML(`cors: { allowed_origins: ["https://app.example.com"] }`))
	req, _ := http.NewRequest(http.MethodOptions, g.URL(), nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "content-type, authorization")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example.com" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "POST") || resp.Header.Get("Access-Control-Allow-Headers") != "content-type, authorization" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}

	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, "", "Origin", "https://app.example.com")
	if got := c.header.Get("Access-Control-Allow-Origin"); got != "https://app.example.com" {
		t.Fatalf("SSE response Access-Control-Allow-Origin = %q", got)
	}
	other := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 1) { id } }`, "", "Origin", "https://evil.example.com")
	if got := other.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("other origin allowed: %q", got)
	}
}
