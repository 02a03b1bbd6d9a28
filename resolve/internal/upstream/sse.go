package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// subscribeSSE runs one subscription as one GraphQL-over-SSE response ("distinct
// connections" mode): `next` events carry results, `complete` ends the stream.
func (c *Client) subscribeSSE(ctx context.Context, req Request, h Handler) (*Subscription, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClosed
	}
	c.wg.Add(1) // taken under mu so that Close cannot be waiting already
	c.mu.Unlock()
	started := false
	defer func() {
		if !started {
			c.wg.Done()
		}
	}()

	target := httpURL(req.URL)
	sctx, cancel := context.WithCancel(c.ctx)
	hreq, err := sseRequest(sctx, req, target)
	if err != nil {
		cancel()
		return nil, err
	}
	// The setup wait ends with the caller's ctx or InitTimeout; the stream itself only
	// with Stop or Close.
	timer := time.AfterFunc(c.opts.InitTimeout, cancel)
	unwatch := context.AfterFunc(ctx, cancel)
	resp, err := c.streaming.Do(hreq)
	timer.Stop()
	unwatch()
	if err != nil {
		cancel()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, &Error{Err: fmt.Errorf("sse request to %s: %w", target, err)}
	}
	if sctx.Err() != nil {
		_ = resp.Body.Close()
		cancel()
		return nil, &Error{Err: fmt.Errorf("sse request to %s: no response headers within %s", target, c.opts.InitTimeout)}
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		_ = resp.Body.Close()
		cancel()
		ue := &Error{StatusCode: resp.StatusCode, Err: fmt.Errorf("sse request to %s: %s", target, bytes.TrimSpace(body))}
		if resp.StatusCode == http.StatusBadRequest {
			// GraphQL over HTTP: a request that cannot execute, with its GraphQL errors.
			var gr struct {
				Errors json.RawMessage `json:"errors"`
			}
			if json.Unmarshal(body, &gr) == nil && bytes.HasPrefix(bytes.TrimSpace(gr.Errors), []byte("[")) {
				ue.GraphQLErrors = gr.Errors
			}
		}
		return nil, ue
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "text/event-stream" {
		// A plain GraphQL response instead of a stream: the subgraph rejected the operation.
		body, _ := io.ReadAll(io.LimitReader(resp.Body, c.opts.ReadLimit))
		_ = resp.Body.Close()
		cancel()
		return nil, &Error{GraphQLErrors: graphQLErrors(body), Err: fmt.Errorf("sse request to %s answered %s", target, mt)}
	}
	d := &delivery{h: h}
	started = true
	go c.readSSE(sctx, cancel, resp.Body, d, target)
	return &Subscription{stop: func() {
		d.halt()
		cancel()
	}}, nil
}

func sseRequest(ctx context.Context, req Request, target string) (*http.Request, error) {
	var hreq *http.Request
	var err error
	if req.Protocol == ProtocolSSEPost {
		body, merr := json.Marshal(req.Body)
		if merr != nil {
			return nil, fmt.Errorf("encode subscription: %w", merr)
		}
		hreq, err = http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
		if err == nil {
			hreq.Header = req.Header.Clone()
			if hreq.Header == nil {
				hreq.Header = http.Header{}
			}
			hreq.Header.Set("Content-Type", "application/json")
		}
	} else {
		u, perr := url.Parse(target)
		if perr != nil {
			return nil, fmt.Errorf("subscription url %q: %w", target, perr)
		}
		q := u.Query()
		q.Set("query", req.Body.Query)
		if req.Body.OperationName != "" {
			q.Set("operationName", req.Body.OperationName)
		}
		if len(req.Body.Variables) > 0 && string(req.Body.Variables) != "null" {
			q.Set("variables", string(compactJSON(req.Body.Variables)))
		}
		if len(req.Body.Extensions) > 0 && string(req.Body.Extensions) != "null" {
			q.Set("extensions", string(compactJSON(req.Body.Extensions)))
		}
		u.RawQuery = q.Encode()
		hreq, err = http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err == nil {
			hreq.Header = req.Header.Clone()
			if hreq.Header == nil {
				hreq.Header = http.Header{}
			}
		}
	}
	if err != nil {
		return nil, fmt.Errorf("subscription request to %s: %w", target, err)
	}
	hreq.Header.Set("Accept", "text/event-stream")
	hreq.Header.Set("Cache-Control", "no-cache")
	return hreq, nil
}

// readSSE parses the stream until complete, a failure, or Stop (ctx).
func (c *Client) readSSE(ctx context.Context, cancel context.CancelFunc, body io.ReadCloser, d *delivery, target string) {
	defer c.wg.Done()
	defer cancel()
	defer func() { _ = body.Close() }()
	br := bufio.NewReaderSize(body, 32<<10)
	var event string
	var data []byte
	hasData := false
	for {
		line, err := readLine(br, c.opts.ReadLimit)
		if err != nil {
			if ctx.Err() != nil {
				return // stopped
			}
			if errors.Is(err, io.EOF) {
				err = errors.New("the subgraph ended the stream without complete")
			}
			d.done(&Error{Err: fmt.Errorf("sse stream from %s: %w", target, err)})
			return
		}
		if len(line) == 0 {
			switch event {
			case "", "next":
				if hasData {
					d.next(data)
				}
			case "complete":
				d.done(nil)
				return
			case "error":
				d.done(&Error{GraphQLErrors: graphQLErrors(data), Err: errors.New("error event")})
				return
			}
			event, data, hasData = "", nil, false
			continue
		}
		if line[0] == ':' {
			continue // comment: heartbeat
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			event = string(value)
		case "data":
			if hasData {
				data = append(data, '\n')
			}
			data = append(data, value...)
			hasData = true
		}
	}
}

// readLine returns one line without its line ending; a line longer than limit is an
// error.
func readLine(br *bufio.Reader, limit int64) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if int64(len(line)) > limit {
			return nil, fmt.Errorf("event line longer than %d bytes", limit)
		}
		if err == nil {
			break
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// httpURL maps ws(s):// to http(s)://.
func httpURL(u string) string {
	switch {
	case strings.HasPrefix(u, "ws://"):
		return "http://" + u[len("ws://"):]
	case strings.HasPrefix(u, "wss://"):
		return "https://" + u[len("wss://"):]
	}
	return u
}
