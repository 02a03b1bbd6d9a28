package gateway

import (
	"encoding/json"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads /metrics in the Prometheus text format and parses it.
func scrape(t *testing.T, g *testGateway) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get("http://" + g.Addr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return mf
}

// histogramCount returns the sample count of family name's series whose labels include
// want, or -1 when there is none.
func histogramCount(mf map[string]*dto.MetricFamily, name string, want map[string]string) int {
	f, ok := mf[name]
	if !ok || f.GetType() != dto.MetricType_HISTOGRAM {
		return -1
	}
	total := -1
next:
	for _, m := range f.GetMetric() {
		for k, v := range want {
			found := false
			for _, l := range m.GetLabel() {
				if l.GetName() == k && l.GetValue() == v {
					found = true
				}
			}
			if !found {
				continue next
			}
		}
		if total < 0 {
			total = 0
		}
		total += int(m.GetHistogram().GetSampleCount())
	}
	return total
}

func gaugeValue(mf map[string]*dto.MetricFamily, name, label, value string) float64 {
	for _, m := range mf[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label && l.GetValue() == value {
				return m.GetGauge().GetValue()
			}
		}
	}
	return -1
}

func TestGateway_LatencyHistogramsAndConnectionGaugesOnMetrics(t *testing.T) {
	g := startGateway(t)
	// A query: planned once, fetched from the employees subgraph.
	if body := g.post(t, `{ employee(id: 1) { name } }`, ""); !strings.Contains(body, "Alice") {
		t.Fatalf("query: %s", body)
	}
	// Subscribers on both transports; then a publish mutation whose event they receive
	// with an _entities fetch.
	sse := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 3) { id name } }`, "")
	ws := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, ws, `{"type":"connection_init"}`)
	if m := wsRead(t, ws); m["type"] != "connection_ack" {
		t.Fatalf("got %v", m)
	}
	wsSend(t, ws, `{"id":"1","type":"subscribe","payload":{"query":"subscription { employeeUpdated(id: 3) { id } }"}}`)
	eventually(t, "subscriptions", func() bool { return g.stats.Subscribers.Load() == 2 })
	if body := g.post(t, `mutation { updateEmployee(id: 3) { success } }`, ""); !strings.Contains(body, "true") {
		t.Fatalf("mutation: %s", body)
	}
	if got := sse.next(t); !strings.Contains(got, `"id":3`) {
		t.Fatalf("sse: %s", got)
	}
	if m := wsRead(t, ws); m["type"] != "next" {
		t.Fatalf("ws: %v", m)
	}

	var mf map[string]*dto.MetricFamily
	eventually(t, "both deliveries observed", func() bool {
		mf = scrape(t, g)
		return histogramCount(mf, "edgate_event_delivery_latency_seconds", map[string]string{"transport": "sse"}) >= 1 &&
			histogramCount(mf, "edgate_event_delivery_latency_seconds", map[string]string{"transport": "websocket"}) >= 1
	})
	for _, c := range []struct {
		name   string
		labels map[string]string
		min    int
	}{
		{"edgate_subgraph_fetch_duration_seconds", map[string]string{"subgraph": "employees", "status": "200"}, 2}, // the query and the event's _entities fetch
		{"edgate_operation_planning_duration_seconds", nil, 3},                                                     // query, two subscriptions, mutation (one of the subscriptions may share a plan)
		{"edgate_publish_duration_seconds", map[string]string{"provider": "nats/default"}, 1},
		{"edgate_event_resolve_latency_seconds", nil, 2}, // once per group: the two subscriptions select different fields
	} {
		if got := histogramCount(mf, c.name, c.labels); got < c.min {
			t.Errorf("%s%v: %d samples, want at least %d", c.name, c.labels, got, c.min)
		}
	}
	if got := gaugeValue(mf, "edgate_open_connections", "transport", "sse"); got != 1 {
		t.Errorf("open SSE streams %v", got)
	}
	if got := gaugeValue(mf, "edgate_open_connections", "transport", "websocket"); got != 1 {
		t.Errorf("open WebSocket connections %v", got)
	}
}

// TestGateway_DashboardUsesExportedMetrics checks that every metric deploy/grafana's
// dashboard queries is one /metrics exports (histograms by their _bucket, _count and _sum
// series).
func TestGateway_DashboardUsesExportedMetrics(t *testing.T) {
	b, err := os.ReadFile("../deploy/grafana/edgate.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	g := startGateway(t)
	// Traffic that makes every labelled series exist: a query, SSE and WebSocket
	// subscribers, a publish mutation and its event.
	g.post(t, `{ employee(id: 1) { name } }`, "")
	c := subscribeSSE(t, g.URL(), `subscription { employeeUpdated(id: 4) { id name } }`, "")
	ws := dialWS(t, g, "graphql-transport-ws")
	wsSend(t, ws, `{"type":"connection_init"}`)
	wsRead(t, ws)
	eventually(t, "subscription", func() bool { return g.stats.Subscribers.Load() == 1 })
	g.post(t, `mutation { updateEmployee(id: 4) { success } }`, "")
	c.next(t)
	var mf map[string]*dto.MetricFamily
	eventually(t, "the delivery observed", func() bool {
		mf = scrape(t, g)
		return histogramCount(mf, "edgate_event_delivery_latency_seconds", map[string]string{"transport": "sse"}) >= 1
	})
	exported := map[string]bool{}
	for name, f := range mf {
		exported[name] = true
		if f.GetType() == dto.MetricType_HISTOGRAM {
			for _, s := range []string{"_bucket", "_count", "_sum"} {
				exported[name+s] = true
			}
		}
	}
	metric := regexp.MustCompile(`\bedgate_[a-z0-9_]+`)
	seen := 0
	for _, p := range dash.Panels {
		for _, tg := range p.Targets {
			for _, name := range metric.FindAllString(tg.Expr, -1) {
				seen++
				if !exported[name] {
					t.Errorf("panel %q queries %s, which /metrics does not export", p.Title, name)
				}
			}
		}
	}
	if seen < 10 {
		t.Fatalf("only %d metric references found in the dashboard", seen)
	}
}

// edgate_http2_connections counts the open HTTP/2 connections (here h2c with prior
// knowledge): one while a client holds one, none once it closed it.
func TestGateway_HTTP2ConnectionsGauge(t *testing.T) {
	g := startGateway(t)
	value := func() float64 {
		f := scrape(t, g)["edgate_http2_connections"]
		if f == nil || len(f.GetMetric()) != 1 {
			t.Fatalf("edgate_http2_connections: %v", f)
		}
		return f.GetMetric()[0].GetGauge().GetValue()
	}
	if v := value(); v != 0 {
		t.Fatalf("%v HTTP/2 connections before any", v)
	}
	var protocols http.Protocols
	protocols.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protocols}
	client := &http.Client{Transport: tr}
	resp, err := client.Post(g.URL(), "application/json", strings.NewReader(`{"query":"{ employee(id: 1) { name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.ProtoMajor != 2 {
		t.Fatalf("answered over %s", resp.Proto)
	}
	if v := value(); v != 1 {
		t.Fatalf("%v HTTP/2 connections while one is open", v)
	}
	tr.CloseIdleConnections()
	eventually(t, "the connection gone", func() bool { return value() == 0 })
}
