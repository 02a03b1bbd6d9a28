package main

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
)

// publisher stands in for a service that owns employee data: whenever an employee changes it
// publishes the entity key on NATS. The gateway fetches the other fields the subscribers
// selected from the employees subgraph.
type publisher struct {
	nc   *nats.Conn
	done chan struct{}
	wg   sync.WaitGroup
}

// startPublisher connects to NATS and publishes one event every interval on
// employeeUpdated.<id>, for a random employee id from 1 to 5.
func startPublisher(natsURL string, interval time.Duration, log zerolog.Logger) (*publisher, error) {
	nc, err := nats.Connect(natsURL, nats.Name("quickstart-publisher"), nats.MaxReconnects(-1))
	if err != nil {
		return nil, fmt.Errorf("publisher: connect to %s: %w", natsURL, err)
	}
	p := &publisher{nc: nc, done: make(chan struct{})}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		ticker := time.NewTicker(interval)
		defer ticker.Stop()
		for {
			select {
			case <-p.done:
				return
			case <-ticker.C:
				id := 1 + rand.IntN(5)
				if err := publishEmployeeUpdated(nc, id); err != nil {
					log.Warn().Err(err).Msg("publish demo event")
				}
			}
		}
	}()
	return p, nil
}

// publishEmployeeUpdated is all a service needs to do: an event names the entity by its key.
func publishEmployeeUpdated(nc *nats.Conn, id int) error {
	subject := fmt.Sprintf("employeeUpdated.%d", id)
	payload := fmt.Sprintf(`{"__typename":"Employee","id":%d}`, id)
	if err := nc.Publish(subject, []byte(payload)); err != nil {
		return fmt.Errorf("publish on %s: %w", subject, err)
	}
	return nil
}

func (p *publisher) stop() {
	close(p.done)
	p.wg.Wait()
	p.nc.Close()
}
