package httpserver_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/edgate/edgate/internal/httpserver"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// protoHandler answers with the protocol the request came in on.
var protoHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	_, _ = io.WriteString(w, r.Proto)
})

// start listens on a random port and serves until the test ends.
func start(t *testing.T, opts httpserver.Options) *httpserver.Server {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	if opts.Handler == nil {
		opts.Handler = protoHandler
	}
	s, err := httpserver.Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve() }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-served; err != nil {
			t.Errorf("Serve returned %v after Shutdown, want nil", err)
		}
	})
	return s
}

func fetch(t *testing.T, client *http.Client, url string) (*http.Response, string) {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(body)
}

func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

func TestServer_CleartextServesHTTP1AndH2CPriorKnowledge(t *testing.T) {
	s := start(t, httpserver.Options{})
	url := "http://" + s.Addr().String() + "/"

	h1 := &http.Client{Transport: &http.Transport{}}
	defer h1.CloseIdleConnections()
	if resp, body := fetch(t, h1, url); resp.ProtoMajor != 1 || body != "HTTP/1.1" {
		t.Errorf("HTTP/1.1 client: %s, handler saw %s", resp.Proto, body)
	}

	h2 := h2cClient()
	defer h2.CloseIdleConnections()
	if resp, body := fetch(t, h2, url); resp.ProtoMajor != 2 || body != "HTTP/2.0" {
		t.Errorf("h2c prior-knowledge client: %s, handler saw %s", resp.Proto, body)
	}
}

func TestServer_TLSNegotiatesHTTP2(t *testing.T) {
	certFile, keyFile, pool := selfSignedCert(t)
	s := start(t, httpserver.Options{TLSCertFile: certFile, TLSKeyFile: keyFile})
	url := "https://" + s.Addr().String() + "/"

	h2 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer h2.CloseIdleConnections()
	resp, body := fetch(t, h2, url)
	if resp.ProtoMajor != 2 || body != "HTTP/2.0" {
		t.Errorf("TLS client: %s, handler saw %s", resp.Proto, body)
	}
	if resp.TLS == nil || resp.TLS.NegotiatedProtocol != "h2" {
		t.Errorf("ALPN did not select h2: %+v", resp.TLS)
	}

	// clients without HTTP/2 still get HTTP/1.1 over TLS
	var p http.Protocols
	p.SetHTTP1(true)
	h1 := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, Protocols: &p}}
	defer h1.CloseIdleConnections()
	if resp, _ := fetch(t, h1, url); resp.ProtoMajor != 1 {
		t.Errorf("HTTP/1.1-only TLS client got %s", resp.Proto)
	}
}

func TestServer_ConnectionsBeyondTheLimitAreClosed(t *testing.T) {
	s := start(t, httpserver.Options{MaxConnections: 1})
	url := "http://" + s.Addr().String() + "/"

	first := &http.Client{Transport: &http.Transport{}}
	fetch(t, first, url) // its connection stays open (keep-alive) and holds the only slot

	second := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	defer second.CloseIdleConnections()
	if resp, err := second.Get(url); err == nil {
		resp.Body.Close()
		t.Fatal("a second connection was served beyond MaxConnections 1")
	}

	// when the first connection goes away its slot is free again
	first.CloseIdleConnections()
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := second.Get(url)
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the slot was not released: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestListen_RejectsBadOptions(t *testing.T) {
	if _, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: protoHandler, TLSCertFile: "cert.pem"}); err == nil {
		t.Error("a certificate without a key was accepted")
	}
	if _, err := httpserver.Listen(httpserver.Options{Addr: "127.0.0.1:0", Handler: protoHandler, TLSCertFile: "missing.pem", TLSKeyFile: "missing.key"}); err == nil {
		t.Error("missing TLS files were accepted")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if _, err := httpserver.Listen(httpserver.Options{Addr: ln.Addr().String(), Handler: protoHandler}); err == nil {
		t.Error("an address in use was accepted")
	}
}

// selfSignedCert writes a certificate for 127.0.0.1 and its key to files and returns a
// pool that trusts it.
func selfSignedCert(t *testing.T) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "edgate test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}
