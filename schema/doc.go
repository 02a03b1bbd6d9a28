// Package schema turns subgraph SDLs (or a Cosmo execution config) into a composed
// supergraph and then into the graphql-go-tools plan configuration the engine runs on.
//
//	sg, err := schema.Compose(subgraphs)            // or schema.LoadExecutionConfig(path)
//	s, err := sg.Build(schema.BuildOptions{...})     // engine schema, client schema, plan config
//
// Event subgraphs (those using the @edfs__ directives) are rewritten by package directives
// into plain entity-key form before composition, composed with a placeholder routing URL,
// and built by the caller's EventDataSourceFactory instead of as GraphQL data sources.
//
// # Composition cost
//
// Composition runs Cosmo's composer (github.com/wundergraph/cosmo/composition-go), a
// JavaScript bundle on an embedded VM, so it happens at start-up and reload only, never per
// request. composition-go uses the pure-Go goja VM by default; the build tag
// wg_composition_v8 switches to V8 (cgo, about 30 MB larger binary). Measured on this
// project's 2-core machine for five subgraphs (BenchmarkCompose_*, CPU time per call):
//
//	              first call (VM start)   after Prewarm   VM reused
//	goja          ~0.65-0.75 s            ~0.35-0.4 s     ~0.25-0.3 s
//	V8            ~0.2 s                  ~0.1 s          ~0.03 s
//
// Starting the VM is the larger part of a first composition, hence Prewarm, which start-up
// can run beside its other work. The VM stays pooled until the second garbage collection
// after its last use, so a reload usually pays the first-call price again.
package schema
