package loadgen

import "bytes"

// SeqExtractor finds the event's sequence number in a delivered GraphQL result without
// decoding the JSON: the benchmark publishes the sequence as the entity key, so the result
// carries it as the first occurrence of `"<field>":<integer>` after the start marker.
type SeqExtractor struct {
	key []byte
}

// NewSeqExtractor looks for the integer value of field (for example "id").
func NewSeqExtractor(field string) SeqExtractor {
	return SeqExtractor{key: []byte(`"` + field + `":`)}
}

var (
	errorsKey  = []byte(`"errors"`)
	payloadKey = []byte(`"payload":`)
)

// FromResult extracts the sequence from an execution result ({"data":{...}}).
func (x SeqExtractor) FromResult(b []byte) (seq int64, ok bool) {
	i := bytes.Index(b, x.key)
	if i < 0 {
		return 0, false
	}
	return parseInt(b[i+len(x.key):])
}

// FromMessage extracts the sequence from a graphql-transport-ws "next" message, whose "id"
// is the subscription id: the search starts after "payload".
func (x SeqExtractor) FromMessage(b []byte) (seq int64, ok bool) {
	i := bytes.Index(b, payloadKey)
	if i < 0 {
		return 0, false
	}
	return x.FromResult(b[i+len(payloadKey):])
}

// HasErrors reports whether a result carries GraphQL errors.
func HasErrors(b []byte) bool { return bytes.Contains(b, errorsKey) }

func parseInt(b []byte) (int64, bool) {
	for len(b) > 0 && b[0] == ' ' {
		b = b[1:]
	}
	neg := false
	if len(b) > 0 && b[0] == '-' {
		neg = true
		b = b[1:]
	}
	var n int64
	digits := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			break
		}
		if digits == 18 {
			return 0, false
		}
		n = n*10 + int64(c-'0')
		digits++
	}
	if digits == 0 {
		return 0, false
	}
	if neg {
		n = -n
	}
	return n, true
}
