package telemetry

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promBridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
)

// MetricsOptions configure the OTLP export of the Prometheus metrics (config
// telemetry.metrics.otlp).
type MetricsOptions struct {
	// Exporter is "otlp-http" (default) or "otlp-grpc".
	Exporter string
	// Endpoint is the collector: host:port, or a URL (http:// means no TLS; for otlp-http
	// a URL without a path gets /v1/metrics). Default: the exporter's own (localhost:4318 /
	// localhost:4317, or OTEL_EXPORTER_OTLP_ENDPOINT).
	Endpoint string
	// Headers are sent with every export.
	Headers map[string]string
	// Interval is the time between exports; 0 means 30s.
	Interval time.Duration
	// ServiceName is the resource's service.name. Default "edgate".
	ServiceName string
}

// NewMeterProvider exports what gatherer collects (the registry behind /metrics) over OTLP
// every opts.Interval. The metrics stay Prometheus collectors: the hot path is the same
// whether they are scraped, pushed or both, and a push reads them the way a scrape does.
// Shutdown exports once more and stops the reader's goroutine.
func NewMeterProvider(ctx context.Context, opts MetricsOptions, gatherer prometheus.Gatherer) (*sdkmetric.MeterProvider, error) {
	var exp sdkmetric.Exporter
	var err error
	switch opts.Exporter {
	case "", "otlp-http":
		exp, err = otlpmetrichttp.New(ctx, exporterOptions[otlpmetrichttp.Option]{
			url: func(u string) otlpmetrichttp.Option {
				return otlpmetrichttp.WithEndpointURL(signalURL(u, "/v1/metrics"))
			},
			host:     otlpmetrichttp.WithEndpoint,
			insecure: otlpmetrichttp.WithInsecure,
			headers:  otlpmetrichttp.WithHeaders,
		}.of(opts.Endpoint, opts.Headers)...)
	case "otlp-grpc":
		exp, err = otlpmetricgrpc.New(ctx, exporterOptions[otlpmetricgrpc.Option]{
			url:      otlpmetricgrpc.WithEndpointURL,
			host:     otlpmetricgrpc.WithEndpoint,
			insecure: otlpmetricgrpc.WithInsecure,
			headers:  otlpmetricgrpc.WithHeaders,
		}.of(opts.Endpoint, opts.Headers)...)
	default:
		return nil, fmt.Errorf("metrics exporter %q: use otlp-http or otlp-grpc", opts.Exporter)
	}
	if err != nil {
		return nil, fmt.Errorf("metrics exporter: %w", err)
	}
	interval := opts.Interval
	if interval <= 0 {
		interval = 30 * time.Second
	}
	name := opts.ServiceName
	if name == "" {
		name = "edgate"
	}
	producer := promBridge.NewMetricProducer(promBridge.WithGatherer(classicHistograms{gatherer}))
	reader := sdkmetric.NewPeriodicReader(exp, sdkmetric.WithInterval(interval), sdkmetric.WithProducer(producer))
	return sdkmetric.NewMeterProvider(
		sdkmetric.WithReader(reader),
		sdkmetric.WithResource(resource.NewSchemaless(semconv.ServiceName(name))),
	), nil
}

// classicHistograms hands the bridge the histograms' classic buckets only. The bridge
// turns a histogram with native buckets into an OTLP exponential histogram, which not
// every backend takes; the classic buckets are the ones the text format and the
// dashboard use, so an OTLP backend sees the same le boundaries as a scraper.
type classicHistograms struct{ g prometheus.Gatherer }

func (c classicHistograms) Gather() ([]*dto.MetricFamily, error) {
	mfs, err := c.g.Gather()
	for _, mf := range mfs {
		if mf.GetType() != dto.MetricType_HISTOGRAM {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			// Gather builds new protos each time: clearing their native parts is safe.
			h.Schema, h.ZeroThreshold, h.ZeroCount, h.ZeroCountFloat = nil, nil, nil, nil
			h.PositiveSpan, h.PositiveDelta, h.PositiveCount = nil, nil, nil
			h.NegativeSpan, h.NegativeDelta, h.NegativeCount = nil, nil, nil
		}
	}
	return mfs, err
}
