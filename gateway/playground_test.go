package gateway

import (
	"compress/gzip"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"

func get(t *testing.T, url string, header ...string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	// A transport of its own: the default one asks for gzip and decompresses transparently.
	resp, err := (&http.Transport{DisableCompression: true}).RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func TestGateway_PlaygroundServesTheIDEToBrowsers(t *testing.T) {
	g := startGateway(t)
	resp, page := get(t, g.URL(), "Accept", browserAccept)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" || !strings.Contains(string(page), `<div id="edgate-playground">`) {
		t.Fatalf("page: %d %s\n%s", resp.StatusCode, resp.Header.Get("Content-Type"), page)
	}
	if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-eval") {
		t.Fatalf("page CSP %q", csp)
	}
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("X-Content-Type-Options") != "nosniff" {
		t.Fatalf("page headers %v", resp.Header)
	}

	// Every asset the page links: relative to the endpoint, compressed, cached for good.
	links := regexp.MustCompile(`(?:src|href)="(graphql/playground/[^"]+)"`).FindAllStringSubmatch(string(page), -1)
	wantType := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
	if len(links) != 3 {
		t.Fatalf("page links %v", links)
	}
	base := strings.TrimSuffix(g.URL(), "graphql")
	for _, l := range links {
		url := base + l[1]
		resp, body := get(t, url, "Accept-Encoding", "gzip, deflate, br")
		ext := l[1][strings.LastIndex(l[1], "."):]
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != wantType[ext] || resp.Header.Get("Content-Encoding") != "gzip" ||
			resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
			t.Fatalf("%s: %d %v", l[1], resp.StatusCode, resp.Header)
		}
		zr, err := gzip.NewReader(strings.NewReader(string(body)))
		if err != nil {
			t.Fatalf("%s: not gzip: %v", l[1], err)
		}
		plain, _ := io.ReadAll(zr)
		// A client that does not accept gzip gets the same bytes decompressed.
		resp2, body2 := get(t, url)
		if resp2.StatusCode != 200 || resp2.Header.Get("Content-Encoding") != "" || string(body2) != string(plain) || len(plain) == 0 {
			t.Fatalf("%s without gzip: %d %v, %d bytes, want %d", l[1], resp2.StatusCode, resp2.Header, len(body2), len(plain))
		}
	}
	if resp, body := get(t, g.URL()+"/playground/THIRD-PARTY-LICENSES.txt"); resp.StatusCode != 200 || !strings.Contains(string(body), "graphiql") {
		t.Fatalf("licenses: %d", resp.StatusCode)
	}
	if resp, _ := get(t, g.URL()+"/playground/nope.js"); resp.StatusCode != 404 {
		t.Fatalf("unknown asset: %d", resp.StatusCode)
	}

	// GraphQL clients are not affected: a GET without a query is the same 400 as before.
	resp, body := get(t, g.URL(), "Accept", "application/json")
	if resp.StatusCode != 400 || !strings.Contains(string(body), `"errors"`) {
		t.Fatalf("JSON GET: %d %s", resp.StatusCode, body)
	}
	resp, body = get(t, g.URL()+"?query=%7B__typename%7D", "Accept", "application/graphql-response+json")
	if resp.StatusCode != 200 || string(body) != `{"data":{"__typename":"Query"}}` {
		t.Fatalf("JSON GET: %d %s", resp.StatusCode, body)
	}
}

func TestGateway_PlaygroundCanBeTurnedOff(t *testing.T) {
	g := startGateway(t, withYAML("playground: { enabled: false }"))
	resp, body := get(t, g.URL(), "Accept", browserAccept)
	if resp.StatusCode == 200 || strings.Contains(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(string(body), `"errors"`) {
		t.Fatalf("disabled playground: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if resp, _ := get(t, g.URL()+"/playground/THIRD-PARTY-LICENSES.txt"); resp.StatusCode != 404 {
		t.Fatalf("disabled playground asset: %d", resp.StatusCode)
	}
}
