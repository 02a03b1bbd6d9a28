package loadgen

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// sseRequest is the HTTP/1.1 request that opens one SSE subscription, written raw so that
// a subscriber costs a socket, a small read buffer and one goroutine, not an http.Client.
func (p *Pool) sseRequest(sub *Sub) []byte {
	var b bytes.Buffer
	path := p.target.EscapedPath()
	if path == "" {
		path = "/"
	}
	if p.cfg.SSEGet {
		q := p.target.Query()
		p.setQuery(q, sub)
		fmt.Fprintf(&b, "GET %s?%s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\n\r\n", path, q.Encode(), p.target.Host)
		return b.Bytes()
	}
	body := p.requestBody(sub)
	if p.target.RawQuery != "" {
		path += "?" + p.target.RawQuery
	}
	fmt.Fprintf(&b, "POST %s HTTP/1.1\r\nHost: %s\r\nAccept: text/event-stream\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n",
		path, p.target.Host, len(body))
	b.Write(body)
	return b.Bytes()
}

func (p *Pool) requestBody(sub *Sub) []byte {
	body, _ := json.Marshal(p.payload(sub))
	return body
}

// runSSE opens one SSE subscription over its own HTTP/1.1 connection and reads it until
// the pool closes or the stream ends.
func (p *Pool) runSSE(conn int, sub *Sub, opened func()) {
	c, err := p.dialer(conn).DialContext(p.ctx, "tcp", p.target.Host)
	if err != nil {
		sub.Failed(p.failReason(err))
		return
	}
	defer c.Close()
	stop := context.AfterFunc(p.ctx, func() { _ = c.Close() })
	defer stop()
	if _, err := c.Write(p.sseRequest(sub)); err != nil {
		sub.Failed(p.failReason(err))
		return
	}
	br := bufio.NewReaderSize(c, p.cfg.ReadBuffer)
	chunked, err := readResponseHead(br)
	if err != nil {
		sub.Failed(p.failReason(err))
		return
	}
	sub.Opened()
	opened()
	var body io.Reader = br
	if chunked {
		body = httputil.NewChunkedReader(br)
	}
	sub.End(p.endReason(p.readSSE(body, sub)))
}

// readSSE feeds body to an SSE parser until it fails; a clean end returns nil.
func (p *Pool) readSSE(body io.Reader, sub *Sub) error {
	var now int64
	ended := ""
	parser := SSEParser{OnEvent: func(kind EventKind, data []byte) {
		switch kind {
		case EventNext, EventMessage:
			p.accountResult(sub, data, now, p.seq.FromResult)
		case EventComplete:
			ended = "complete"
		}
	}}
	buf := make([]byte, p.cfg.ReadBuffer)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			now = time.Now().UnixNano()
			parser.Feed(buf[:n])
			if ended != "" {
				sub.End(ended)
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
	}
}

// accountResult accounts one delivered result.
func (p *Pool) accountResult(sub *Sub, msg []byte, now int64, find func([]byte) (int64, bool)) {
	if HasErrors(msg) {
		sub.Error(msg)
		return
	}
	seq, ok := find(msg)
	if !ok {
		sub.Unparsed()
		return
	}
	sub.Deliver(seq, now)
}

