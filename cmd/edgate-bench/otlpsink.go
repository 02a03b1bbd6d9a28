package main

import (
	"io"
	"net"
	"net/http"
	"sync/atomic"
)

// otlpSink is a stand-in OTLP/HTTP trace collector for runs of a gateway with tracing on
// (testdata/edgate-tracing.yaml): it accepts every export and counts requests and bytes,
// so that the gateway pays for encoding and sending its spans but no collector competes
// for the CPU.
type otlpSink struct {
	srv      *http.Server
	requests atomic.Int64
	bytes    atomic.Int64
}

func startOTLPSink(addr string) (*otlpSink, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	s := &otlpSink{}
	s.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		s.requests.Add(1)
		s.bytes.Add(n)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.WriteHeader(http.StatusOK)
	})}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

func (s *otlpSink) Close() { _ = s.srv.Close() }
