package playground

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestWants_BrowsersGetTheIDEAndGraphQLClientsDoNot(t *testing.T) {
	cases := []struct {
		method, accept string
		want           bool
	}{
		{"GET", "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8", true}, // Chrome
		{"GET", "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", true},                       // Firefox
		{"HEAD", "text/html", true},
		{"POST", "text/html", false},
		{"GET", "", false},
		{"GET", "*/*", false},
		{"GET", "application/json", false},
		{"GET", "application/graphql-response+json, application/json;q=0.9", false},
		{"GET", "text/event-stream", false},
		{"GET", `multipart/mixed;subscriptionSpec="1.0", application/json`, false},
		{"GET", "application/json, text/html;q=0.5", false},
		{"GET", "text/html, application/json;q=0.5", true},
		{"GET", "text/html;q=0", false},
	}
	for _, c := range cases {
		r := httptest.NewRequest(c.method, "/graphql", nil)
		if c.accept != "" {
			r.Header.Set("Accept", c.accept)
		}
		if got := Wants(r); got != c.want {
			t.Errorf("%s Accept %q: Wants = %v, want %v", c.method, c.accept, got, c.want)
		}
	}
}

func TestNew_LinksAssetsRelativeToTheEndpoint(t *testing.T) {
	for path, prefix := range map[string]string{"/graphql": "graphql/playground/", "/api/v1/graphql": "graphql/playground/", "/": "playground/", "/gql/": "playground/"} {
		h, err := New(path)
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		h.ServePage(rec, httptest.NewRequest(http.MethodGet, path, nil))
		body := rec.Body.String()
		if want := `src="` + prefix + `main-`; !strings.Contains(body, want) {
			t.Errorf("%s: the page does not load %s...:\n%s", path, want, body)
		}
	}
}
