package loadgen

import "bytes"

// EventKind is the type of a dispatched SSE event, reduced to what the benchmark acts on.
type EventKind uint8

const (
	EventMessage  EventKind = iota // no "event:" line, or an unknown type
	EventNext                      // "event: next"
	EventComplete                  // "event: complete"
)

// SSEParser splits a text/event-stream body into events (WHATWG HTML, "Parsing an event
// stream"). It is push-based: the caller feeds whatever it read, so no line reader or
// second buffer sits between the socket and the parser. Lines may end in LF, CRLF or CR.
type SSEParser struct {
	// OnEvent receives every dispatched event; data is valid only during the call.
	OnEvent func(kind EventKind, data []byte)
	// Comments counts ":" lines (the gateway's heartbeats).
	Comments int

	partial []byte // an unterminated line carried over to the next Feed
	data    []byte
	hasData bool
	kind    EventKind
	hasKind bool
	afterCR bool // the last byte seen was CR: an LF right after it ends nothing
}

// Feed parses the next bytes of the stream.
func (p *SSEParser) Feed(b []byte) {
	if p.afterCR && len(b) > 0 {
		p.afterCR = false
		if b[0] == '\n' {
			b = b[1:]
		}
	}
	for len(b) > 0 {
		i := bytes.IndexAny(b, "\r\n")
		if i < 0 {
			p.partial = append(p.partial, b...)
			return
		}
		line := b[:i]
		if len(p.partial) > 0 {
			p.partial = append(p.partial, line...)
			line = p.partial
		}
		if b[i] == '\r' {
			if i+1 < len(b) {
				if b[i+1] == '\n' {
					i++
				}
			} else {
				p.afterCR = true
			}
		}
		p.line(line)
		p.partial = p.partial[:0]
		b = b[i+1:]
	}
}

func (p *SSEParser) line(l []byte) {
	if len(l) == 0 {
		p.dispatch()
		return
	}
	if l[0] == ':' {
		p.Comments++
		return
	}
	field, value := l, []byte(nil)
	if c := bytes.IndexByte(l, ':'); c >= 0 {
		field, value = l[:c], l[c+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if p.hasData {
			p.data = append(p.data, '\n')
		}
		p.data = append(p.data, value...)
		p.hasData = true
	case "event":
		p.hasKind = true
		switch string(value) {
		case "next":
			p.kind = EventNext
		case "complete":
			p.kind = EventComplete
		default:
			p.kind = EventMessage
		}
	}
}

// dispatch delivers the pending event. Like EventSource it ignores an event without data
// lines; the gateway's "complete" frame carries an empty data line for that reason.
func (p *SSEParser) dispatch() {
	if p.hasData && p.OnEvent != nil {
		p.OnEvent(p.kind, p.data)
	}
	p.data = p.data[:0]
	p.hasData = false
	p.kind = EventMessage
	p.hasKind = false
}
