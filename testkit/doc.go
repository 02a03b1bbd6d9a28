// Package testkit groups what edgate's tests, examples and benchmarks run against but a
// gateway never imports: minigraph (small real subgraphs served over HTTP), demo (the
// quickstart's employees and products subgraphs) and loadgen (the SSE and WebSocket load
// generator of cmd/edgate-bench). Nothing here is a stable API.
package testkit
