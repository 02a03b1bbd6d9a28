package subjectauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
)

// LoadPublicKey reads a PEM public key (PKIX "PUBLIC KEY", PKCS#1 "RSA PUBLIC KEY") or a
// certificate whose key is used, from file.
func LoadPublicKey(file string) (crypto.PublicKey, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	key, err := ParsePublicKey(data)
	if err != nil {
		return nil, fmt.Errorf("public key %s: %w", file, err)
	}
	return key, nil
}

// ParsePublicKey parses the first PEM block of data as an RSA, ECDSA or Ed25519 public key
// or as a certificate holding one.
func ParsePublicKey(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "CERTIFICATE":
		var cert *x509.Certificate
		if cert, err = x509.ParseCertificate(block.Bytes); err == nil {
			key = cert.PublicKey
		}
	case "RSA PUBLIC KEY":
		key, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case "PUBLIC KEY":
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block %q is not a public key or certificate (a private key does not belong here)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", block.Type, err)
	}
	if _, err := KeyAlgorithms(key); err != nil {
		return nil, err
	}
	return key, nil
}

// KeyAlgorithms lists the JWS algorithms that verify with key: HS* for a secret ([]byte),
// RS* and PS* for RSA, the ES* of the key's curve for ECDSA, EdDSA for Ed25519.
func KeyAlgorithms(key any) ([]string, error) {
	switch k := key.(type) {
	case []byte:
		return []string{"HS256", "HS384", "HS512"}, nil
	case *rsa.PublicKey:
		return []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}, nil
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return []string{"ES256"}, nil
		case elliptic.P384():
			return []string{"ES384"}, nil
		case elliptic.P521():
			return []string{"ES512"}, nil
		}
		return nil, fmt.Errorf("ECDSA curve %s has no JWS algorithm", k.Curve.Params().Name)
	case ed25519.PublicKey:
		return []string{"EdDSA"}, nil
	}
	return nil, fmt.Errorf("unsupported key type %T (want an RSA, ECDSA or Ed25519 public key)", key)
}

// checkAlgorithms returns algs, or the key's algorithms when algs is empty, failing for an
// algorithm the key cannot verify.
func checkAlgorithms(key any, algs []string) ([]string, error) {
	usable, err := KeyAlgorithms(key)
	if err != nil {
		return nil, err
	}
	if len(algs) == 0 {
		return usable, nil
	}
	for _, a := range algs {
		if !slices.Contains(usable, a) {
			return nil, fmt.Errorf("algorithm %q does not fit the key (it verifies %v)", a, usable)
		}
	}
	return algs, nil
}
