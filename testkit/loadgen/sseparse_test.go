package loadgen

import (
	"reflect"
	"testing"
)

type sseEvent struct {
	kind EventKind
	data string
}

func parseAll(chunks ...string) ([]sseEvent, int) {
	var got []sseEvent
	p := SSEParser{OnEvent: func(k EventKind, d []byte) { got = append(got, sseEvent{k, string(d)}) }}
	for _, c := range chunks {
		p.Feed([]byte(c))
	}
	return got, p.Comments
}

func TestSSEParser_GatewayFrames(t *testing.T) {
	stream := "id: 1\nevent: next\ndata: {\"data\":{\"a\":1}}\n\n:\n\nevent: next\ndata: {\"data\":{\"a\":2}}\n\nevent: complete\ndata:\n\n"
	got, comments := parseAll(stream)
	want := []sseEvent{{EventNext, `{"data":{"a":1}}`}, {EventNext, `{"data":{"a":2}}`}, {EventComplete, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	if comments != 1 {
		t.Errorf("comments = %d, want 1", comments)
	}
}

func TestSSEParser_SplitAnywhere(t *testing.T) {
	stream := "event: next\r\ndata: {\"x\":12345}\r\n\r\nevent: next\rdata: {\"x\":2}\r\r"
	want, _ := parseAll(stream)
	if len(want) != 2 {
		t.Fatalf("whole stream gave %+v", want)
	}
	for i := 1; i < len(stream); i++ {
		for j := i; j < len(stream); j++ {
			got, _ := parseAll(stream[:i], stream[i:j], stream[j:])
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("split at %d,%d: got %+v, want %+v", i, j, got, want)
			}
		}
	}
}

func TestSSEParser_MultiLineDataAndNoEventType(t *testing.T) {
	got, _ := parseAll("data: a\ndata: b\nid: 7\n\ndata\n\nevent: other\n\n")
	want := []sseEvent{{EventMessage, "a\nb"}, {EventMessage, ""}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}

func TestSeqExtractor(t *testing.T) {
	x := NewSeqExtractor("id")
	for _, tc := range []struct {
		in   string
		seq  int64
		ok   bool
		wsOK bool
	}{
		{`{"data":{"employeeUpdated":{"id":42}}}`, 42, true, false},
		{`{"data":{"employeeUpdated":{"id": -3,"name":"x"}}}`, -3, true, false},
		{`{"data":{"employeeUpdated":{"id":"x"}}}`, 0, false, false},
		{`{"data":null}`, 0, false, false},
		{`{"data":{"e":{"id":99999999999999999999}}}`, 0, false, false},
	} {
		seq, ok := x.FromResult([]byte(tc.in))
		if seq != tc.seq || ok != tc.ok {
			t.Errorf("FromResult(%s) = %d,%v; want %d,%v", tc.in, seq, ok, tc.seq, tc.ok)
		}
	}
	seq, ok := x.FromMessage([]byte(`{"id":"3","type":"next","payload":{"data":{"employeeUpdated":{"id":17}}}}`))
	if !ok || seq != 17 {
		t.Errorf("FromMessage = %d,%v; want 17 (not the subscription id)", seq, ok)
	}
	if !HasErrors([]byte(`{"errors":[{"message":"boom"}]}`)) || HasErrors([]byte(`{"data":{"id":1}}`)) {
		t.Error("HasErrors misreports")
	}
}
