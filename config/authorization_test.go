package config

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

const authSub = "subgraphs: [ { name: a, schema: { file: a.graphql } } ]\n"

// writeECKey writes a P-256 public key as key.pem into the current directory.
func writeECKey(t *testing.T) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("key.pem", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestLoad_ProviderAuthorization(t *testing.T) {
	t.Setenv("EDGATE_TEST_JWT_SECRET", "0123456789abcdef0123456789abcdef")
	c := mustLoad(t, authSub+`events:
  providers:
    nats:
      - id: default
        authorization:
          jwt: { secret: "${EDGATE_TEST_JWT_SECRET}", algorithms: [HS256], issuer: https://issuer, audience: edgate, leeway: 5s }
          allow_anonymous: true
          anonymous_subjects: ["public.>"]
    kafka:
      - id: k
        brokers: ["h:9092"]
        authorization: { jwt: { secret: "${EDGATE_TEST_JWT_SECRET}" }, claim: "https://example.com/topics" }
    redis:
      - { id: r, urls: ["redis://h:6379"] }
`, "a.graphql")
	want := &Authorization{
		JWT:   JWT{Secret: "0123456789abcdef0123456789abcdef", Algorithms: []string{"HS256"}, Issuer: "https://issuer", Audience: "edgate", Leeway: 5 * time.Second},
		Claim: "subjects", AllowAnonymous: true, AnonymousSubjects: []string{"public.>"},
	}
	if got := c.Events.Providers.NATS[0].Authorization; !reflect.DeepEqual(got, want) {
		t.Errorf("nats authorization\n got: %+v\nwant: %+v", got, want)
	}
	if k := c.Events.Providers.Kafka[0].Authorization; k.Claim != "https://example.com/topics" || len(k.JWT.Algorithms) != 0 || k.AllowAnonymous {
		t.Errorf("kafka authorization: %+v", k)
	}
	if c.Events.Providers.Redis[0].Authorization != nil {
		t.Error("redis: authorization set without the key")
	}
}

// The files the load helper writes hold SDL, not keys; these cases write a real key.
func TestLoad_ProviderAuthorizationPublicKeyFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	writeECKey(t)
	if err := os.WriteFile("a.graphql", []byte("type Query { a: Int }\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := authSub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers: [\"h:9092\"]\n        authorization: { jwt: { public_key_file: key.pem }, claim: topics }\n"
	if err := os.WriteFile("edgate.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load("edgate.yaml")
	if err != nil {
		t.Fatal(err)
	}
	a := c.Events.Providers.Kafka[0].Authorization
	if a.JWT.PublicKeyFile != filepath.Join(dir, "key.pem") || a.Claim != "topics" {
		t.Errorf("kafka authorization: %+v", a)
	}
	// RS256 does not fit an EC key
	cfg = authSub + "events:\n  providers:\n    kafka:\n      - id: k\n        brokers: [\"h:9092\"]\n        authorization:\n          jwt:\n            public_key_file: key.pem\n            algorithms: [ES256, RS256]\n"
	if err := os.WriteFile("edgate.yaml", []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = Load("edgate.yaml")
	wantError(t, err, `edgate.yaml:10: events.providers.kafka[0].authorization.jwt.algorithms[1] "RS256" does not fit the key; it verifies "ES256"`)
}

func TestLoad_ProviderAuthorizationErrors(t *testing.T) {
	const nats = authSub + "events:\n  providers:\n    nats:\n      - id: n\n        authorization:\n"
	const secret = "0123456789abcdef0123456789abcdef"
	cases := []struct{ name, config, want string }{
		{
			name:   "no key",
			config: nats + "          jwt: { issuer: x }\n",
			want:   `edgate.yaml:7: events.providers.nats[0].authorization.jwt: set secret or public_key_file`,
		},
		{
			name:   "both keys",
			config: nats + "          jwt:\n            secret: " + secret + "\n            public_key_file: a.graphql\n",
			want:   `edgate.yaml:9: events.providers.nats[0].authorization.jwt: set secret or public_key_file, not both`,
		},
		{
			name:   "short secret",
			config: nats + "          jwt:\n            secret: short\n",
			want:   `edgate.yaml:8: events.providers.nats[0].authorization.jwt.secret has 5 bytes; HMAC needs at least 32 (RFC 7518)`,
		},
		{
			name:   "public key file is no key",
			config: nats + "          jwt: { public_key_file: a.graphql }\n",
			want:   `edgate.yaml:7: events.providers.nats[0].authorization.jwt.public_key_file "a.graphql": no PEM block found`,
		},
		{
			name:   "missing public key file",
			config: nats + "          jwt: { public_key_file: nope.pem }\n",
			want:   `edgate.yaml:7: events.providers.nats[0].authorization.jwt.public_key_file "nope.pem" not found`,
		},
		{
			name:   "unknown algorithm with suggestion",
			config: nats + "          jwt: { secret: " + secret + ", algorithms: [hs256] }\n",
			want:   `edgate.yaml:7: events.providers.nats[0].authorization.jwt.algorithms[0] "hs256" must be "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512" or "EdDSA" (did you mean "HS256"?)`,
		},
		{
			name:   "algorithm for another key type",
			config: nats + "          jwt: { secret: " + secret + ", algorithms: [RS256] }\n",
			want:   `edgate.yaml:7: events.providers.nats[0].authorization.jwt.algorithms[0] "RS256" does not fit the key; it verifies "HS256", "HS384" or "HS512"`,
		},
		{
			name:   "anonymous subjects without allow_anonymous",
			config: nats + "          jwt: { secret: " + secret + " }\n          anonymous_subjects: [public]\n",
			want:   `edgate.yaml:8: events.providers.nats[0].authorization.anonymous_subjects needs allow_anonymous: true`,
		},
		{
			name:   "malformed anonymous subject",
			config: nats + "          jwt: { secret: " + secret + " }\n          allow_anonymous: true\n          anonymous_subjects:\n            - public.>.x\n",
			want:   `edgate.yaml:10: events.providers.nats[0].authorization.anonymous_subjects[0]: pattern "public.>.x": ">" must be the last token`,
		},
		{
			name:   "empty claim",
			config: nats + "          jwt: { secret: " + secret + " }\n          claim: \"\"\n",
			want:   `edgate.yaml:8: events.providers.nats[0].authorization.claim must not be empty (default "subjects")`,
		},
		{
			name:   "unknown key",
			config: nats + "          jwt: { secret: " + secret + " }\n          allow_anonymus: true\n",
			want:   `edgate.yaml:8: unknown key "allow_anonymus" in events.providers.nats[0].authorization (did you mean "allow_anonymous"?)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(t, tc.config, "a.graphql")
			wantError(t, err, tc.want)
		})
	}
}
