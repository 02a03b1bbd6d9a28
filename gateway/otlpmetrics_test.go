package gateway

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	collectormetrics "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an in-process OTLP/HTTP metrics receiver: it decodes every export
// request and keeps it.
type otlpReceiver struct {
	mu       sync.Mutex
	requests []*collectormetrics.ExportMetricsServiceRequest
	headers  []http.Header
	errs     []error
}

func (o *otlpReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	err := func() error {
		if r.URL.Path != "/v1/metrics" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			return fmt.Errorf("%s %s (%s)", r.Method, r.URL.Path, r.Header.Get("Content-Type"))
		}
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				return err
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			return err
		}
		req := &collectormetrics.ExportMetricsServiceRequest{}
		if err := proto.Unmarshal(b, req); err != nil {
			return err
		}
		o.mu.Lock()
		o.requests = append(o.requests, req)
		o.headers = append(o.headers, r.Header.Clone())
		o.mu.Unlock()
		return nil
	}()
	if err != nil {
		o.mu.Lock()
		o.errs = append(o.errs, err)
		o.mu.Unlock()
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ := proto.Marshal(&collectormetrics.ExportMetricsServiceResponse{})
	_, _ = w.Write(b)
}

// metric returns the last export's metric name and the service.name it came with.
func (o *otlpReceiver) metric(name string) (m *metricspb.Metric, service string, header http.Header) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i := len(o.requests) - 1; i >= 0; i-- {
		for _, rm := range o.requests[i].GetResourceMetrics() {
			for _, a := range rm.GetResource().GetAttributes() {
				if a.GetKey() == "service.name" {
					service = a.GetValue().GetStringValue()
				}
			}
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == name {
						return m, service, o.headers[i]
					}
				}
			}
		}
	}
	return nil, "", nil
}

func TestGateway_MetricsPushedOverOTLPHTTP(t *testing.T) {
	recv := &otlpReceiver{}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close) // after the gateway's shutdown, which exports once more
	g := startGateway(t, withYAML(`telemetry:
  metrics:
    otlp:
      enabled: true
      endpoint: `+collector.URL+`
      headers: { x-api-key: k1 }
      interval: 50ms
      service_name: edge-test`))

	if body := g.post(t, `{ employee(id: 1) { name } }`, ""); !strings.Contains(body, "Alice") {
		t.Fatalf("query: %s", body)
	}
	var fetch, misses *metricspb.Metric
	var service string
	var header http.Header
	eventually(t, "the query's subgraph fetch exported", func() bool {
		fetch, service, header = recv.metric("edgate_subgraph_fetch_duration_seconds")
		misses, _, _ = recv.metric("edgate_prepared_operation_misses_total")
		return histogramSamples(fetch, "subgraph", "employees") >= 1 && misses != nil
	})
	if service != "edge-test" || header.Get("X-Api-Key") != "k1" {
		t.Errorf("service.name %q, headers %v", service, header)
	}
	// Classic buckets, the ones /metrics and the dashboard use.
	if fetch.GetHistogram() == nil || len(fetch.GetHistogram().GetDataPoints()[0].GetExplicitBounds()) == 0 {
		t.Errorf("subgraph fetch histogram: %v", fetch)
	}
	sum := misses.GetSum()
	if sum == nil || !sum.GetIsMonotonic() || sum.GetAggregationTemporality() != metricspb.AggregationTemporality_AGGREGATION_TEMPORALITY_CUMULATIVE ||
		len(sum.GetDataPoints()) != 1 || sum.GetDataPoints()[0].GetAsDouble() < 1 {
		t.Errorf("prepared operation misses: %v", misses)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	if len(recv.errs) > 0 {
		t.Errorf("receiver: %v", recv.errs)
	}
}

// histogramSamples counts the samples of m's data points that have attribute key=value.
func histogramSamples(m *metricspb.Metric, key, value string) uint64 {
	var n uint64
	for _, dp := range m.GetHistogram().GetDataPoints() {
		for _, a := range dp.GetAttributes() {
			if a.GetKey() == key && a.GetValue().GetStringValue() == value {
				n += dp.GetCount()
			}
		}
	}
	return n
}
