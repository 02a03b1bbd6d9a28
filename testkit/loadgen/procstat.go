package loadgen

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
)

// clockTick is the unit of utime and stime in /proc/PID/stat. Linux reports them in
// USER_HZ, which is 100 on every architecture Go supports (sysconf(_SC_CLK_TCK) needs cgo).
const clockTick = 10 * time.Millisecond

// ProcSample is one reading of a process's CPU time and resident memory.
type ProcSample struct {
	// CPU is user + system time since the process started: to the nanosecond from the
	// scheduler's per-thread counters when they agree with the process total, else in
	// clock ticks (10 ms, too coarse for a burst that costs the gateway 0.15 s).
	CPU time.Duration
	RSS int64 // resident set size in bytes
}

// ReadProc samples process pid from /proc; pid 0 is the calling process.
func ReadProc(pid int) (ProcSample, error) {
	dir := "/proc/self"
	if pid != 0 {
		dir = "/proc/" + strconv.Itoa(pid)
	}
	stat, err := os.ReadFile(dir + "/stat")
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process stat: %w", err)
	}
	cpu, err := parseStatCPU(stat)
	if err != nil {
		return ProcSample{}, fmt.Errorf("%s/stat: %w", dir, err)
	}
	if precise, ok := threadsCPU(dir); ok && precise >= cpu && precise < cpu+2*clockTick {
		cpu = precise
	}
	status, err := os.ReadFile(dir + "/status")
	if err != nil {
		return ProcSample{}, fmt.Errorf("read process status: %w", err)
	}
	rss, err := parseStatusRSS(status)
	if err != nil {
		return ProcSample{}, fmt.Errorf("%s/status: %w", dir, err)
	}
	return ProcSample{CPU: cpu, RSS: rss}, nil
}

// threadsCPU sums the time on CPU of the process's live threads from
// /proc/PID/task/TID/schedstat (nanoseconds). Threads that exited are missing from the sum
// though not from the tick total of /proc/PID/stat; ReadProc uses the sum only when it lies
// within the rounding of that total (utime and stime are each rounded down to a tick), so
// a thread that exited with more than that time falls back to ticks rather than
// under-reporting.
func threadsCPU(dir string) (time.Duration, bool) {
	tasks, err := os.ReadDir(dir + "/task")
	if err != nil {
		return 0, false
	}
	var sum time.Duration
	for _, t := range tasks {
		b, err := os.ReadFile(dir + "/task/" + t.Name() + "/schedstat")
		if err != nil {
			continue // the thread exited since the listing: the tick total decides
		}
		ns, err := parseSchedstat(b)
		if err != nil {
			return 0, false
		}
		sum += ns
	}
	return sum, len(tasks) > 0
}

// parseSchedstat returns the first field of a schedstat line: time spent on the CPU, in
// nanoseconds.
func parseSchedstat(b []byte) (time.Duration, error) {
	f := bytes.Fields(b)
	if len(f) == 0 {
		return 0, fmt.Errorf("empty schedstat")
	}
	ns, err := strconv.ParseUint(string(f[0]), 10, 63)
	if err != nil {
		return 0, fmt.Errorf("schedstat run time: %w", err)
	}
	return time.Duration(ns), nil
}

// parseStatCPU returns utime+stime from the content of /proc/PID/stat. The command name
// (field 2) is in parentheses and may itself hold spaces and parentheses, so fields are
// counted from the last ')'.
func parseStatCPU(stat []byte) (time.Duration, error) {
	fields, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	// after the command: state(3) ppid(4) ... utime(14) stime(15), i.e. index 11 and 12
	if len(fields) < 13 {
		return 0, fmt.Errorf("only %d fields after the command name", len(fields))
	}
	utime, err := strconv.ParseUint(string(fields[11]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("utime: %w", err)
	}
	stime, err := strconv.ParseUint(string(fields[12]), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("stime: %w", err)
	}
	return time.Duration(utime+stime) * clockTick, nil
}

// parseStatPPID returns the parent pid from the content of /proc/PID/stat.
func parseStatPPID(stat []byte) (int, error) {
	fields, err := statFields(stat)
	if err != nil {
		return 0, err
	}
	if len(fields) < 2 {
		return 0, fmt.Errorf("no ppid field")
	}
	return strconv.Atoi(string(fields[1]))
}

func statFields(stat []byte) ([][]byte, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return nil, fmt.Errorf("no command name in %q", truncate(stat, 80))
	}
	return bytes.Fields(stat[end+1:]), nil
}

// parseStatusRSS returns VmRSS from the content of /proc/PID/status, in bytes.
func parseStatusRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) != 2 || string(f[1]) != "kB" {
			return 0, fmt.Errorf("unexpected VmRSS line %q", bytes.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS: %w", err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmRSS line (a zombie or kernel thread?)")
}

// Descendants returns the pids of every process below root, parents before children.
func Descendants(root int) []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	children := make(map[int][]int)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		ppid, err := parseStatPPID(stat)
		if err != nil {
			continue
		}
		children[ppid] = append(children[ppid], pid)
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		for _, c := range children[p] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

func truncate(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}
