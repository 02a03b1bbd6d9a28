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
