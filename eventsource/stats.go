package eventsource

import "sync/atomic"

// ProviderStats counts one provider's traffic since it was created. The metrics layer reads
// it through a provider's Stats method.
type ProviderStats struct {
	// EventsReceived counts broker messages delivered to consumers (once per message, not
	// per subscriber).
	EventsReceived uint64
	// Published counts messages the broker accepted.
	Published uint64
	// PublishErrors counts publishes the broker refused or could not be reached for.
	PublishErrors uint64
	// ConsumeErrors counts errors a consumer saw while receiving (connection losses, fetch
	// errors); the consumer keeps running after them.
	ConsumeErrors uint64
}

// providerCounters is the lock-free counterpart of ProviderStats kept by a provider.
type providerCounters struct {
	received, published, publishErrors, consumeErrors atomic.Uint64
}

func (c *providerCounters) snapshot() ProviderStats {
	return ProviderStats{
		EventsReceived: c.received.Load(),
		Published:      c.published.Load(),
		PublishErrors:  c.publishErrors.Load(),
		ConsumeErrors:  c.consumeErrors.Load(),
	}
}
