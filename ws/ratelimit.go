package ws

import (
	"strconv"
	"time"

	"github.com/edgate/edgate/resolve"
)

// CodeRateLimited is the extensions.code of the error a message over a connection's message
// or subscribe rate gets.
const CodeRateLimited = "RATE_LIMITED"

// The configuration keys the rate-limit errors name (gateway maps them onto Options).
const (
	limitMessages   = "websocket.max_messages_per_second"
	limitSubscribes = "websocket.max_subscribes_per_second"
)

// bucket is a token bucket: it holds at most burst tokens and gains rate per second; a
// message that finds no token is over the limit. Used only by the connection's reader.
type bucket struct {
	tokens float64
	last   time.Duration // clock reading of the last refill
}

func newBucket(now time.Duration, burst int) bucket {
	return bucket{tokens: float64(burst), last: now}
}

// take spends a token if there is one. rate <= 0 is unlimited.
func (b *bucket) take(now time.Duration, rate, burst int) bool {
	if rate <= 0 {
		return true
	}
	if now > b.last {
		b.tokens = min(float64(burst), b.tokens+(now-b.last).Seconds()*float64(rate))
		b.last = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// overMessageRate spends a token of the connection's message bucket and reports whether
// there was none. A message over the rate gets no answer (a ping no pong) but for a
// subscribe (refuseStart); complete, stop and connection_terminate are still carried out,
// since they only end work.
func (c *conn) overMessageRate() bool {
	o := &c.h.opts
	return !c.messages.take(c.h.now(), o.MessagesPerSecond, o.MessageBurst)
}

// refuseStart answers a subscribe (start) that is over the message or the subscribe rate
// with an error message for its id, and reports whether it did. The operation is not
// registered, so the client may use the id again. Checked before the payload is decoded,
// so that refusing one costs no more than reading the envelope.
func (c *conn) refuseStart(id string) bool {
	o := &c.h.opts
	var key string
	var rate int
	var what string
	switch {
	case c.overMessageRate():
		key, rate, what = limitMessages, o.MessagesPerSecond, "messages"
	case !c.subscribes.take(c.h.now(), o.SubscribesPerSecond, o.SubscribeBurst):
		key, rate, what = limitSubscribes, o.SubscribesPerSecond, "subscribe attempts"
	default:
		return false
	}
	c.send(appendMessage(nil, id, "error", (&resolve.RequestError{Errors: []resolve.GraphQLError{{
		Message: "too many " + what + " on this connection: at most " + strconv.Itoa(rate) + " per second (" + key + ")",
		Extensions: map[string]any{
			"code":    CodeRateLimited,
			"limit":   key,
			"maximum": rate,
		},
	}}}).WithRequestID(c.reqID).ErrorsJSON()))
	return true
}
