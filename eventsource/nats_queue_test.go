package eventsource

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// stalledConsumer blocks in its first batch until release is closed, as a gateway whose
// routing goroutine is busy writing, and counts and orders what it gets.
type stalledConsumer struct {
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	got     []string
	n       atomic.Int64
}

func (s *stalledConsumer) fn(batch []Event) {
	s.once.Do(func() { <-s.release })
	s.mu.Lock()
	for _, ev := range batch {
		s.got = append(s.got, string(ev.Data))
	}
	s.mu.Unlock()
	s.n.Add(int64(len(batch)))
}

// A burst of 100,000 events on exact subjects, arriving while the routing goroutine is
// stalled, is queued and delivered whole and in order: the old queue of 65,536 dropped
// the rest as a slow consumer.
func TestNATS_BurstWhileRoutingStalledIsQueuedNotDropped(t *testing.T) {
	for _, target := range natsTargets(t) {
		t.Run(target.name, func(t *testing.T) {
			ctx := context.Background()
			n := newNATS(t, NATSOptions{URL: target.url})
			subject := uniquePrefix() + ".user.1"
			s := &stalledConsumer{release: make(chan struct{})}
			cons, err := n.Consume(ctx, []string{subject}, ConsumeOptions{}, s.fn)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			const total = 100_000
			for i := range total {
				if err := n.Publish(ctx, subject, []byte(strconv.Itoa(i))); err != nil {
					t.Fatal(err)
				}
			}
			// every message has reached the client (and so its queue or a drop) once a
			// round trip after the last publish is done
			if err := n.Conn().FlushTimeout(10 * time.Second); err != nil {
				t.Fatal(err)
			}
			close(s.release)
			eventually(t, "all events delivered", func() bool { return s.n.Load() >= total })
			if st := n.Stats(); st.ConsumeErrors != 0 {
				t.Fatalf("consume errors %d, want 0 (slow consumer)", st.ConsumeErrors)
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			for i, d := range s.got {
				if d != strconv.Itoa(i) {
					t.Fatalf("event %d = %q: out of order", i, d)
				}
			}
		})
	}
}

// When the queue does overflow, every subscription that drops is counted, but the log gets
// one line a second at most, saying how many reports it stands for: with a subject per
// user one burst is thousands of reports.
func TestNATS_SlowConsumerLogLinesAreSpaced(t *testing.T) {
	var logs syncBuffer
	n := newNATS(t, NATSOptions{URL: natsURL(t), QueueSize: 2, Log: zerolog.New(&logs)})
	ctx := context.Background()
	p := uniquePrefix()
	release := make(chan struct{})
	var blockOnce sync.Once
	var delivered atomic.Int64
	const subjects, perSubject = 20, 5
	for i := range subjects {
		cons, err := n.Consume(ctx, []string{p + "." + strconv.Itoa(i)}, ConsumeOptions{}, func(batch []Event) {
			blockOnce.Do(func() { <-release })
			delivered.Add(int64(len(batch)))
		})
		if err != nil {
			t.Fatal(err)
		}
		defer cons.Close()
	}
	start := time.Now()
	for j := range perSubject {
		for i := range subjects {
			if err := n.Publish(ctx, p+"."+strconv.Itoa(i), []byte(strconv.Itoa(j))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := n.Conn().FlushTimeout(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	// the queue holds 2 and the routing goroutine 1: every other subscription drops
	eventually(t, "slow consumers reported", func() bool { return n.Stats().ConsumeErrors >= subjects-3 })
	elapsed := time.Since(start)
	close(release)
	var lines, reports int
	for _, l := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if !strings.Contains(l, "slow consumer") {
			continue
		}
		lines++
		i := strings.Index(l, `"reports":`)
		if i < 0 {
			t.Fatalf("slow-consumer line without reports: %s", l)
		}
		r, _ := strconv.Atoi(strings.TrimRight(strings.SplitN(l[i+len(`"reports":`):], ",", 2)[0], "}"))
		reports += r
	}
	if maxLines := 1 + int(elapsed/slowConsumerLogEvery); lines < 1 || lines > maxLines {
		t.Fatalf("%d slow-consumer log lines in %v, want 1..%d:\n%s", lines, elapsed, maxLines, logs.String())
	}
	if errs := int(n.Stats().ConsumeErrors); reports > errs {
		t.Fatalf("lines stand for %d reports, only %d counted", reports, errs)
	}
	eventually(t, "queued events delivered", func() bool { return delivered.Load() >= 3 })
}
