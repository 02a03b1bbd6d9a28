package sse_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/edgate/edgate/resolve"
)

// fakeExecutor decides an operation's kind from the first word of the query and hands every
// subscription to the test through subs, so the test plays the hub.
//
// Queries containing "invalid" fail Prepare with a request error, "boom" with an internal
// error; subscriptions containing "reject" fail Subscribe with a request error.
type fakeExecutor struct {
	subs      chan *fakeSub
	queueSize int
	result    string // what Execute writes
}

type fakeSub struct {
	stream *resolve.Stream
	opts   resolve.SubscribeOptions
	op     *resolve.Operation
	closed chan struct{}
}

func newFakeExecutor() *fakeExecutor {
	return &fakeExecutor{subs: make(chan *fakeSub, 100), queueSize: 4096, result: `{"data":{"hello":"world"}}`}
}

func (f *fakeExecutor) Prepare(ctx context.Context, req *resolve.Request) (*resolve.Operation, error) {
	q := strings.TrimSpace(req.Query)
	switch {
	case strings.Contains(q, "invalid"):
		return nil, &resolve.RequestError{Status: 400, Errors: []resolve.GraphQLError{{
			Message:   `Cannot query field "invalid" on type "Query".`,
			Locations: []resolve.Location{{Line: 1, Column: 3}},
		}}}
	case strings.Contains(q, "boom"):
		return nil, errors.New("planner exploded")
	}
	kind := resolve.Query
	switch {
	case strings.HasPrefix(q, "subscription"):
		kind = resolve.Subscription
	case strings.HasPrefix(q, "mutation"):
		kind = resolve.Mutation
	}
	return &resolve.Operation{Kind: kind, Name: req.OperationName, Request: req}, nil
}

func (f *fakeExecutor) Execute(ctx context.Context, op *resolve.Operation, w io.Writer) error {
	_, err := io.WriteString(w, f.result)
	return err
}

func (f *fakeExecutor) Subscribe(ctx context.Context, op *resolve.Operation, opts resolve.SubscribeOptions) (*resolve.Stream, error) {
	if strings.Contains(op.Request.Query, "reject") {
		return nil, resolve.NewRequestError(`argument "id" renders "*", which would change the subject`)
	}
	s := &fakeSub{opts: opts, op: op, closed: make(chan struct{})}
	s.stream = resolve.NewStreamFor(f.queueSize, resolve.Disconnect, opts)
	s.stream.SetOnClose(func() { close(s.closed) })
	f.subs <- s
	return s.stream, nil
}

// next waits for the next subscription the handler starts.
func (f *fakeExecutor) next(t testing.TB) *fakeSub {
	t.Helper()
	select {
	case s := <-f.subs:
		return s
	case <-time.After(5 * time.Second):
		t.Fatal("no subscription was started")
		return nil
	}
}

func (s *fakeSub) push(t testing.TB, id, payload string) {
	t.Helper()
	if queued, _ := s.stream.Push(resolve.Message{ID: id, Payload: []byte(payload)}); !queued {
		t.Fatalf("message %s was not queued", id)
	}
}

func (s *fakeSub) waitClosed(t testing.TB) {
	t.Helper()
	select {
	case <-s.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the handler did not close the stream")
	}
}
