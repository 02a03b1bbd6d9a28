package sse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/edgate/edgate/resolve"
)

// httpError is a request the endpoint rejects before GraphQL sees it (not well-formed
// GraphQL over HTTP). Its status is used whatever the response media type.
type httpError struct {
	status     int
	message    string
	allow      string         // Allow header for 405
	extensions map[string]any // the error's extensions (code, limit, ...)
	retryAfter time.Duration  // > 0: a Retry-After header, in whole seconds rounded up
}

func (e *httpError) Error() string { return e.message }

func badRequest(format string, args ...any) *httpError {
	return &httpError{status: http.StatusBadRequest, message: fmt.Sprintf(format, args...)}
}

// largeBody is the POST body size over which decoding and preparing a request passes
// through the handler's gate. Real operations are far smaller (GraphiQL's introspection
// query is about 2 KiB); bodies this large are mostly hostile ones, refused by the
// operation limits after a pass over every byte.
const largeBody = 64 << 10

// gate bounds the requests with large bodies that are decoded and prepared at once, so
// that however many a client sends in parallel they keep at most that many cores busy,
// and subscribers' deliveries keep the others. Smaller requests never wait.
type gate chan struct{}

func newGate() gate { return make(gate, max(1, runtime.GOMAXPROCS(0)/2)) }

