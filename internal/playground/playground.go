// Package playground serves the GraphQL IDE (GraphiQL) that browsers get when they open
// the GraphQL endpoint: an HTML page on the endpoint itself and its scripts, styles and
// web workers under the endpoint's path plus "/playground/". Everything is embedded in the
// binary (built by ui/build.mjs into assets/), so the IDE works offline and under a
// Content-Security-Policy that allows nothing but the gateway's own origin.
package playground

import (
	"bytes"
	"compress/gzip"
	"embed"
	"encoding/json"
	"fmt"
	"html/template"
	"io"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strconv"
	"strings"
)

//go:embed assets
var embedded embed.FS

// CSP is the Content-Security-Policy of the page and its assets: scripts, styles, fonts,
// images, workers and requests (queries, SSE) from the gateway's own origin only. Monaco,
// the editor, sets inline styles, hence 'unsafe-inline' for styles (never for scripts);
// GraphiQL's fonts and icons are data: URIs.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
	"font-src 'self' data:; img-src 'self' data: blob:; connect-src 'self'; worker-src 'self'; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the IDE for one GraphQL endpoint path.
type Handler struct {
	prefix string // URL path of the assets, ending in "/"
	page   []byte
	// files are the gzip-compressed assets by file name, served from the binary's
	// embedded data: read into the heap they were 2.2 MiB for the process's lifetime
	// (and twice that of the GC's heap goal), for a page few processes ever serve.
	files map[string]asset
}

// asset is an embedded, gzip-compressed file.
type asset struct {
	path string // in embedded
	size int64
}

type manifest struct {
	Script  string `json:"script"`
	Style   string `json:"style"`
	Favicon string `json:"favicon"`
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>edgate · GraphQL IDE</title>
<link rel="icon" type="image/svg+xml" href="{{.Base}}{{.Favicon}}">
<link rel="stylesheet" href="{{.Base}}{{.Style}}">
<script type="module" src="{{.Base}}{{.Script}}"></script>
</head>
<body>
<div id="edgate-playground"></div>
<noscript>The GraphQL IDE needs JavaScript. The endpoint itself answers GraphQL over HTTP, SSE and WebSocket.</noscript>
</body>
</html>
`))

// New returns the IDE of the endpoint at graphqlPath ("/graphql").
func New(graphqlPath string) (*Handler, error) {
	h := &Handler{prefix: AssetPrefix(graphqlPath), files: map[string]asset{}}
	err := fs.WalkDir(embedded, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".gz") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		h.files[strings.TrimSuffix(path.Base(p), ".gz")] = asset{path: p, size: info.Size()}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("playground assets: %w", err)
	}
	raw, err := embedded.ReadFile("assets/manifest.json")
	if err != nil {
		return nil, fmt.Errorf("playground assets: %w", err)
	}
	var m manifest
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, fmt.Errorf("playground manifest: %w", err)
	}
	for _, f := range []string{m.Script, m.Style, m.Favicon} {
		if _, ok := h.files[f]; !ok || f == "" {
			return nil, fmt.Errorf("playground manifest names %q, which is not built", f)
		}
	}
	// Asset links are relative to the page, so the IDE also works behind a proxy that
	// serves the endpoint under another path prefix.
	base := "playground/"
	if !strings.HasSuffix(graphqlPath, "/") {
		base = path.Base(graphqlPath) + "/" + base
	}
	var page bytes.Buffer
	err = pageTemplate.Execute(&page, struct{ Base, Script, Style, Favicon string }{
		Base: base, Script: m.Script, Style: m.Style, Favicon: m.Favicon,
	})
	if err != nil {
		return nil, err
	}
	h.page = page.Bytes()
	return h, nil
}

// AssetPrefix is the URL path under which the IDE's assets of the endpoint at graphqlPath
// are served: "/graphql" → "/graphql/playground/".
func AssetPrefix(graphqlPath string) string {
	return strings.TrimSuffix(graphqlPath, "/") + "/playground/"
}

// Wants reports whether r is a browser opening the endpoint: a GET or HEAD that prefers
// text/html to every media type of GraphQL over HTTP, SSE and multipart. GraphQL clients
// (which ask for JSON, an event stream or multipart, or for anything with */*) are not
// affected, and neither are WebSocket upgrades (handled before).
func Wants(r *http.Request) bool {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	html, other := -1.0, -1.0
	for _, v := range r.Header.Values("Accept") {
		for part := range strings.SplitSeq(v, ",") {
			media, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil {
				continue
			}
			q := 1.0
			if s, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(s, 64); err == nil {
					q = f
				}
			}
			switch media {
			case "text/html":
				html = max(html, q)
			case "application/json", "application/graphql-response+json", "text/event-stream", "multipart/mixed":
				other = max(other, q)
			}
		}
	}
	return html > 0 && html > other
}

// ServePage writes the IDE's HTML page.
func (h *Handler) ServePage(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	// Revalidated on every load, so a new gateway version's assets are picked up.
	hd.Set("Cache-Control", "no-cache")
	hd.Add("Vary", "Accept")
	securityHeaders(hd)
	hd.Set("Content-Length", strconv.Itoa(len(h.page)))
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(h.page)
}

// ServeAsset serves a file under AssetPrefix: compressed when the client accepts gzip
// (every browser does), decompressed otherwise.
func (h *Handler) ServeAsset(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, h.prefix)
	a, found := h.files[name]
	if !ok || !found || strings.Contains(name, "/") {
		http.NotFound(w, r)
		return
	}
	hd := w.Header()
	ctype := mime.TypeByExtension(path.Ext(name))
	switch path.Ext(name) {
	case ".js":
		ctype = "text/javascript; charset=utf-8"
	case ".css":
		ctype = "text/css; charset=utf-8"
	case ".txt":
		ctype = "text/plain; charset=utf-8"
	case ".ttf":
		ctype = "font/ttf"
	case ".svg":
		ctype = "image/svg+xml"
	}
	if ctype == "" {
		ctype = "application/octet-stream"
	}
	hd.Set("Content-Type", ctype)
	if name == "THIRD-PARTY-LICENSES.txt" {
		hd.Set("Cache-Control", "no-cache")
	} else {
		// Content-hashed names: a file never changes under its name.
		hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	}
	hd.Add("Vary", "Accept-Encoding")
	securityHeaders(hd)
	gz, err := embedded.Open(a.path)
	if err != nil {
		http.Error(w, "missing asset", http.StatusInternalServerError)
		return
	}
	defer gz.Close()
	if acceptsGzip(r) {
		hd.Set("Content-Encoding", "gzip")
		hd.Set("Content-Length", strconv.FormatInt(a.size, 10))
		if r.Method != http.MethodHead {
			_, _ = io.Copy(w, gz)
		}
		return
	}
	zr, err := gzip.NewReader(gz)
	if err != nil {
		http.Error(w, "corrupt asset", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodHead {
		_, _ = io.Copy(w, zr)
	}
}

func securityHeaders(hd http.Header) {
	hd.Set("Content-Security-Policy", CSP)
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "no-referrer")
	hd.Set("X-Frame-Options", "DENY")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
}

func acceptsGzip(r *http.Request) bool {
	for _, v := range r.Header.Values("Accept-Encoding") {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if strings.EqualFold(strings.TrimSpace(coding), "gzip") || strings.TrimSpace(coding) == "*" {
				if q, ok := strings.CutPrefix(strings.TrimSpace(params), "q="); ok {
					if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
						return false
					}
				}
				return true
			}
		}
	}
	return false
}
