package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoad_TelemetryTracing(t *testing.T) {
	const sub = "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n"
	c := mustLoad(t, sub, "a.graphql")
	if tr := c.Telemetry.Tracing; tr.Enabled || tr.Exporter != ExporterOTLPHTTP || tr.SamplingRatio != 1 || tr.ServiceName != "edgate" {
		t.Fatalf("defaults: %+v", tr)
	}
	c = mustLoad(t, sub+`telemetry:
  tracing:
    enabled: true
    exporter: otlp-grpc
    endpoint: http://collector:4317
    headers: { x-api-key: secret }
    sampling_ratio: 0.01
    service_name: edge-eu
`, "a.graphql")
	tr := c.Telemetry.Tracing
	if !tr.Enabled || tr.Exporter != ExporterOTLPGRPC || tr.Endpoint != "http://collector:4317" || tr.Headers["x-api-key"] != "secret" || tr.SamplingRatio != 0.01 || tr.ServiceName != "edge-eu" {
		t.Fatalf("tracing: %+v", tr)
	}
	for cfg, want := range map[string]string{
		"telemetry: { tracing: { sampling_ratio: 1.5 } }\n":  "edgate.yaml:2: telemetry.tracing.sampling_ratio 1.5 must be between 0 and 1",
		"telemetry: { tracing: { exporter: zipkin } }\n":     "telemetry.tracing.exporter",
		"telemetry: { tracing: { sampling_ratio: lots } }\n": "a number",
	} {
		_, err := load(t, sub+cfg, "a.graphql")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", strings.TrimSpace(cfg), err, want)
		}
	}
}

func TestLoad_TelemetryMetricsOTLP(t *testing.T) {
	const sub = "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n"
	c := mustLoad(t, sub, "a.graphql")
	if m := c.Telemetry.Metrics.OTLP; m.Enabled || m.Exporter != ExporterOTLPHTTP || m.Interval != 30*time.Second || m.ServiceName != "edgate" || m.Endpoint != "" {
		t.Fatalf("defaults: %+v", m)
	}
	c = mustLoad(t, sub+`telemetry:
  metrics:
    otlp:
      enabled: true
      exporter: otlp-grpc
      endpoint: collector:4317
      headers: { x-api-key: secret }
      interval: 10s
      service_name: edge-eu
`, "a.graphql")
	m := c.Telemetry.Metrics.OTLP
	if !m.Enabled || m.Exporter != ExporterOTLPGRPC || m.Endpoint != "collector:4317" || m.Headers["x-api-key"] != "secret" || m.Interval != 10*time.Second || m.ServiceName != "edge-eu" {
		t.Fatalf("metrics.otlp: %+v", m)
	}
	for cfg, want := range map[string]string{
		"telemetry: { metrics: { otlp: { exporter: prometheus } } }\n": "edgate.yaml:2: telemetry.metrics.otlp.exporter \"prometheus\" must be",
		"telemetry: { metrics: { otlp: { interval: 0s } } }\n":         "telemetry.metrics.otlp.interval 0s must be positive",
		"telemetry: { metrics: { otlp: { intervall: 5s } } }\n":        "intervall",
	} {
		_, err := load(t, sub+cfg, "a.graphql")
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", strings.TrimSpace(cfg), err, want)
		}
	}
}