// enter waits for a place, or until ctx ends (the client left).
func (g gate) enter(ctx context.Context) error {
	select {
	case g <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (g gate) leave() { <-g }

func noRelease() {}

// bodyLimits are what readRequest applies to a POST body.
type bodyLimits struct {
	maxBody int64
	timeout time.Duration // <= 0: no limit
	large   gate          // nil: no gate
	budget  *byteBudget   // nil: no budget
}

// readRequest extracts the GraphQL request from a GET (URL parameters) or POST (JSON body).
// A POST body must arrive within lim.timeout; one over largeBody waits for its share of
// lim.budget before it is read and is decoded inside lim.large, and the caller calls
// release once it has prepared the request.
func readRequest(w http.ResponseWriter, r *http.Request, lim bodyLimits) (req *resolve.Request, release func(), herr *httpError) {
	switch r.Method {
	case http.MethodGet:
		req, herr = readGET(r.URL.Query())
		return req, noRelease, herr
	case http.MethodPost:
		body, herr := readPOST(w, r, lim)
		if herr != nil {
			return nil, noRelease, herr
		}
		release = noRelease
		if lim.large != nil && len(body) > largeBody {
			if err := lim.large.enter(r.Context()); err != nil {
				return nil, noRelease, &httpError{status: http.StatusServiceUnavailable, message: "the client left while the request waited"}
			}
			release = lim.large.leave
		}
		req, herr = decodePOST(body)
		if herr != nil {
			release()
			return nil, noRelease, herr
		}
		return req, release, nil
	}
	return nil, noRelease, &httpError{status: http.StatusMethodNotAllowed, message: fmt.Sprintf("method %s is not allowed: use GET or POST", r.Method), allow: "GET, POST"}
}

func readGET(q url.Values) (*resolve.Request, *httpError) {
	req := &resolve.Request{Query: q.Get("query"), OperationName: q.Get("operationName")}
	var herr *httpError
	if req.Variables, herr = objectParam("variables", []byte(q.Get("variables"))); herr != nil {
		return nil, herr
	}
	if req.Extensions, herr = objectParam("extensions", []byte(q.Get("extensions"))); herr != nil {
		return nil, herr
	}
	if req.Query == "" && !persisted(req.Extensions) {
		return nil, badRequest("missing query: pass the GraphQL document in the query URL parameter")
	}
	return req, nil
}

// readPOST reads a POST body.
func readPOST(w http.ResponseWriter, r *http.Request, lim bodyLimits) ([]byte, *httpError) {
	ct := r.Header.Get("Content-Type")
	if !isJSONMediaType(ct) {
		return nil, &httpError{status: http.StatusUnsupportedMediaType, message: fmt.Sprintf("unsupported Content-Type %q: send the request as application/json", ct)}
	}
	if r.ContentLength > lim.maxBody {
		// refused before a byte of it is read, and not read after the answer either
		closeAfter(w, r)
		return nil, tooLarge(lim.maxBody)
	}
	// A body of unknown length is read up to largeBody first: only a larger one waits for
	// the budget, and for the worst case, the unused part given back once it is read.
	var head []byte
	reserve := r.ContentLength
	if lim.budget != nil && r.ContentLength < 0 {
		var herr *httpError
		if head, herr = readBody(w, r, io.LimitReader(r.Body, largeBody+1), lim, -1); herr != nil {
			return nil, herr
		}
		if int64(len(head)) > lim.maxBody { // a limit under largeBody
			if len(head) > largeBody {
				closeAfter(w, r) // the rest is not read
			}
			return nil, tooLarge(lim.maxBody)
		}
		if len(head) <= largeBody {
			return head, nil
		}
		reserve = lim.maxBody
	}
	if lim.budget != nil && reserve > largeBody {
		if retry, ok := lim.budget.take(r.Context(), reserve); !ok {
			if r.Context().Err() != nil {
				return nil, &httpError{status: http.StatusServiceUnavailable, message: "the client left while the request waited"}
			}
			closeAfter(w, r)
			return nil, overBudget(lim.budget, retry)
		}
	}
	rest, herr := readBody(w, r, http.MaxBytesReader(w, r.Body, lim.maxBody-int64(len(head))), lim, r.ContentLength)
	if lim.budget != nil && reserve > largeBody {
		lim.budget.refund(reserve - int64(len(head)+len(rest)))
	}
	if herr != nil {
		return nil, herr
	}
	if head != nil {
		return append(head, rest...), nil
	}
	return rest, nil
}

func tooLarge(limit int64) *httpError {
	return &httpError{status: http.StatusRequestEntityTooLarge, message: fmt.Sprintf("request body is larger than the limit of %d bytes", limit)}
}

// overBudget is the answer to a large body the budget cannot admit in time.
func overBudget(b *byteBudget, retry time.Duration) *httpError {
	return &httpError{
		status:     http.StatusServiceUnavailable,
		message:    fmt.Sprintf("too many large request bodies: the server takes in at most %d bytes per second of bodies over %d bytes (%s); retry later", int64(b.rate), largeBody, limitLargeBodyRate),
		retryAfter: retry,
		extensions: map[string]any{"code": CodeLargeBodyRate, "limit": limitLargeBodyRate, "maximum": int64(b.rate)},
	}
}

// closeAfter ends an HTTP/1.1 connection after the answer to a request whose body is
// refused unread: net/http would otherwise read up to 256 KiB of it to keep the
// connection, and wait as long as the client likes for a chunked one. HTTP/2 ends only
// the stream.
func closeAfter(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		w.Header().Set("Connection", "close")
		_ = http.NewResponseController(w).SetReadDeadline(time.Now())
	}
}

// readBody reads a POST body, or its first part, from src under the read_body_timeout.
func readBody(w http.ResponseWriter, r *http.Request, src io.Reader, lim bodyLimits, declared int64) ([]byte, *httpError) {
	// A client that trickles its body would otherwise hold this handler (and, on
	// HTTP/1.1, its connection) for as long as it likes: the read deadline covers the
	// whole body. It is cleared once the body is read, since a subscription's connection
	// stays open (net/http clears it too at the body's end), and kept after a failure, so
	// that net/http does not wait for the rest of the body before closing the connection.
	// Writers without read deadlines (net/http's own HTTP/2, recorders) read without one.
	var rc *http.ResponseController
	if lim.timeout > 0 {
		rc = http.NewResponseController(w)
		if rc.SetReadDeadline(time.Now().Add(lim.timeout)) != nil {
			rc = nil
		}
	}
	var body []byte
	var err error
	if declared >= 0 && declared <= lim.maxBody {
		// HTTP/1.1 and internal/h2server deliver exactly the declared length (or fail), so
		// the body is read into a buffer of its size
		body, err = readDeclared(src, declared)
	} else {
		body, err = io.ReadAll(src)
	}
	if err == nil && rc != nil {
		_ = rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(lim.maxBody)
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			if r.ProtoMajor == 1 {
				w.Header().Set("Connection", "close") // the rest of the body is not read
			}
			return nil, &httpError{status: http.StatusRequestTimeout, message: fmt.Sprintf("request body not received within %v (limits.read_body_timeout)", lim.timeout)}
		}
		return nil, badRequest("reading request body: %v", err)
	}
	return body, nil
}

