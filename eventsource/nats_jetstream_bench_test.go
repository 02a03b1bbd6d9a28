package eventsource

import (
	"context"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"
)

// jetStreamIdlePeriod is how long one iteration of BenchmarkJetStreamIdle sits idle. The
// client's pull request expires every 30s and the server sends an idle heartbeat every 15s,
// so run at least -benchtime 30x to include a whole pull cycle.
const jetStreamIdlePeriod = time.Second

// BenchmarkJetStreamIdle measures the CPU time of the whole process (embedded JetStream
// server included) while JetStream subscriptions sit idle: no events are published. It
// reports cpu-ms/s, CPU milliseconds per wall second (1000 = one core busy). consumers=0 is
// the baseline of the server and the runtime; the difference to consumers=1 is the cost of
// one idle subscription.
//
//	go test -run '^$' -bench JetStreamIdle -benchtime 30x ./eventsource/
func BenchmarkJetStreamIdle(b *testing.B) {
	for _, consumers := range []int{0, 1, 100} {
		b.Run(fmt.Sprintf("consumers=%d", consumers), func(b *testing.B) {
			emb, err := StartEmbedded(EmbeddedOptions{Listen: "127.0.0.1:0", JetStream: true})
			if err != nil {
				b.Fatal(err)
			}
			defer emb.Shutdown()
			ctx := context.Background()
			n, err := NewNATS(ctx, NATSOptions{URL: emb.ClientURL(), InstanceID: "bench"})
			if err != nil {
				b.Fatal(err)
			}
			defer n.Close()
			js, err := jetstream.New(n.Conn())
			if err != nil {
				b.Fatal(err)
			}
			if _, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "IDLE", Subjects: []string{"idle.>"}}); err != nil {
				b.Fatal(err)
			}
			r := NewRegistry(zerolog.Nop())
			defer r.Close()
			if err := r.Add(n); err != nil {
				b.Fatal(err)
			}
			opts := ConsumeOptions{Stream: &StreamOptions{StreamName: "IDLE", ConsumerName: "edgate"}}
			for i := 0; i < consumers; i++ {
				unsub, err := r.Subscribe(ctx, "default", []string{fmt.Sprintf("idle.%d", i)}, opts, func(Event) {})
				if err != nil {
					b.Fatal(err)
				}
				defer unsub()
			}
			if got := r.Consumers(); got != consumers {
				b.Fatalf("%d consumers open, want %d", got, consumers)
			}
			time.Sleep(200 * time.Millisecond) // let start-up work settle

			b.ResetTimer()
			cpu0, wall0 := processCPU(b), time.Now()
			for i := 0; i < b.N; i++ {
				time.Sleep(jetStreamIdlePeriod)
			}
			cpu, wall := processCPU(b)-cpu0, time.Since(wall0)
			b.StopTimer()
			b.ReportMetric(float64(cpu)/float64(time.Millisecond)/wall.Seconds(), "cpu-ms/s")
			b.ReportMetric(0, "ns/op") // the op is sleeping; its time says nothing
		})
	}
}

// processCPU is the user plus system CPU time the process has used.
func processCPU(b *testing.B) time.Duration {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
