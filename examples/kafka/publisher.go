package main

import (
	"context"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// publishEmployeeUpdated is what a service does when an employee changes: produce the
// entity's key to the topic the schema names, and wait for the broker's acknowledgement.
func publishEmployeeUpdated(ctx context.Context, client *kgo.Client, id int) error {
	record := &kgo.Record{
		Topic: "employees",
		Value: fmt.Appendf(nil, `{"__typename":"Employee","id":%d}`, id),
	}
	return client.ProduceSync(ctx, record).FirstErr()
}

// publishLoop publishes an update for employees 1 to 5 in turn, every interval, until ctx
// ends.
func publishLoop(ctx context.Context, client *kgo.Client, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for id := 1; ; id = id%5 + 1 {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := publishEmployeeUpdated(ctx, client, id); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("publish employee %d: %w", id, err))
			}
		}
	}
}
