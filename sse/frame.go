package sse

import (
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/edgate/edgate/resolve"
)

// SSE frames follow graphql-sse's distinct connections mode: "next" events carry an
// execution result, a "complete" event ends the operation. The complete frame carries an
// empty data line ("event: complete\ndata:\n\n", as graphql-sse's own server prints it)
// because browsers' EventSource does not dispatch an event without data.
const (
	sseNextWithID = "id: "
	sseNext       = "event: next\n"
	sseData       = "data: "
	sseComplete   = "event: complete\ndata:\n\n"
	sseHeartbeat  = ":\n\n"
)

// Multipart frames follow Apollo's multipart subscription protocol with the byte layout of
// the Apollo Router: every part is followed at once by the next delimiter ("\r\n--graphql"),
// because Apollo Client hands a part to the application only when it sees the delimiter
// after it; writing the delimiter lazily before the next part would hold each event back
// until the next event or heartbeat. The stream therefore looks like
//
//	\r\n--graphql\r\nContent-Type: application/json\r\n\r\n{"payload":{...}}\r\n--graphql
//	\r\nContent-Type: application/json\r\n\r\n{}\r\n--graphql
//	--\r\n
//
// i.e. an opening delimiter, parts each closed by a delimiter, and "--\r\n" turning the
// last delimiter into the close delimiter.
const (
	multipartBoundary    = "graphql"
	multipartContentType = `multipart/mixed;subscriptionSpec="1.0";boundary="graphql"`
	multipartOpen        = "\r\n--" + multipartBoundary
	multipartPartHeader  = "\r\nContent-Type: application/json\r\n\r\n"
	multipartDelimiter   = "\r\n--" + multipartBoundary
	multipartClose       = "--\r\n"
	multipartHeartbeat   = "{}"
)

// frameBuffer builds frames of one format into a reused buffer so that a batch of
// messages is written with one Write.
type frameBuffer struct {
	format streamFormat
	buf    []byte
	opened bool // multipart: the opening delimiter was written
}

func (f *frameBuffer) reset() { f.buf = f.buf[:0] }

// next appends one result. id may be empty (no id line: the client keeps its last id).
func (f *frameBuffer) next(id string, payload []byte) {
	switch f.format {
	case formatSSE:
		if id != "" && validID(id) {
			f.buf = append(f.buf, sseNextWithID...)
			f.buf = append(f.buf, id...)
			f.buf = append(f.buf, '\n')
		}
		f.buf = append(f.buf, sseNext...)
		f.buf = appendData(f.buf, payload)
		f.buf = append(f.buf, '\n')
	case formatMultipart:
		f.part()
		f.buf = append(f.buf, `{"payload":`...)
		f.buf = append(f.buf, payload...)
		f.buf = append(f.buf, '}')
		f.buf = append(f.buf, multipartDelimiter...)
	}
}

// fatal appends errors that end the operation: an SSE "next" with {"errors":[...]}, or
// Apollo's transport error part {"payload":null,"errors":[...]}.
func (f *frameBuffer) fatal(errs []resolve.GraphQLError) {
	list, _ := json.Marshal(errs)
	switch f.format {
	case formatSSE:
		f.buf = append(f.buf, sseNext...)
		f.buf = append(f.buf, sseData...)
		f.buf = append(f.buf, `{"errors":`...)
		f.buf = append(f.buf, list...)
		f.buf = append(f.buf, "}\n\n"...)
	case formatMultipart:
		f.part()
		f.buf = append(f.buf, `{"payload":null,"errors":`...)
		f.buf = append(f.buf, list...)
		f.buf = append(f.buf, '}')
		f.buf = append(f.buf, multipartDelimiter...)
	}
}

// retry appends an SSE retry field: the client's reconnect delay, in milliseconds.
func (f *frameBuffer) retry(d time.Duration) {
	f.buf = append(f.buf, "retry: "...)
	f.buf = strconv.AppendInt(f.buf, max(d.Milliseconds(), 0), 10)
	f.buf = append(f.buf, "\n\n"...)
}

func (f *frameBuffer) heartbeat() {
	switch f.format {
	case formatSSE:
		f.buf = append(f.buf, sseHeartbeat...)
	case formatMultipart:
		f.part()
		f.buf = append(f.buf, multipartHeartbeat...)
		f.buf = append(f.buf, multipartDelimiter...)
	}
}

func (f *frameBuffer) complete() {
	switch f.format {
	case formatSSE:
		f.buf = append(f.buf, sseComplete...)
	case formatMultipart:
		if !f.opened {
			// a body part is required before the close delimiter (RFC 2046); the Apollo
			// Router sends an empty object too
			f.heartbeat()
		}
		f.buf = append(f.buf, multipartClose...)
	}
}

// part starts a multipart body part, after the opening delimiter on the first one.
func (f *frameBuffer) part() {
	if !f.opened {
		f.buf = append(f.buf, multipartOpen...)
		f.opened = true
	}
	f.buf = append(f.buf, multipartPartHeader...)
}

// appendData appends payload as SSE data lines. Results are compact JSON on one line; a
// payload with line breaks is split into several data lines, which the client joins
// with "\n" again.
func appendData(dst, payload []byte) []byte {
	start := 0
	for i := 0; i < len(payload); i++ {
		c := payload[i]
		if c != '\n' && c != '\r' {
			continue
		}
		dst = append(dst, sseData...)
		dst = append(dst, payload[start:i]...)
		dst = append(dst, '\n')
		if c == '\r' && i+1 < len(payload) && payload[i+1] == '\n' {
			i++
		}
		start = i + 1
	}
	dst = append(dst, sseData...)
	dst = append(dst, payload[start:]...)
	return append(dst, '\n')
}

// validID reports whether id can go on an SSE id line: no line breaks, and no NUL (the
// EventSource processing model ignores ids with NUL).
func validID(id string) bool {
	return !strings.ContainsAny(id, "\r\n\x00")
}

// endErrors is the error a client gets when its stream ends for a reason other than
// normal completion.
func endErrors(end resolve.End) []resolve.GraphQLError {
	reason := end.Reason
	if reason == "" {
		reason = "subscription ended: " + end.Code
	}
	return []resolve.GraphQLError{{
		Message:    reason,
		Extensions: map[string]any{"code": strings.ToUpper(end.Code)},
	}}
}
