package resolve

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"time"

	"github.com/buger/jsonparser"

	"github.com/edgate/edgate/internal/h1post"
)

// The entity loader's `_entities` requests to a plain-HTTP subgraph go through h1post, a
// lean HTTP/1.1 client that writes the request and reads the answer on the loader's
// goroutine. Through net/http each request costs three goroutine hand-offs (to the
// transport's write loop, back from its read loop, and the body's end to the read loop),
// and at a few hundred requests per second on an otherwise idle gateway each hand-off is a
// scheduler wake-up. The request on the wire is the one httpclient.Do sends (same body,
// the fetch's static headers, forwarded headers, Accept, Content-Type, Accept-Encoding),
// the answer is used the same way (whatever the status, splitEntities decides), and a
// failure sends the events to the general resolver as before. TLS, proxies, query
// parameters, tracing and an HTTP client given in the engine's options stay with net/http.

// entityPost is a target's request through h1post.
type entityPost struct {
	client *h1post.Client
	target string // request target: path and query
	// header is what every request of the target carries before forwarded headers.
	header http.Header
	// the body is prefix, the representations joined by commas, and suffix
	prefix, suffix []byte
}

// newEntityPost returns the h1post path of t, or nil when t's request needs net/http;
// l.mu is held.
func (l *entityLoader) newEntityPost(t *entityTarget) *entityPost {
	// The fetch's input is header, the representations, footer: a JSON object whose
	// "body" starts in header and ends in footer. Joined with no representation it is
	// still valid JSON, and the body's offsets in it tell where the body starts and ends.
	input := make([]byte, 0, len(t.header)+len(t.footer))
	input = append(append(input, t.header...), t.footer...)
	var rawURL, method, body, headers []byte
	start, end := -1, -1
	other := false
	err := jsonparser.ObjectEach(input, func(k, v []byte, _ jsonparser.ValueType, offset int) error {
		switch string(k) {
		case "url":
			rawURL = v
		case "method":
			method = v
		case "body":
			// offset is where the value ends
			body, start, end = v, offset-len(v), offset
		case "header":
			headers = v
		case "query_params", "__trace__":
			other = true // net/http's path
		}
		return nil
	})
	if err != nil || other || string(method) != http.MethodPost || len(body) == 0 {
		return nil
	}
	if start < 0 || start >= len(t.header) || end <= len(t.header) || end > len(input) || !bytes.Equal(input[start:end], body) {
		return nil
	}
	u, err := url.Parse(string(rawURL))
	if err != nil || u.Scheme != "http" || u.User != nil || u.Host == "" {
		return nil
	}
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || proxy != nil {
		return nil
	}
	h := make(http.Header)
	if headers != nil {
		bad := false
		err := jsonparser.ObjectEach(headers, func(k, v []byte, _ jsonparser.ValueType, _ int) error {
			_, err := jsonparser.ArrayEach(v, func(v []byte, _ jsonparser.ValueType, _ int, err error) {
				if err == nil && len(v) > 0 {
					h.Add(string(k), string(v))
				}
			})
			if err != nil {
				bad = true
			}
			return nil
		})
		if err != nil || bad {
			return nil
		}
	}
	h.Add("Accept", "application/json")
	h.Add("Content-Type", "application/json")
	h["Accept-Encoding"] = []string{"gzip", "deflate"}

	origin := u.Scheme + "://" + u.Host
	c := l.posts[origin]
	if c == nil {
		if c, err = h1post.New(origin, h1post.Options{Timeout: l.timeout}); err != nil {
			return nil
		}
		l.posts[origin] = c
	}
	return &entityPost{
		client: c,
		target: u.RequestURI(),
		header: h,
		prefix: bytes.Clone(t.header[start:]),
		suffix: bytes.Clone(t.footer[:end-len(t.header)]),
	}
}

// post makes the request of jobs through t's entityPost and returns the answer's body.
func (l *entityLoader) post(t *entityTarget, forwarded http.Header, jobs []*entityJob) ([]byte, error) {
	p := t.post
	body := joinRepresentations(p.prefix, p.suffix, jobs)
	header := p.header
	if len(forwarded) > 0 {
		// as httpclient: the forwarded headers, then the request's own added
		header = forwarded.Clone()
		for k, vs := range p.header {
			header[k] = append(header[k], vs...)
		}
	}
	start := time.Now()
	resp, err := p.client.Post(l.ctx, &h1post.Request{Target: p.target, Header: header, Body: body})
	status := 0
	if resp != nil {
		status = resp.Status
	}
	l.metrics.ObserveSubgraph(context.Background(), t.subgraph, status, err, time.Since(start))
	if err != nil {
		return nil, err
	}
	return resp.Body, nil
}
