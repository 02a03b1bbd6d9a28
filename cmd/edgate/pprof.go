package main

import (
	"fmt"
	"net/http"
	"net/http/pprof"
	"os"
)

// With EDGATE_PPROF=host:port (e.g. 127.0.0.1:6060) the process serves net/http/pprof
// there, for profiling benchmark runs (`go tool pprof http://127.0.0.1:6060/debug/pprof/profile?seconds=15`).
// Unset, nothing listens. It lives as long as the process.
func init() {
	addr := os.Getenv("EDGATE_PPROF")
	if addr == "" {
		return
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() {
		if err := http.ListenAndServe(addr, mux); err != nil {
			fmt.Fprintf(os.Stderr, "edgate: pprof on %s: %v\n", addr, err)
		}
	}()
}
