package ws

import "testing"

func TestAppendResultAt_AddsThePositionAsTheLastMemberOfThePayload(t *testing.T) {
	for _, tc := range []struct{ payload, eventID, want string }{
		{`{"data":{"a":1}}`, "7", `{"id":"s","type":"next","payload":{"data":{"a":1},"extensions":{"eventId":"7"}}}`},
		{`{}`, "t:0:3", `{"id":"s","type":"next","payload":{"extensions":{"eventId":"t:0:3"}}}`},
		// its own extensions, or no position: unchanged
		{`{"data":null,"extensions":{"x":1}}`, "7", `{"id":"s","type":"next","payload":{"data":null,"extensions":{"x":1}}}`},
		{`{"data":{}}`, "", `{"id":"s","type":"next","payload":{"data":{}}}`},
	} {
		frame := appendResultAt(nil, "s", "next", []byte(tc.payload), tc.eventID)
		if got := string(frame[2:]); got != tc.want { // after the 2-byte frame header
			t.Errorf("%s + %q:\n got %s\nwant %s", tc.payload, tc.eventID, got, tc.want)
		}
		if n := int(frame[1] & 0x7f); n != len(tc.want) {
			t.Errorf("%s: frame length %d, want %d", tc.payload, n, len(tc.want))
		}
	}
}

func TestResumeFrom_ReadsLastEventIDOfTheExtensions(t *testing.T) {
	for _, tc := range []struct {
		ext       string
		last      string
		positions bool
	}{
		{`{"lastEventId":"42"}`, "42", true},
		{`{"lastEventId":""}`, "", true},
		{`{"persistedQuery":{}}`, "", false},
		{`{"lastEventId":5}`, "", false},
		{``, "", false},
	} {
		last, positions := resumeFrom([]byte(tc.ext))
		if last != tc.last || positions != tc.positions {
			t.Errorf("%s: got (%q, %v), want (%q, %v)", tc.ext, last, positions, tc.last, tc.positions)
		}
	}
}
