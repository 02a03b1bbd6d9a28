package loadgen

import (
	"bytes"
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
)

// SeqPlaceholder marks where a payload template takes the sequence number.
const SeqPlaceholder = "{{seq}}"

// DefaultPayload puts the sequence in the entity key, the one field of an event that an
// event subgraph's key-only entity always delivers.
const DefaultPayload = `{"__typename":"Employee","id":{{seq}}}`

// Publisher publishes numbered events to one NATS subject, or round robin over K subjects
// (SetSubjects).
type Publisher struct {
	nc             *nats.Conn
	subject        string
	subjects       int
	prefix, suffix []byte
	buf            []byte
}

// NewPublisher connects to NATS at url. template is the event payload with SeqPlaceholder
// where the sequence goes.
func NewPublisher(url, subject, template string) (*Publisher, error) {
	prefix, suffix, ok := bytes.Cut([]byte(template), []byte(SeqPlaceholder))
	if !ok {
		return nil, fmt.Errorf("payload template %q has no %s", template, SeqPlaceholder)
	}
	nc, err := nats.Connect(url, nats.Name("edgate-bench"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("nats connect %s: %w", url, err)
	}
	return &Publisher{nc: nc, subject: subject, prefix: prefix, suffix: suffix}, nil
}

// SetSubjects spreads the events over k subjects: event seq goes to the subject name with
// SubjectPlaceholder replaced by SubjectOfSeq(seq, k).
func (p *Publisher) SetSubjects(k int) error {
	if k > 1 && !strings.Contains(p.subject, SubjectPlaceholder) {
		return fmt.Errorf("subject %q has no %s to spread events over %d subjects", p.subject, SubjectPlaceholder, k)
	}
	p.subjects = k
	return nil
}

// Subjects is the number of subjects events are spread over (1: one subject).
func (p *Publisher) Subjects() int { return max(p.subjects, 1) }

// Close flushes and closes the connection.
func (p *Publisher) Close() {
	_ = p.nc.FlushTimeout(5 * time.Second)
	p.nc.Close()
}

// Publish sends event seq on its subject and returns when it was handed to the NATS
// connection (unix nanos).
func (p *Publisher) Publish(seq int64) (int64, error) {
	return p.PublishOn(SubjectOfSeq(seq, p.subjects), seq)
}

// PublishOn sends event seq on subject number subject (1..K).
func (p *Publisher) PublishOn(subject int, seq int64) (int64, error) {
	name := p.subject
	if p.subjects > 1 {
		name = withSubject(p.subject, subject)
	}
	p.buf = append(p.buf[:0], p.prefix...)
	p.buf = strconv.AppendInt(p.buf, seq, 10)
	p.buf = append(p.buf, p.suffix...)
	at := time.Now().UnixNano()
	if err := p.nc.Publish(name, p.buf); err != nil {
		return at, fmt.Errorf("nats publish %q: %w", name, err)
	}
	return at, nil
}

// Flush waits until the server has received everything published.
func (p *Publisher) Flush(timeout time.Duration) error {
	if err := p.nc.FlushTimeout(timeout); err != nil {
		return fmt.Errorf("nats flush: %w", err)
	}
	return nil
}

// PublishStats describes one Run.
type PublishStats struct {
	Published  int64
	Start, End time.Time
	// MaxLag is how far the publisher fell behind its schedule at worst; a large value
	// means the machine could not keep up and the offered rate was lower than asked.
	MaxLag time.Duration
}

// Run publishes sequences 1..count at rate events per second (0: back to back), calling
// onPublished with each publish time, until done or ctx ends.
func (p *Publisher) Run(ctx context.Context, count int64, rate float64, onPublished func(seq, at int64)) (PublishStats, error) {
	st := PublishStats{Start: time.Now()}
	var interval time.Duration
	if rate > 0 {
		interval = time.Duration(float64(time.Second) / rate)
	}
	timer := time.NewTimer(0)
	defer timer.Stop()
	<-timer.C
	for seq := int64(1); seq <= count; seq++ {
		if interval > 0 {
			due := st.Start.Add(time.Duration(seq-1) * interval)
			if wait := time.Until(due); wait > 0 {
				timer.Reset(wait)
				select {
				case <-timer.C:
				case <-ctx.Done():
					st.End = time.Now()
					return st, ctx.Err()
				}
			} else {
				st.MaxLag = max(st.MaxLag, -wait)
			}
		} else if ctx.Err() != nil {
			st.End = time.Now()
			return st, ctx.Err()
		}
		at, err := p.Publish(seq)
		if err != nil {
			st.End = time.Now()
			return st, err
		}
		st.Published = seq
		if onPublished != nil {
			onPublished(seq, at)
		}
	}
	st.End = time.Now()
	return st, p.Flush(10 * time.Second)
}
