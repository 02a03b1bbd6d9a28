package h2server_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
)

func writePEM(path, typ string, der []byte) error {
	return os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600)
}

func marshalKey(cert tls.Certificate) ([]byte, error) {
	return x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
}
