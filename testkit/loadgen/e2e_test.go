package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	natsserver "github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/rs/zerolog"
	"go.uber.org/goleak"
)

// workerEnv makes the test binary act as a worker process (see TestMain).
const workerEnv = "LOADGEN_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(workerEnv) == "1" {
		if err := ServeWorker(context.Background(), os.Stdin, os.Stdout, zerolog.Nop()); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

func startNATS(t *testing.T) string {
	t.Helper()
	s, err := natsserver.NewServer(&natsserver.Options{Host: "127.0.0.1", Port: -1, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	s.Start()
	if !s.ReadyForConnections(5 * time.Second) {
		t.Fatal("nats not ready")
	}
	t.Cleanup(s.Shutdown)
	return s.ClientURL()
}

// fakeGateway forwards every event on subject to each SSE or graphql-transport-ws
// subscriber as {"data":{"employeeUpdated":{"id":<event id>}}}, like edgate with a
// key-only subscription.
// With useTLS it serves HTTP/1.1 and HTTP/2 over TLS (ALPN), otherwise HTTP/1.1 and h2c.
func fakeGateway(t *testing.T, natsURL, subject string, useTLS bool) *httptest.Server {
	t.Helper()
	nc, err := nats.Connect(natsURL)
	if err != nil {
		t.Fatal(err)
	}
	result := func(m *nats.Msg) []byte {
		var ev struct{ ID int64 }
		_ = json.Unmarshal(m.Data, &ev)
		return fmt.Appendf(nil, `{"data":{"employeeUpdated":{"id":%d}}}`, ev.ID)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/graphql", func(w http.ResponseWriter, r *http.Request) {
		if strings.Contains(r.Header.Get("Accept"), "text/event-stream") {
			ch := make(chan *nats.Msg, 1024)
			sub, err := nc.ChanSubscribe(subject, ch)
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
			defer sub.Unsubscribe()
			w.Header().Set("Content-Type", "text/event-stream")
			w.WriteHeader(200)
			w.(http.Flusher).Flush()
			for n := 1; ; n++ {
				select {
				case m := <-ch:
					fmt.Fprintf(w, "id: %d\nevent: next\ndata: %s\n\n", n, result(m))
					w.(http.Flusher).Flush()
				case <-r.Context().Done():
					return
				}
			}
		}
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		// a hijacked connection's request context does not end with the connection
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		ch := make(chan *nats.Msg, 1024)
		var ids []string
		for {
			_, data, err := c.Read(ctx)
			if err != nil {
				return
			}
			var msg struct{ ID, Type string }
			_ = json.Unmarshal(data, &msg)
			if msg.Type == "connection_init" {
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_init_ack_is_not_this"}`))
				_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"connection_ack"}`))
				continue
			}
			if msg.Type == "subscribe" {
				ids = append(ids, msg.ID)
				if len(ids) == 2 { // the test puts two subscriptions on each connection
					break
				}
			}
		}
		sub, err := nc.ChanSubscribe(subject, ch)
		if err != nil {
			return
		}
		defer sub.Unsubscribe()
		go func() { // drain client messages (pong) so close frames are seen
			defer cancel()
			for {
				if _, _, err := c.Read(ctx); err != nil {
					return
				}
			}
		}()
		_ = c.Write(ctx, websocket.MessageText, []byte(`{"type":"ping"}`))
		for {
			select {
			case m := <-ch:
				for _, id := range ids {
					out := fmt.Appendf(nil, `{"id":"%s","type":"next","payload":%s}`, id, result(m))
					if err := c.Write(ctx, websocket.MessageText, out); err != nil {
						return
					}
				}
			case <-ctx.Done():
				return
			}
		}
	})
	srv := httptest.NewUnstartedServer(mux)
	protocols := new(http.Protocols)
	protocols.SetHTTP1(true)
	if useTLS {
		protocols.SetHTTP2(true)
		srv.EnableHTTP2 = true
		srv.Config.Protocols = protocols
		srv.StartTLS()
	} else {
		protocols.SetUnencryptedHTTP2(true)
		srv.Config.Protocols = protocols
		srv.Start()
	}
	t.Cleanup(func() {
		srv.Close()
		nc.Close()
	})
	return srv
}

// group is what the benchmark drives: an in-process Pool or a worker process.
type group interface {
	Status() (Status, error)
	Published(seq, at int64) error
	Mark() error
	Result(published int64) (Result, error)
}

type localGroup struct{ *Pool }

func (g localGroup) Status() (Status, error)        { return g.Pool.Status(), nil }
func (g localGroup) Published(seq, at int64) error  { g.Pool.Published(seq, at); return nil }
func (g localGroup) Mark() error                    { g.Pool.Mark(); return nil }
func (g localGroup) Result(n int64) (Result, error) { return g.Pool.Result(n), nil }

// runSmoke warms g up, publishes events and returns the merged result.
func runSmoke(t *testing.T, natsURL, subject string, g group, subs int, events int64) Result {
	t.Helper()
	pub, err := NewPublisher(natsURL, subject, DefaultPayload)
	if err != nil {
		t.Fatal(err)
	}
	defer pub.Close()
	deadline := time.Now().Add(20 * time.Second)
	for {
		st, err := g.Status()
		if err != nil {
			t.Fatal(err)
		}
		if st.Failed > 0 {
			r, _ := g.Result(0)
			t.Fatalf("subscriptions failed: %v", r.FailReasons)
		}
		if st.Warm == subs {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not warm: %+v", st)
		}
		if _, err := pub.Publish(0); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := g.Mark(); err != nil {
		t.Fatal(err)
	}
	st, err := pub.Run(context.Background(), events, 0, func(seq, at int64) {
		if err := g.Published(seq, at); err != nil {
			t.Error(err)
		}
	})
	if err != nil || st.Published != events {
		t.Fatalf("published %d: %v", st.Published, err)
	}
	for time.Now().Before(deadline) {
		s, _ := g.Status()
		if s.Received == events*int64(subs) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	r, err := g.Result(events)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func checkComplete(t *testing.T, r Result, subs int, events int64) {
	t.Helper()
	if r.Connected != subs || r.Received != events*int64(subs) || r.Complete != subs {
		t.Fatalf("connected %d received %d complete %d; want %d, %d, %d (result %+v)",
			r.Connected, r.Received, r.Complete, subs, events*int64(subs), subs, r)
	}
	if r.OutOfOrder != 0 || r.Duplicates != 0 || r.Unmatched != 0 || r.Errors != 0 {
		t.Errorf("out of order %d duplicates %d unmatched %d errors %d", r.OutOfOrder, r.Duplicates, r.Unmatched, r.Errors)
	}
	if r.Quantile(0.5) <= 0 || r.MaxLatency <= 0 || r.MaxLatency > 20*time.Second {
		t.Errorf("latency p50 %v max %v", r.Quantile(0.5), r.MaxLatency)
	}
}

func TestPool_ReceivesEveryEventOverEachTransport(t *testing.T) {
	natsURL := startNATS(t)
	srv := fakeGateway(t, natsURL, "employeeUpdated.1", false)
	tlsSrv := fakeGateway(t, natsURL, "employeeUpdated.1", true)
	for _, tc := range []struct {
		name string
		cfg  Config
		subs int
	}{
		{"sse", Config{Transport: "sse", Sources: []string{"127.0.0.1", "127.0.0.2"}}, 6},
		{"sse-get", Config{Transport: "sse", SSEGet: true}, 2},
		{"sse-h2", Config{Transport: "sse", SSEH2: true, H2StreamsPerConn: 3}, 6},
		{"sse-h2-get", Config{Transport: "sse", SSEH2: true, SSEGet: true, H2StreamsPerConn: 3}, 4},
		{"sse-h2-nethttp", Config{Transport: "sse", SSEH2: true, H2StreamsPerConn: 3, H2Client: H2ClientNetHTTP}, 6},
		{"sse-h2-tls", Config{URL: tlsSrv.URL + "/graphql", Transport: "sse", SSEH2: true, H2StreamsPerConn: 3}, 6},
		{"ws", Config{Transport: "ws", WSSubsPerConn: 2}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if cfg.URL == "" {
				cfg.URL = srv.URL + "/graphql"
			}
			cfg.Query = "subscription { employeeUpdated(id: 1) { id } }"
			cfg.Subscribers = tc.subs
			cfg.MaxSeq = 50
			pool, err := NewPool(cfg, zerolog.Nop())
			if err != nil {
				t.Fatal(err)
			}
			pool.Start(context.Background())
			r := runSmoke(t, natsURL, "employeeUpdated.1", localGroup{pool}, tc.subs, 50)
			pool.Close()
			checkComplete(t, r, tc.subs, 50)
			if r := pool.Result(50); r.Ended != tc.subs || r.EndReasons["closed by the load generator"] != tc.subs {
				t.Errorf("after Close: ended %d reasons %v", r.Ended, r.EndReasons)
			}
		})
	}
}

func TestRemote_WorkerProcessReportsOverStdout(t *testing.T) {
	natsURL := startNATS(t)
	srv := fakeGateway(t, natsURL, "employeeUpdated.1", false)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(workerEnv, "1")
	cfg := Config{URL: srv.URL + "/graphql", Transport: "sse", Query: "subscription { employeeUpdated(id: 1) { id } }", Subscribers: 3, MaxSeq: 20}
	var stderr bytes.Buffer
	w, err := StartWorker(exe, []string{"-test.run=^$"}, cfg, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	r := runSmoke(t, natsURL, "employeeUpdated.1", w, 3, 20)
	if err := w.Close(); err != nil {
		t.Errorf("close: %v (stderr %s)", err, stderr.String())
	}
	checkComplete(t, r, 3, 20)
	if r.CPU <= 0 && r.Processes != 1 {
		t.Errorf("cpu %v processes %d", r.CPU, r.Processes)
	}
}
