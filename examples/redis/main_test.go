package main

import (
	"context"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edgate/edgate/examples/internal/stack"
)

func TestExample_MessagePublishedFromGoReachesAnSSESubscriberWithTheName(t *testing.T) {
	e, err := start(context.Background(), settings{
		configPath: "edgate.yaml", addr: "127.0.0.1:0",
		fake:     true,
		interval: 50 * time.Millisecond, log: zerolog.Nop(),
	})
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		e.stop(ctx)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	got, err := stack.FirstSSEEvent(ctx, e.stack.Gateway.URL(), "subscription { employeeUpdated(id: 2) { id name } }")
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"data":{"employeeUpdated":{"id":2,"name":"Bilal Khan"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
