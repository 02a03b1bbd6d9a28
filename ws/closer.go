package ws

import "github.com/edgate/edgate/resolve"

// stopped is an operation removed from its connection whose context and stream still need
// ending, outside conn.mu.
type stopped struct {
	cancel func()
	stream *resolve.Stream
}

// release ends stopped operations: contexts at once, streams on the writer pool's closer
// goroutine. A stream's Close runs the hub's unsubscribe, which for a group's last member
// stops the broker consumer and may wait for it; neither the epoll loop, which reads
// every connection, nor a writer shard may wait for that.
func (h *Handler) release(list ...stopped) {
	for _, st := range list {
		st.cancel()
		if st.stream != nil {
			h.writer.CloseLater(st.stream)
		}
	}
}
