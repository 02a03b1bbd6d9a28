package resolve

import (
	"testing"

	"github.com/edgate/edgate/internal/telemetry"
)

// How a stream ended decides its subscription span's end reason.
func TestEndReason(t *testing.T) {
	for _, c := range []struct {
		end          *End
		reason, code string
	}{
		{nil, telemetry.EndClientGone, ""},
		{&End{}, telemetry.EndComplete, ""},
		{&End{Code: EndShutdown}, telemetry.EndShutdown, ""},
		{&End{Code: EndReload}, telemetry.EndReload, EndReload},
		{&End{Code: EndSlowConsumer}, telemetry.EndError, EndSlowConsumer},
		{&End{Code: EndUpstream}, telemetry.EndError, EndUpstream},
		{&End{Code: EndUnauthenticated}, telemetry.EndError, EndUnauthenticated},
	} {
		reason, code, _ := endReason(c.end)
		if reason != c.reason || code != c.code {
			t.Errorf("%+v: %q %q, want %q %q", c.end, reason, code, c.reason, c.code)
		}
	}
}

// A stream its transport ended (EndIfOpen) keeps that end; one that already ended keeps
// its own.
func TestStream_EndIfOpen(t *testing.T) {
	s := NewStream(4, Disconnect, nil)
	s.EndIfOpen(End{Code: EndShutdown})
	if _, end := s.Pull(nil); end == nil || end.Code != EndShutdown {
		t.Fatalf("end %v", end)
	}
	s = NewStream(4, Disconnect, nil)
	s.Finish(End{Code: EndUpstream})
	s.EndIfOpen(End{Code: EndShutdown})
	if _, end := s.Pull(nil); end == nil || end.Code != EndUpstream {
		t.Fatalf("end %v", end)
	}
}
