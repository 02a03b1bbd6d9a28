package main

import (
	"bytes"
	_ "embed"
	"html/template"
	"net/http"
)

//go:embed page/index.html
var pageHTML string

// The page's icon; browsers that ask for /favicon.ico without reading the page's link get
// it there too.
//
//go:embed page/favicon.svg
var favicon []byte

var pageTemplate = template.Must(template.New("page").Parse(pageHTML))

// pageHandler serves the demo page at "/" and its icon (404 elsewhere). gatewayURL is shown
// on the page; the page itself talks to /graphql on its own origin.
func pageHandler(gatewayURL string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.svg" || r.URL.Path == "/favicon.ico" {
			w.Header().Set("Content-Type", "image/svg+xml")
			w.Header().Set("Cache-Control", "public, max-age=86400")
			_, _ = w.Write(favicon)
			return
		}
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		var buf bytes.Buffer
		if err := pageTemplate.Execute(&buf, struct{ GatewayURL string }{gatewayURL}); err != nil {
			http.Error(w, "render page: "+err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		_, _ = w.Write(buf.Bytes())
	})
}
