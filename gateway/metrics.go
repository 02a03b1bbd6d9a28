package gateway

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/edgate/edgate/eventsource"
	"github.com/edgate/edgate/internal/telemetry"
)

type providerStats = eventsource.ProviderStats

// metricsHandler exposes the registry of metricsRegistry in the Prometheus format.
func metricsHandler(reg *prometheus.Registry) http.Handler {
	// OpenMetrics carries the histograms' exemplars (trace ids).
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true})
}

// metricsRegistry holds the hub and broker counters, the gauges and the latency
// histograms: what /metrics serves and telemetry.metrics.otlp pushes. The values are read
// from the live atomic counters when gathered, so the hot path pays nothing.
func metricsRegistry(g *Gateway) *prometheus.Registry {
	reg := prometheus.NewRegistry()
	s := g.stats
	counter := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edgate", Name: name, Help: help}, f))
	}
	gauge := func(name, help string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "edgate", Name: name, Help: help}, f))
	}
	gauge("subscription_groups", "Running subscription groups (one resolution per event each).", func() float64 { return float64(s.Groups.Load()) })
	gauge("subscriptions", "Open client subscriptions.", func() float64 { return float64(s.Subscribers.Load()) })
	gauge("triggers", "Open broker consumers (one per provider and subject set).", func() float64 { return float64(g.registry.Consumers()) })
	counter("events_received_total", "Events handed to subscription groups.", func() float64 { return float64(s.EventsReceived.Load()) })
	counter("messages_queued_total", "Messages queued to subscribers.", func() float64 { return float64(s.MessagesQueued.Load()) })
	counter("subscriber_drops_total", "Messages a slow subscriber lost (dropped or disconnected).", func() float64 { return float64(s.SlowDrops.Load()) })
	counter("client_write_timeouts_total", "Client connections (SSE, HTTP/2, WebSocket) closed because they took no bytes within the write timeout.", func() float64 { return float64(g.writer.Stats().WriteTimeouts.Load()) })
	counter("group_drops_total", "Events dropped because a subscription group could not resolve them fast enough.", func() float64 { return float64(s.GroupDrops.Load()) })
	counter("upstream_errors_total", "Failures of subscriptions served by subgraphs (refused, dropped, timed out).", func() float64 { return float64(s.UpstreamErrors.Load()) })
	gauge("engines", "Running engines: 1, plus retired ones still serving subscriptions after a reload.", func() float64 { return float64(g.engines.Engines()) })
	counter("event_resolves_total", "Events resolved (once per group).", func() float64 { return float64(s.ResolveCount.Load()) })
	counter("entity_fetches_total", "_entities fetches made to resolve events.", func() float64 { return float64(s.EntityFetches.Load()) })
	counter("entity_requests_total", "Subgraph requests that served the _entities fetches of events (fewer than the fetches when batched across groups).", func() float64 { return float64(s.EntityRequests.Load()) })
	counter("event_resolve_seconds_total", "Time spent resolving events; divide by event_resolves_total for the mean latency.", func() float64 { return float64(s.ResolveNanos.Load()) / 1e9 })
	counter("prepared_operation_hits_total", "Requests whose operation (query text and name) was prepared before: no parsing, normalization, validation or planning.", func() float64 { return float64(s.PreparedHits.Load()) })
	counter("prepared_operation_misses_total", "Requests whose operation was parsed, normalized, validated and planned (a new text, or the first after a reload).", func() float64 { return float64(s.PreparedMisses.Load()) })
	counter("prepared_operation_evictions_total", "Prepared operations dropped by limits.max_prepared_operations or max_prepared_operation_bytes.", func() float64 { return float64(s.PreparedEvictions.Load()) })
	for id := range g.registry.Stats() {
		id := id
		labels := prometheus.Labels{"provider": id}
		read := func(f func(p providerStats) uint64) func() float64 {
			return func() float64 { return float64(f(g.registry.Stats()[id])) }
		}
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edgate", Name: "broker_events_received_total", Help: "Events received from a broker provider.", ConstLabels: labels}, read(func(p providerStats) uint64 { return p.EventsReceived })))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edgate", Name: "broker_published_total", Help: "Messages published to a broker provider.", ConstLabels: labels}, read(func(p providerStats) uint64 { return p.Published })))
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Namespace: "edgate", Name: "broker_publish_errors_total", Help: "Publishes a broker provider refused or could not send.", ConstLabels: labels}, read(func(p providerStats) uint64 { return p.PublishErrors })))
	}
	if err := g.metrics.Register(reg); err != nil {
		panic(err) // the names are constants: a clash is a programming error caught by every test
	}
	open := func(transport string, f func() float64) {
		reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Namespace: "edgate", Name: "open_connections",
			Help: "Open client connections per transport (SSE and multipart: streams; WebSocket: connections).", ConstLabels: prometheus.Labels{"transport": transport}}, f))
	}
	gauge("http2_connections", "Open HTTP/2 connections (h2 over TLS and h2c); their streams are counted in open_connections{transport=\"sse\"} and the query metrics.", func() float64 {
		if g.server == nil {
			return 0 // gathered before the listener is up
		}
		return float64(g.server.HTTP2Connections())
	})
	open(telemetry.TransportSSE, func() float64 { return float64(g.sse.Streams()) })
	if g.ws != nil {
		open(telemetry.TransportWebSocket, func() float64 { return float64(g.ws.Connections()) })
	}
	return reg
}
