// Package directives_test runs the directive reference schema of README.md (events.graphql
// here, quoted there verbatim) on a gateway with all three brokers in process.
package directives_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/edgate/edgate/config"
	"github.com/edgate/edgate/examples/internal/stack"
)

type env struct {
	gw interface{ URL() string }
	nc *nats.Conn
}

func start(t *testing.T) *env {
	t.Helper()
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, "employees", "employee-changes-1"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cluster.Close)
	redis := miniredis.RunT(t)

	cfg, err := config.Load("edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.ListenAddr = "127.0.0.1:0"
	cfg.Events.Providers.NATS[0].URL = "" // the embedded server
	cfg.EmbeddedNATS.Listen = "127.0.0.1:0"
	cfg.Events.Providers.Kafka[0].Brokers = cluster.ListenAddrs()
	cfg.Events.Providers.Redis[0].URLs = []string{"redis://" + redis.Addr()}
	s, err := stack.Start(context.Background(), cfg, zerolog.Nop())
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	nc, err := nats.Connect(s.Gateway.Embedded().ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return &env{gw: s.Gateway, nc: nc}
}

func (e *env) post(t *testing.T, query string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	resp, err := http.Post(e.gw.URL(), "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func TestReferenceSchema_IsQuotedVerbatimInTheREADME(t *testing.T) {
	schema, err := os.ReadFile("events.graphql")
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, schema) {
		t.Fatal("README.md does not quote examples/directives/events.graphql verbatim")
	}
}

func TestReferenceSchema_PublishMutationsSucceedOnEveryBroker(t *testing.T) {
	e := start(t)
	for _, m := range []string{
		`mutation { renameEmployee(id: 1, name: "Ada") { success } }`,
		`mutation { renameEmployeeKafka(input: {id: 1, name: "Ada"}) { success } }`,
		`mutation { renameEmployeeRedis(input: {id: 1, name: "Ada"}) { success } }`,
	} {
		if got := e.post(t, m); !strings.Contains(got, `{"success":true}`) {
			t.Errorf("%s: got %s", m, got)
		}
	}
}

func TestReferenceSchema_RequestResolvesTheReplyAsTheEntity(t *testing.T) {
	e := start(t)
	sub, err := e.nc.Subscribe("getEmployee.*", func(m *nats.Msg) {
		_ = m.Respond([]byte(`{"__typename":"Employee","id":5}`))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = sub.Unsubscribe() }()
	_ = e.nc.Flush()
	got := e.post(t, `query { employeeFromService(id: 5) { id name } }`)
	if want := `{"data":{"employeeFromService":{"id":5,"name":"Emeka Okafor"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}

func TestReferenceSchema_CombinedFilterPassesOnlyMatchingEvents(t *testing.T) {
	e := start(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	done := make(chan struct{})
	defer close(done)
	// Publish ids 1, 2 and 3 until the subscription has its first event: 1 is excepted, 3
	// is not in ids, so only 2 may arrive.
	go func() {
		for {
			for _, id := range []string{"1", "3", "2"} {
				_ = e.nc.Publish("employeeUpdated."+id, []byte(`{"__typename":"Employee","id":`+id+`}`))
			}
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	got, err := stack.FirstSSEEvent(ctx, e.gw.URL(), `subscription { employeesUpdatedExcept(ids: [1, 2], except: 1) { id name } }`)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"data":{"employeesUpdatedExcept":{"id":2,"name":"Bilal Khan"}}}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
}
