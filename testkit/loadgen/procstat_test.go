package loadgen

import (
	"os"
	"testing"
	"time"
)

func TestParseStatCPU_CommandWithSpacesAndParens(t *testing.T) {
	stat := []byte("4242 (edgate (x) y) S 1 4242 4242 0 -1 4194560 1000 0 0 0 250 37 0 0 20 0 12 0 100 1000000 2000 18446744073709551615\n")
	cpu, err := parseStatCPU(stat)
	if err != nil {
		t.Fatal(err)
	}
	if want := 287 * 10 * time.Millisecond; cpu != want {
		t.Errorf("cpu = %v, want %v", cpu, want)
	}
	ppid, err := parseStatPPID(stat)
	if err != nil || ppid != 1 {
		t.Errorf("ppid = %d, %v; want 1", ppid, err)
	}
}

func TestParseStatCPU_Truncated(t *testing.T) {
	if _, err := parseStatCPU([]byte("1 (x) S 0 1")); err == nil {
		t.Error("want an error for a short stat line")
	}
	if _, err := parseStatCPU([]byte("garbage")); err == nil {
		t.Error("want an error without a command name")
	}
}

func TestParseStatusRSS(t *testing.T) {
	status := []byte("Name:\tedgate\nVmPeak:\t  900 kB\nVmRSS:\t   65432 kB\nThreads:\t9\n")
	rss, err := parseStatusRSS(status)
	if err != nil {
		t.Fatal(err)
	}
	if rss != 65432*1024 {
		t.Errorf("rss = %d", rss)
	}
	if _, err := parseStatusRSS([]byte("Name:\tkthreadd\n")); err == nil {
		t.Error("want an error without VmRSS")
	}
}

func TestReadProc_Self(t *testing.T) {
	s, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	if s.RSS <= 0 {
		t.Errorf("rss = %d", s.RSS)
	}
	other, err := ReadProc(os.Getpid())
	if err != nil || other.RSS <= 0 {
		t.Errorf("by pid: %+v, %v", other, err)
	}
}

func TestParseSchedstat(t *testing.T) {
	ns, err := parseSchedstat([]byte("228489123 4567 12\n"))
	if err != nil || ns != 228489123 {
		t.Errorf("= %v, %v; want 228489123ns", ns, err)
	}
	for _, bad := range []string{"", "x 1 2", "-5 1 2"} {
		if _, err := parseSchedstat([]byte(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

// A busy loop of well under a tick must show in the sample: the tick total alone would
// report 0 or 10 ms for it.
func TestReadProc_SubTickCPU(t *testing.T) {
	if _, ok := threadsCPU("/proc/self"); !ok {
		t.Skip("no per-thread schedstat on this kernel")
	}
	before, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * time.Millisecond)
	for time.Now().Before(deadline) {
	}
	after, err := ReadProc(0)
	if err != nil {
		t.Fatal(err)
	}
	got := after.CPU - before.CPU
	if got <= 0 || got%clockTick == 0 {
		t.Errorf("CPU grew by %v over a 3 ms busy loop: want a positive figure finer than a tick", got)
	}
}
