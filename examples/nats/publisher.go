package main

import (
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
)

// publishEmployeeUpdated is what a service does when an employee changes: publish the
// entity's key on the subject the schema names. Subscribers get the other fields from the
// employees subgraph, through the gateway.
func publishEmployeeUpdated(nc *nats.Conn, id int) error {
	subject := fmt.Sprintf("employeeUpdated.%d", id)
	payload := fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id)
	return nc.Publish(subject, []byte(payload))
}

// publishLoop publishes an update for employees 1 to 5 in turn, every interval, until done
// is closed.
func publishLoop(nc *nats.Conn, interval time.Duration, done <-chan struct{}, report func(error)) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for id := 1; ; id = id%5 + 1 {
		select {
		case <-done:
			return
		case <-ticker.C:
			if err := publishEmployeeUpdated(nc, id); err != nil {
				report(fmt.Errorf("publish employee %d: %w", id, err))
			}
		}
	}
}
