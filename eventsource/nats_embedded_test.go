package eventsource

import (
	"os"
	"strings"
	"testing"

	"github.com/nats-io/nats.go"
	"go.uber.org/goleak"
)

func TestEmbedded_RandomPortTempStoreAndIdempotentShutdown(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	e, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", JetStream: true})
	if err != nil {
		t.Fatal(err)
	}
	if u := e.ClientURL(); !strings.HasPrefix(u, "nats://127.0.0.1:") || strings.HasSuffix(u, ":0") || strings.HasSuffix(u, ":4222") {
		t.Fatalf("client url = %s, want a random port", u)
	}
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := nc.SubscribeSync("x.>"); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	if got := e.NumSubscriptions(); got != 1 {
		t.Errorf("subscriptions = %d, want 1 (internal ones not counted)", got)
	}
	nc.Close()
	store := e.tempDir
	if _, err := os.Stat(store); err != nil {
		t.Fatalf("temporary store dir: %v", err)
	}
	e.Shutdown()
	e.Shutdown()
	if _, err := os.Stat(store); !os.IsNotExist(err) {
		t.Fatalf("temporary store dir left after shutdown: %v", err)
	}
}

func TestEmbedded_ReportsListenErrors(t *testing.T) {
	e := startEmbedded(t, EmbeddedOptions{Listen: "127.0.0.1:-1"})
	busy := strings.TrimPrefix(e.ClientURL(), "nats://")
	for _, listen := range []string{"nohostport", "127.0.0.1:http", "127.0.0.1:70000", busy} {
		if e2, err := StartEmbedded(EmbeddedOptions{Listen: listen}); err == nil {
			e2.Shutdown()
			t.Errorf("listen %q: want error", listen)
		}
	}
}
