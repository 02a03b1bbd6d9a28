// Package ws serves GraphQL over WebSocket on the gateway's GraphQL endpoint.
//
// # Protocols
//
// The subprotocol is negotiated with Sec-WebSocket-Protocol:
//
//   - graphql-transport-ws (the graphql-ws client library) is chosen whenever it is offered,
//     also when graphql-ws is offered too.
//   - graphql-ws, the legacy protocol of Apollo's subscriptions-transport-ws, is chosen when
//     it is offered, and also when the client offers no subprotocol at all: old setups and
//     hand-written clients often omit the header, while graphql-transport-ws clients always
//     send it. No protocol is echoed back then.
//   - A client that offers only other subprotocols gets HTTP 400.
//
// graphql-transport-ws follows its PROTOCOL.md: connection_init/connection_ack (no ack
// payload), ping/pong both ways (a pong echoes the ping's payload; the server pings every
// PingInterval), subscribe/next/error/complete. Client mistakes close the connection:
// 4400 for an invalid message or one over MaxMessageBytes, 4401 for subscribe before the
// ack, 4403 when Authenticate rejects the init, 4408 when no connection_init arrives
// within InitTimeout, 4409 for an id already in use, 4429 for a second connection_init.
//
// graphql-ws (legacy) follows subscriptions-transport-ws: connection_init, connection_ack
// followed by a "ka" and one "ka" every PingInterval, start/data/error/complete, stop
// (no complete is sent back), connection_terminate (close 1000). As in the reference
// server most mistakes are answered with error or connection_error and the connection
// stays open; a repeated start id replaces the running operation. A rejected init gets
// connection_error and close 4403; an oversize message closes with 1009; a missing init
// closes with 4408. Legacy clients drop a connection that sends no ka within their
// timeout (30 s by default), so PingInterval must stay below it.
//
// Queries and mutations work on both: one next (data) and a complete. Request errors
// (parse, validation, variables) are an error message whose payload is the GraphQL errors
// array. A subscription whose stream ends normally gets complete; one that ends with a
// code (slow consumer, shutdown, schema reload) gets an error
// [{"message": reason, "extensions": {"code": code}}] and the connection stays open.
// Operations over MaxSubscriptionsPerConnection get an error message.
//
// # Init payload
//
// The connection_init payload is passed to every operation of the connection as
// resolve.Request.InitPayload, and the upgrade request's headers (without the handshake's
// own) as Request.Header. A string Authorization/authorization in the payload, at the top
// level or under "headers", becomes the Authorization header when the upgrade request had
// none, because browsers cannot set headers on a WebSocket. The header map is shared by
// the connection's operations and must not be modified.
//
// # Cost of a connection
//
// On Linux an idle connection has no goroutine: the handler hijacks the connection
// (github.com/gobwas/ws does the handshake), one epoll loop reads every socket when it is
// readable, and a few writer shards (GOMAXPROCS) write when a stream wakes them. A flush
// pulls every woken stream of a connection and sends all pending frames in one write,
// framing each result as prefix + the hub's shared payload + "}" without re-encoding it.
// A write the socket does not take at once continues in a goroutine with WriteTimeout, so
// a slow client never holds up its shard. Connections that expose no file descriptor
// (TLS) and all connections on other systems are read by a goroutine each.
// BenchmarkIdleConnectionMemory measures the cost per idle subscriber.
package ws
