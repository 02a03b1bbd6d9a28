package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/edgate/edgate/testkit/loadgen"
)

// hostileSize is the gateway's default request body limit: the largest query a client can
// send it.
const hostileSize = 1 << 20

// hostileBodies are the JSON bodies of 1 MiB operations built to be expensive for a
// GraphQL server (issue 9): wide aliases, a deep selection, a doubling fragment chain, a
// directive list, variable definitions, a long list of tokens. The operation limits must
// refuse each at once.
func hostileBodies() [][]byte {
	fill := func(head, unit, tail string) string {
		var b strings.Builder
		b.WriteString(head)
		for b.Len()+len(unit)+len(tail) < hostileSize-1024 {
			b.WriteString(unit)
		}
		b.WriteString(tail)
		return b.String()
	}
	n := (hostileSize - 1024) / 10
	deep := "{" + strings.Repeat(" a {", n) + " id" + strings.Repeat(" }", n) + " }"
	var chain strings.Builder
	chain.WriteString("{ employee(id: 1) { ...F0 } }")
	i := 0
	for ; chain.Len() < hostileSize-1024; i++ {
		fmt.Fprintf(&chain, " fragment F%d on Employee { id ...F%d ...F%d }", i, i+1, i+1)
	}
	fmt.Fprintf(&chain, " fragment F%d on Employee { id }", i)
	var vars strings.Builder
	vars.WriteString("query (")
	for v := 0; vars.Len() < hostileSize-1024; v++ {
		fmt.Fprintf(&vars, "$v%d: Int ", v)
	}
	vars.WriteString(") { employee(id: 1) { id } }")
	queries := []string{
		fill("{", " a: employee(id: 1) { id }", " }"),
		deep,
		chain.String(),
		fill("{ employee(id: 1) { id", " @skip(if: false)", " } }"),
		vars.String(),
		fill("{ employee(id: [", " 1", "]) { id } }"),
	}
	bodies := make([][]byte, len(queries))
	for i, q := range queries {
		bodies[i], _ = json.Marshal(map[string]string{"query": q})
	}
	return bodies
}

// hostileLoad posts hostile operations from n closed-loop clients, each on its own
// connection, until stop is called.
type hostileLoad struct {
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu        sync.Mutex
	durations []time.Duration
	statuses  map[int]int
	failures  int
}

func startHostileLoad(url string, n int) *hostileLoad {
	ctx, cancel := context.WithCancel(context.Background())
	h := &hostileLoad{cancel: cancel, statuses: map[int]int{}}
	bodies := hostileBodies()
	for c := range n {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
		h.wg.Add(1)
		go func() {
			defer h.wg.Done()
			defer client.CloseIdleConnections()
			for i := c; ctx.Err() == nil; i++ {
				body := bodies[i%len(bodies)]
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Accept", "application/graphql-response+json")
				start := time.Now()
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				d := time.Since(start)
				if ctx.Err() != nil {
					return
				}
				h.mu.Lock()
				if err != nil {
					h.failures++
				} else {
					h.statuses[resp.StatusCode]++
					h.durations = append(h.durations, d)
				}
				h.mu.Unlock()
			}
		}()
	}
	return h
}

// hostileReport sums up the hostile requests answered while the events were published.
type hostileReport struct {
	Clients   int            `json:"clients"`
	Answered  int            `json:"answered"`
	Statuses  map[int]int    `json:"statuses"`
	Failures  int            `json:"failures"` // transport errors
	AnswerMS  map[string]any `json:"answer_ms"`
	PerSecond float64        `json:"per_second"`
	// Process: the clients ran in a process of their own (-hostile-process), whose CPU
	// is CPUSeconds; otherwise they ran in the measuring process, within its CPU.
	Process    bool    `json:"process"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
}

// hostileRunner is the hostile load, in this process or another.
type hostileRunner interface {
	stop(clients int, window time.Duration) *hostileReport
}

// hostileProcess runs the hostile clients in a child edgate-bench (-hostile-worker), so
// that their sending does not share the measuring process with the subscribers'
// readers: the run then measures what the gateway does to its subscribers, not what the
// load generator's own hostile clients do to its readers.
type hostileProcess struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	out   bytes.Buffer
}

func startHostileProcess(url string, n int) (*hostileProcess, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for the hostile process: %w", err)
	}
	p := &hostileProcess{cmd: exec.Command(self, "-hostile-worker", "-hostile", strconv.Itoa(n), "-url", url)}
	p.cmd.Stdout = &p.out
	p.cmd.Stderr = os.Stderr
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		return nil, err
	}
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start the hostile process: %w", err)
	}
	return p, nil
}

// stop closes the child's stdin, which ends its clients, and reads its report.
func (p *hostileProcess) stop(clients int, window time.Duration) *hostileReport {
	p.stdin.Close()
	err := p.cmd.Wait()
	r := &hostileReport{Clients: clients, Statuses: map[int]int{}}
	if err == nil {
		err = json.Unmarshal(p.out.Bytes(), r)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "edgate-bench: hostile process: %v\n", err)
	}
	r.Process = true
	if window > 0 {
		r.PerSecond = float64(r.Answered) / window.Seconds()
	}
	return r
}

// serveHostileWorker is the child of startHostileProcess: it runs n clients until its
// stdin closes, then writes their report, with its own CPU, as JSON to stdout.
func serveHostileWorker(ctx context.Context, url string, n int, stdin io.Reader, stdout io.Writer) error {
	cpu0, err := loadgen.ReadProc(0)
	if err != nil {
		return err
	}
	h := startHostileLoad(url, n)
	eof := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, stdin)
		close(eof)
	}()
	select {
	case <-eof:
	case <-ctx.Done():
	}
	r := h.stop(n, 0)
	if cpu1, err := loadgen.ReadProc(0); err == nil {
		r.CPUSeconds = (cpu1.CPU - cpu0.CPU).Seconds()
	}
	return json.NewEncoder(stdout).Encode(r)
}

func (h *hostileLoad) stop(clients int, window time.Duration) *hostileReport {
	h.cancel()
	h.wg.Wait()
	h.mu.Lock()
	defer h.mu.Unlock()
	r := &hostileReport{Clients: clients, Answered: len(h.durations), Statuses: h.statuses, Failures: h.failures}
	if window > 0 {
		r.PerSecond = float64(len(h.durations)) / window.Seconds()
	}
	if len(h.durations) > 0 {
		d := slices.Clone(h.durations)
		slices.Sort(d)
		q := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
		r.AnswerMS = map[string]any{"p50": q(0.5), "p99": q(0.99), "max": ms(d[len(d)-1])}
	}
	return r
}
