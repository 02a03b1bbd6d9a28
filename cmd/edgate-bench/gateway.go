package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/edgate/edgate/testkit/loadgen"
)

// gateway is the process under test: started by the benchmark, or one already running
// (pid 0 when it is not sampled).
type gateway struct {
	pid int
	cmd *exec.Cmd // nil when the benchmark did not start it
	// exited is closed when a started gateway exits.
	exited chan struct{}
	log    *os.File
}

// startGateway starts argv as a child process with its output in logPath.
func startGateway(argv []string, logPath string) (*gateway, error) {
	if len(argv) == 0 {
		return nil, errors.New("empty gateway command")
	}
	logFile, err := os.Create(logPath)
	if err != nil {
		return nil, fmt.Errorf("gateway log: %w", err)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start gateway %q: %w", strings.Join(argv, " "), err)
	}
	g := &gateway{pid: cmd.Process.Pid, cmd: cmd, exited: make(chan struct{}), log: logFile}
	go func() {
		_ = cmd.Wait()
		close(g.exited)
	}()
	return g, nil
}

// readyURL is the gateway's readiness endpoint next to the GraphQL URL.
func readyURL(graphqlURL string) (string, error) {
	u, err := url.Parse(graphqlURL)
	if err != nil || u.Host == "" {
		return "", fmt.Errorf("gateway url %q: want http://host:port/path", graphqlURL)
	}
	return (&url.URL{Scheme: u.Scheme, Host: u.Host, Path: "/health/ready"}).String(), nil
}

// waitReady polls /health/ready until it answers 200. A started gateway that exits first
// is an error.
func (g *gateway) waitReady(ctx context.Context, ready string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	// test gateways serve HTTPS with self-signed certificates
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec
	var exited <-chan struct{}
	if g != nil {
		exited = g.exited
	}
	var last string
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ready, nil)
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		select {
		case <-exited:
			return fmt.Errorf("the gateway exited before it was ready (see its log %s)", g.log.Name())
		case <-ctx.Done():
			return fmt.Errorf("%s not ready after %v: %s", ready, timeout, last)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// adoptServer points pid at the process that serves: `go run` builds the binary and runs
// it as its child, so the deepest descendant of the started process is the gateway.
func (g *gateway) adoptServer() {
	if d := loadgen.Descendants(g.cmd.Process.Pid); len(d) > 0 {
		g.pid = d[len(d)-1]
	}
}

func (g *gateway) sample() (loadgen.ProcSample, bool) {
	if g == nil || g.pid == 0 {
		return loadgen.ProcSample{}, false
	}
	s, err := loadgen.ReadProc(g.pid)
	return s, err == nil
}

// stop ends a started gateway: SIGTERM to the serving process and to the started one,
// SIGKILL to both if they are still there after timeout. Signals go to those pids only.
func (g *gateway) stop(timeout time.Duration) {
	if g == nil || g.cmd == nil {
		return
	}
	defer g.log.Close()
	root := g.cmd.Process.Pid
	pids := []int{g.pid}
	if g.pid != root {
		pids = append(pids, root)
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGTERM)
	}
	select {
	case <-g.exited:
		return
	case <-time.After(timeout):
	}
	for _, pid := range pids {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-g.exited
}
