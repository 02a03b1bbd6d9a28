package h2server_test

import (
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/edgate/edgate/internal/httpserver"
)

// testServer is an httpserver (net/http for HTTP/1.1, h2server for HTTP/2) on a random
// port.
type testServer struct {
	srv     *httpserver.Server
	tls     bool
	rawAddr string // instead of srv
}

func (s *testServer) hostPort(t testing.TB) (string, int) {
	host, port, err := net.SplitHostPort(s.srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

func (s *testServer) addr() string {
	if s.rawAddr != "" {
		return s.rawAddr
	}
	return s.srv.Addr().String()
}

func startServer(t testing.TB, tlsOn bool, h http.Handler) *testServer {
	t.Helper()
	opts := httpserver.Options{Addr: "127.0.0.1:0", Handler: h}
	if tlsOn {
		opts.TLSCertFile, opts.TLSKeyFile = writeTestCert(t)
	}
	srv, err := httpserver.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve() }()
	t.Cleanup(func() {
		_ = srv.Shutdown(t.Context())
		<-done
	})
	return &testServer{srv: srv, tls: tlsOn}
}

// writeTestCert writes httptest's localhost certificate and key to files.
func writeTestCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	ts.StartTLS()
	cert := ts.TLS.Certificates[0]
	ts.Close()
	dir := t.TempDir()
	certFile, keyFile = dir+"/cert.pem", dir+"/key.pem"
	if err := writePEM(certFile, "CERTIFICATE", cert.Certificate[0]); err != nil {
		t.Fatal(err)
	}
	key, err := marshalKey(cert)
	if err != nil {
		t.Fatal(err)
	}
	if err := writePEM(keyFile, "PRIVATE KEY", key); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

var _ = tls.VersionTLS12

// conformanceHandler answers every request: the body read to its end, then a short text.
func conformanceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "hello from edgate\n")
	})
}
