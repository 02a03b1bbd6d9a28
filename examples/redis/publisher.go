package main

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// publishEmployeeUpdated is what a service does when an employee changes: publish the
// entity's key on the channel the schema names.
func publishEmployeeUpdated(ctx context.Context, rdb *redis.Client, id int) error {
	channel := fmt.Sprintf("employee.%d", id)
	payload := fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id)
	return rdb.Publish(ctx, channel, payload).Err()
}

// publishLoop publishes an update for employees 1 to 5 in turn, every interval, until ctx
// ends.
func publishLoop(ctx context.Context, rdb *redis.Client, interval time.Duration, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for id := 1; ; id = id%5 + 1 {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
			if err := publishEmployeeUpdated(ctx, rdb, id); err != nil && ctx.Err() == nil {
				report(fmt.Errorf("publish employee %d: %w", id, err))
			}
		}
	}
}
