package ws

// poller reads connections when their socket is readable, so that an idle connection
// costs no goroutine. The Linux implementation uses epoll; elsewhere newPoller fails and
// every connection gets a reader goroutine.
type poller interface {
	// add starts reading c (c.rc is set).
	add(c *conn) error
	// remove stops reading c; called before its socket is closed.
	remove(c *conn)
	// close stops the poller's goroutine.
	close()
}