// readResponseHead reads an HTTP/1.1 response head. A status other than 200 is an error
// holding the start of the body; chunked reports chunked transfer coding.
func readResponseHead(br *bufio.Reader) (chunked bool, err error) {
	line, err := readLine(br)
	if err != nil {
		return false, fmt.Errorf("read status line: %w", err)
	}
	proto, rest, _ := strings.Cut(line, " ")
	codeText, _, _ := strings.Cut(rest, " ")
	code, err := strconv.Atoi(codeText)
	if !strings.HasPrefix(proto, "HTTP/1.") || err != nil {
		return false, fmt.Errorf("malformed status line %q", line)
	}
	length := -1
	for {
		h, err := readLine(br)
		if err != nil {
			return false, fmt.Errorf("read response headers: %w", err)
		}
		if h == "" {
			break
		}
		name, value, _ := strings.Cut(h, ":")
		value = strings.TrimSpace(value)
		switch {
		case strings.EqualFold(name, "Transfer-Encoding"):
			chunked = strings.EqualFold(value, "chunked")
		case strings.EqualFold(name, "Content-Length"):
			length, _ = strconv.Atoi(value)
		}
	}
	if code == http.StatusOK {
		return chunked, nil
	}
	var body []byte
	if length > 0 {
		body = make([]byte, min(length, 200))
		n, _ := io.ReadFull(br, body)
		body = body[:n]
	}
	return false, fmt.Errorf("http %d: %s", code, bytes.TrimSpace(body))
}

// readLine reads one header line without its CRLF; long lines are joined.
func readLine(br *bufio.Reader) (string, error) {
	var long []byte
	for {
		l, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, l...)
			continue
		}
		if err != nil {
			return "", err
		}
		if long != nil {
			l = append(long, l...)
		}
		return string(bytes.TrimRight(l, "\r\n")), nil
	}
}

// failReason groups connection failures; an HTTP status error is kept as is.
func (p *Pool) failReason(err error) string {
	if p.ctx.Err() != nil {
		return "cancelled"
	}
	return shortError(err)
}

// runSSEH2 opens len(subs) SSE streams over one HTTP/2 connection: cleartext with prior
// knowledge, or TLS for an https URL (the certificate is not verified: test gateways use
// self-signed ones). The first stream opens the connection before the others start, so
// they share it instead of racing to dial their own.
func (p *Pool) runSSEH2(conn int, subs []*Sub, opened func()) {
	d := p.dialer(conn)
	protocols := new(http.Protocols)
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return d.DialContext(ctx, network, addr)
		},
		Protocols: protocols,
		HTTP2:     &http.HTTP2Config{StrictMaxConcurrentRequests: true},
	}
	if p.target.Scheme == "https" {
		protocols.SetHTTP2(true)
		tr.TLSClientConfig = &tls.Config{InsecureSkipVerify: true} //nolint:gosec // benchmark against test certificates
	} else {
		protocols.SetUnencryptedHTTP2(true)
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	first := make(chan struct{})
	var done = make(chan struct{}, len(subs))
	for i, sub := range subs {
		if i == 1 {
			select {
			case <-first:
			case <-p.ctx.Done():
			}
		}
		go func() {
			defer func() { done <- struct{}{} }()
			p.runH2Stream(client, sub, func() {
				if i == 0 {
					close(first)
				}
			})
		}()
	}
	opened()
	for range subs {
		<-done
	}
}

func (p *Pool) runH2Stream(client *http.Client, sub *Sub, opened func()) {
	var once bool
	signal := func() {
		if !once {
			once = true
			opened()
		}
	}
	defer signal()
	var req *http.Request
	var err error
	if p.cfg.SSEGet {
		u := *p.target
		q := u.Query()
		p.setQuery(q, sub)
		u.RawQuery = q.Encode()
		req, err = http.NewRequestWithContext(p.ctx, http.MethodGet, u.String(), nil)
	} else {
		req, err = http.NewRequestWithContext(p.ctx, http.MethodPost, p.target.String(), bytes.NewReader(p.requestBody(sub)))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		sub.Failed(err.Error())
		return
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		sub.Failed(p.failReason(err))
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
		sub.Failed(fmt.Sprintf("http %d: %s", resp.StatusCode, bytes.TrimSpace(b)))
		return
	}
	if resp.ProtoMajor != 2 {
		sub.Failed(fmt.Sprintf("the gateway answered over %s, not HTTP/2", resp.Proto))
		return
	}
	sub.Opened()
	signal()
	sub.End(p.endReason(p.readSSE(resp.Body, sub)))
}
