package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rs/zerolog"
)

// The worker protocol runs over a worker process's stdin and stdout, one line each way:
//
//	parent → worker: the Config as JSON (first line), then commands:
//	  p SEQ UNIXNANOS   publish time of SEQ (no reply)
//	  status            reply: Status as JSON
//	  mark              start the CPU window; reply: {}
//	  result N          reply: Result for N published events, as JSON
//	  close             end all subscriptions and exit (so does end of input)
//
// Logs go to stderr, so stdout holds replies only.

// ServeWorker runs the worker side of the protocol until close or end of input.
func ServeWorker(ctx context.Context, in io.Reader, out io.Writer, log zerolog.Logger) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	if !sc.Scan() {
		return fmt.Errorf("worker: no config on stdin: %w", sc.Err())
	}
	var cfg Config
	if err := json.Unmarshal(sc.Bytes(), &cfg); err != nil {
		return fmt.Errorf("worker: config: %w", err)
	}
	pool, err := NewPool(cfg, log)
	if err != nil {
		return fmt.Errorf("worker: %w", err)
	}
	pool.Start(ctx)
	defer pool.Close()
	enc := json.NewEncoder(out)
	for sc.Scan() {
		cmd, arg, _ := strings.Cut(sc.Text(), " ")
		switch cmd {
		case "p":
			seqText, atText, _ := strings.Cut(arg, " ")
			seq, err1 := strconv.ParseInt(seqText, 10, 64)
			at, err2 := strconv.ParseInt(atText, 10, 64)
			if err1 != nil || err2 != nil {
				return fmt.Errorf("worker: bad publish line %q", sc.Text())
			}
			pool.Published(seq, at)
		case "status":
			err = enc.Encode(pool.Status())
		case "mark":
			pool.Mark()
			_, err = io.WriteString(out, "{}\n")
		case "result":
			n, perr := strconv.ParseInt(arg, 10, 64)
			if perr != nil {
				return fmt.Errorf("worker: bad result line %q", sc.Text())
			}
			err = enc.Encode(pool.Result(n))
		case "close":
			return nil
		default:
			return fmt.Errorf("worker: unknown command %q", sc.Text())
		}
		if err != nil {
			return fmt.Errorf("worker: write reply: %w", err)
		}
	}
	return sc.Err()
}

// Remote is the parent's handle on one worker process.
type Remote struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Scanner
	wmu  sync.Mutex // serializes writes to in
	rmu  sync.Mutex // serializes request/reply pairs
	bw   *bufio.Writer
	done chan struct{}
	err  error
}

// StartWorker starts exe with args as a worker process and sends it cfg. The worker's
// stderr is passed through to stderr.
func StartWorker(exe string, args []string, cfg Config, stderr io.Writer) (*Remote, error) {
	cmd := exec.Command(exe, args...)
	cmd.Stderr = stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdin: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("worker stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start worker %s: %w", exe, err)
	}
	r := &Remote{cmd: cmd, in: in, out: bufio.NewScanner(out), bw: bufio.NewWriter(in), done: make(chan struct{})}
	r.out.Buffer(make([]byte, 64<<10), 16<<20)
	go func() {
		r.err = cmd.Wait()
		close(r.done)
	}()
	line, _ := json.Marshal(cfg)
	if err := r.send(string(line)); err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// PID is the worker's process id.
func (r *Remote) PID() int { return r.cmd.Process.Pid }

func (r *Remote) send(line string) error {
	r.wmu.Lock()
	defer r.wmu.Unlock()
	r.bw.WriteString(line)
	r.bw.WriteByte('\n')
	if err := r.bw.Flush(); err != nil {
		return fmt.Errorf("worker %d: %w", r.PID(), err)
	}
	return nil
}

func (r *Remote) request(line string, reply any) error {
	r.rmu.Lock()
	defer r.rmu.Unlock()
	if err := r.send(line); err != nil {
		return err
	}
	if !r.out.Scan() {
		err := r.out.Err()
		if err == nil {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("worker %d: read reply to %q: %w", r.PID(), line, err)
	}
	if err := json.Unmarshal(r.out.Bytes(), reply); err != nil {
		return fmt.Errorf("worker %d: reply to %q: %w", r.PID(), line, err)
	}
	return nil
}

// Status asks the worker for a snapshot.
func (r *Remote) Status() (Status, error) {
	var s Status
	return s, r.request("status", &s)
}

// Published tells the worker when seq was published.
func (r *Remote) Published(seq, at int64) error {
	return r.send("p " + strconv.FormatInt(seq, 10) + " " + strconv.FormatInt(at, 10))
}

// Mark starts the worker's CPU window.
func (r *Remote) Mark() error {
	var empty struct{}
	return r.request("mark", &empty)
}

// Result asks the worker for its result.
func (r *Remote) Result(published int64) (Result, error) {
	var res Result
	return res, r.request("result "+strconv.FormatInt(published, 10), &res)
}

// Close asks the worker to exit and waits up to 10 s, then kills it (by pid).
func (r *Remote) Close() error {
	_ = r.send("close")
	_ = r.in.Close()
	select {
	case <-r.done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Signal(syscall.SIGKILL)
		<-r.done
	}
	if r.err != nil {
		return fmt.Errorf("worker %d: %w", r.PID(), r.err)
	}
	return nil
}
