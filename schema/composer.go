package schema

import (
	"fmt"
	"sync"
	"sync/atomic"

	composition "github.com/wundergraph/cosmo/composition-go"
)

// composerMu serializes use of the composer. composition-go keeps its JS VMs in a
// sync.Pool and starts a new VM whenever the pool is empty; starting one costs more than a
// composition itself (about 0.4 s of CPU with the default goja VM), and each VM holds tens
// of megabytes. One composition at a time means one VM, reused by the next call for as
// long as the pool keeps it (until the second garbage collection after its last use).
var composerMu sync.Mutex

// warm is set once a composition ran, so that a Prewarm that comes later does nothing.
var warm atomic.Bool

// prewarmSchema is the smallest graph that runs the whole composer, so that its code is
// loaded and compiled before the real graph arrives.
const prewarmSchema = `type Query { ping: String }`

// Prewarm starts the composer's JS VM and runs a tiny composition, so that a Compose call
// shortly afterwards finds the VM ready. It blocks for the duration (about 0.5 s with the
// default goja VM); start-up runs it in a goroutine beside its other work (reading files,
// starting brokers). A Compose that starts meanwhile waits for it rather than starting a
// second VM. Prewarm is optional: Compose works without it.
func Prewarm() error {
	_, err := runComposer([]*composition.Subgraph{{Name: "prewarm", URL: "http://prewarm.invalid/graphql", Schema: prewarmSchema}}, true)
	if err != nil {
		return fmt.Errorf("prewarm composer: %w", err)
	}
	return nil
}

// buildRouterConfiguration shields start-up from a panic inside the JS VM: a malformed
// schema must end in an error, not a crash.
func buildRouterConfiguration(in []*composition.Subgraph) (out string, err error) {
	return runComposer(in, false)
}

// runComposer composes in; a prewarm does nothing once a composition ran.
func runComposer(in []*composition.Subgraph, prewarm bool) (out string, err error) {
	composerMu.Lock()
	defer composerMu.Unlock()
	if prewarm && warm.Load() {
		return "", nil
	}
	defer warm.Store(true)
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("composer panicked: %v", r)
		}
	}()
	return composition.BuildRouterConfiguration(in...)
}
