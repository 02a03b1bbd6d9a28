package ws

import (
	"errors"
	"fmt"

	"github.com/edgate/edgate/internal/netpoll"
)

// poller reads connections when their socket is readable, so that an idle connection
// costs no goroutine. It needs internal/netpoll (Linux); elsewhere newPoller fails and
// every connection gets a reader goroutine.
type poller interface {
	// add starts reading c (c.rc is set).
	add(c *conn) error
	// remove stops reading c; called before its socket is closed.
	remove(c *conn)
	// close stops the poller's goroutine and waits for it.
	close()
}

// readBufferSize is the poll loop's read buffer, shared by every connection it serves;
// a frame that spans reads is kept on its connection until complete.
const readBufferSize = 64 << 10

// epoller reads every polled connection on the netpoll loop goroutine, level-triggered:
// one read per readiness report, the loop comes back for the rest.
type epoller struct {
	h *Handler
	p *netpoll.Poller

	// Used only on the loop goroutine (netpoll calls Ready one at a time).
	buf []byte
	r   *netpoll.Reader
}

func newPoller(h *Handler) (poller, error) {
	p, err := netpoll.New()
	if err != nil {
		return nil, err
	}
	return &epoller{h: h, p: p, buf: make([]byte, readBufferSize), r: netpoll.NewReader()}, nil
}

// polledConn is the netpoll Target of one connection.
type polledConn struct {
	p *epoller
	c *conn
}

func (t polledConn) Ready(netpoll.Event) { t.p.read(t.c) }

func (p *epoller) add(c *conn) error {
	key, err := p.p.Add(c.rc, netpoll.Readable, false, polledConn{p: p, c: c})
	if err != nil {
		return fmt.Errorf("websocket: %w", err)
	}
	c.mu.Lock()
	c.pollKey = key
	// A teardown that ran before the registration found nothing to remove.
	closed := c.state == stateClosed
	c.mu.Unlock()
	if closed {
		p.remove(c)
	}
	return nil
}

func (p *epoller) remove(c *conn) {
	c.mu.Lock()
	key := c.pollKey
	c.mu.Unlock()
	if key != 0 {
		p.p.Remove(c.rc, key)
	}
}

func (p *epoller) close() {
	if err := p.p.Close(); err != nil {
		p.h.log.Error().Err(err).Msg("WebSocket reads stopped")
	}
}

// read takes what the socket holds.
func (p *epoller) read(c *conn) {
	n, err := p.r.Read(c.rc, p.buf)
	switch {
	case errors.Is(err, netpoll.ErrWouldBlock):
	case err != nil:
		c.teardown() // closed by the client, failed, or closed here meanwhile
	default:
		c.feed(p.buf[:n])
	}
}
