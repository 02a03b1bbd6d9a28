package sse

import (
	"testing"
	"time"
)

// The writer shards call Tick with their clock; a stream's heartbeats follow
// HeartbeatInterval: the default, a configured period, or none when it is negative (the
// gateway maps sse.heartbeat_interval: 0s to that).
func TestTick_HeartbeatIntervalDefaultPeriodAndNone(t *testing.T) {
	for _, tc := range []struct {
		name     string
		interval time.Duration
		silent   time.Duration // how long the stream has been quiet at the tick
		want     string
	}{
		{"default, before 5s", 0, DefaultHeartbeatInterval - time.Millisecond, ""},
		{"default, after 5s", 0, DefaultHeartbeatInterval, ":\n\n"},
		{"configured 1s", time.Second, time.Second, ":\n\n"},
		{"none", -1, 1000 * time.Hour, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHandler(Options{Executor: nil, HeartbeatInterval: tc.interval})
			s := &subscriber{h: h, format: formatSSE}
			if got := string(s.Tick(nil, tc.silent)); got != tc.want {
				t.Fatalf("Tick after %v of silence wrote %q, want %q", tc.silent, got, tc.want)
			}
		})
	}
}
