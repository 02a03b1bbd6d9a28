package schema_test

import (
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/edgate/edgate/schema"
)

func fiveSubgraphs(t testing.TB) []schema.SubgraphSource {
	return []schema.SubgraphSource{
		subgraph(t, "employees", "http://127.0.0.1:4001/graphql"),
		subgraph(t, "products", "http://127.0.0.1:4002/graphql"),
		subgraph(t, "inventory", "http://127.0.0.1:4003/graphql"),
		subgraph(t, "reviews_v1", "http://127.0.0.1:4004/graphql"),
		subgraph(t, "events", ""),
	}
}

// BenchmarkCompose_FiveSubgraphsWarmVM measures a reload-time composition when the
// composer's JS VM is still pooled from a previous call.
func BenchmarkCompose_FiveSubgraphsWarmVM(b *testing.B) {
	srcs := fiveSubgraphs(b)
	if _, err := schema.Compose(srcs); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	cpu := cpuTime()
	for i := 0; i < b.N; i++ {
		if _, err := schema.Compose(srcs); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, cpu)
}

// BenchmarkCompose_FiveSubgraphsColdVM measures a start-up composition: composition-go
// pools its VM in a sync.Pool, which two garbage collections empty, so every iteration
// pays for starting the VM and loading the composer bundle.
func BenchmarkCompose_FiveSubgraphsColdVM(b *testing.B) {
	srcs := fiveSubgraphs(b)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		start := cpuTime()
		b.StartTimer()
		if _, err := schema.Compose(srcs); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - start
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkCompose_FiveSubgraphsAfterPrewarm measures a start-up composition that follows
// Prewarm (run beside other start-up work, untimed here).
func BenchmarkCompose_FiveSubgraphsAfterPrewarm(b *testing.B) {
	srcs := fiveSubgraphs(b)
	var cpu time.Duration
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		runtime.GC()
		runtime.GC()
		if err := schema.Prewarm(); err != nil {
			b.Fatal(err)
		}
		start := cpuTime()
		b.StartTimer()
		if _, err := schema.Compose(srcs); err != nil {
			b.Fatal(err)
		}
		cpu += cpuTime() - start
	}
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkBuild measures turning a composed supergraph into the plan configuration.
func BenchmarkBuild(b *testing.B) {
	sg, err := schema.Compose(fiveSubgraphs(b))
	if err != nil {
		b.Fatal(err)
	}
	opts := buildOptions(b, &eventRecorder{})
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := sg.Build(opts); err != nil {
			b.Fatal(err)
		}
	}
}

// cpuTime is the process's user+system CPU time. The machine is shared, so wall time
// says little; CPU time per operation is what composition costs.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64((cpuTime()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
}