// readDeclared reads a body of the declared length, which must end there.
func readDeclared(r io.Reader, declared int64) ([]byte, error) {
	body := make([]byte, declared)
	if _, err := io.ReadFull(r, body); err != nil {
		return nil, err
	}
	var extra [1]byte
	for {
		n, err := r.Read(extra[:])
		switch {
		case n > 0:
			return nil, fmt.Errorf("the body is longer than its Content-Length of %d bytes", declared)
		case err == io.EOF:
			return body, nil
		case err != nil:
			return nil, err
		}
	}
}

// isJSONMediaType reports whether a Content-Type is application/json, with any parameters
// (charset). The plain form, which nearly every client sends, is checked without parsing.
func isJSONMediaType(ct string) bool {
	if len(ct) == len(mediaJSON) && strings.EqualFold(ct, mediaJSON) {
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == mediaJSON
}

// decodePOST decodes a POST body.
func decodePOST(body []byte) (*resolve.Request, *httpError) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return nil, badRequest("empty request body: send a JSON object with a query")
	}
	if body[0] == '[' {
		return nil, badRequest("batched requests (a JSON array) are not supported: send one JSON object per request")
	}
	if body[0] != '{' {
		return nil, badRequest("malformed request body: expected a JSON object")
	}
	// one validity check of the whole body; scanBody then splits it without reflection
	if !validJSON(body) {
		var wire struct{}
		err := json.Unmarshal(body, &wire) // for the precise syntax error
		return nil, badRequest("malformed JSON body: %v", err)
	}
	wire := scanBody(body)
	req := &resolve.Request{}
	var ok bool
	switch {
	case len(wire.query) > 0 && !isNull(wire.query):
		if req.Query, ok = unquote(wire.query); !ok {
			return nil, badRequest("\"query\" must be a string")
		}
	case !persisted(wire.extensions):
		// an automatic persisted query may leave the text out; resolve looks it up
		return nil, badRequest("missing query: the JSON body needs a \"query\" string")
	}
	if len(wire.operationName) > 0 && !isNull(wire.operationName) {
		if req.OperationName, ok = unquote(wire.operationName); !ok {
			return nil, badRequest("\"operationName\" must be a string or null")
		}
	}
	var herr *httpError
	if req.Variables, herr = validObjectParam("variables", wire.variables); herr != nil {
		return nil, herr
	}
	if req.Extensions, herr = validObjectParam("extensions", wire.extensions); herr != nil {
		return nil, herr
	}
	return req, nil
}

// objectParam accepts a JSON object, null or nothing; null and nothing become nil.
func objectParam(name string, raw []byte) (json.RawMessage, *httpError) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' || !validJSON(raw) {
		return nil, badRequest("%q must be a JSON object", name)
	}
	return json.RawMessage(raw), nil
}

// validObjectParam is objectParam for a member of a body validJSON accepted.
func validObjectParam(name string, raw []byte) (json.RawMessage, *httpError) {
	if len(raw) == 0 || isNull(raw) {
		return nil, nil
	}
	if raw[0] != '{' {
		return nil, badRequest("%q must be a JSON object", name)
	}
	return json.RawMessage(raw), nil
}

// persisted reports whether extensions carry an automatic persisted query (Apollo's
// extensions.persistedQuery), which may be sent without the query text.
func persisted(extensions []byte) bool {
	return bytes.Contains(extensions, []byte(`"persistedQuery"`))
}

func isNull(raw []byte) bool { return string(bytes.TrimSpace(raw)) == "null" }

// lastEventID is where a reconnecting client resumes: the Last-Event-ID header an
// EventSource sends, or a lastEventId URL parameter for clients that cannot set headers
// on the first connection.
func lastEventID(r *http.Request) string {
	if id := r.Header.Get("Last-Event-ID"); id != "" {
		return id
	}
	return r.URL.Query().Get("lastEventId")
}
