package eventsource

import "sync"

// deliveryQueue hands events to fn in push order from one goroutine that it owns. Producers
// never wait for fn: push appends to a buffer and wakes the goroutine, which hands fn
// everything queued since its last call as one batch. It merges several broker
// subscriptions (one per subject) into the single ordered stream a Consumer must deliver.
type deliveryQueue struct {
	fn    func([]Event)
	limit int // most buffered events; 0 means unbounded

	mu     sync.Mutex
	items  []Event
	spare  []Event // recycled batch buffer, owned by run
	closed bool

	wake chan struct{} // capacity 1: a pending wake-up is enough
	stop chan struct{}
	done chan struct{}
}

func newDeliveryQueue(limit int, fn func([]Event)) *deliveryQueue {
	q := &deliveryQueue{
		fn:    fn,
		limit: limit,
		wake:  make(chan struct{}, 1),
		stop:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	go q.run()
	return q
}

// push queues ev. It returns false when the queue is closed or full; the caller counts
// and logs the drop.
func (q *deliveryQueue) push(ev Event) bool {
	q.mu.Lock()
	if q.closed || (q.limit > 0 && len(q.items) >= q.limit) {
		q.mu.Unlock()
		return false
	}
	q.items = append(q.items, ev)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default:
	}
	return true
}

func (q *deliveryQueue) run() {
	defer close(q.done)
	for {
		select {
		case <-q.stop:
			return
		case <-q.wake:
		}
		q.mu.Lock()
		batch := q.items
		q.items = q.spare[:0]
		q.mu.Unlock()
		if len(batch) > 0 {
			select {
			case <-q.stop:
				return
			default:
			}
			q.fn(batch)
			clear(batch) // let the payloads be collected
		}
		q.spare = batch[:0]
	}
}

// close stops the goroutine, drops what is still queued and waits until fn has returned
// for the last time. It must not be called from fn.
func (q *deliveryQueue) close() {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		<-q.done
		return
	}
	q.closed = true
	q.items = nil
	q.mu.Unlock()
	close(q.stop)
	<-q.done
}
