package subjectauth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

var testSecret = []byte("0123456789abcdef0123456789abcdef")

// clock is a settable time source.
type clock struct{ now time.Time }

func (c *clock) Now() time.Time { return c.now }

func sign(t *testing.T, method jwt.SigningMethod, key any, claims jwt.MapClaims) string {
	t.Helper()
	s, err := jwt.NewWithClaims(method, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newPolicy(t *testing.T, c Config) *Policy {
	t.Helper()
	p, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPolicy_AuthenticateHS256GrantsTheClaimedPatterns(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	p := newPolicy(t, Config{Secret: testSecret, Now: clk.Now})
	exp := clk.now.Add(time.Hour)
	tok := sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{
		"sub": "alice", "exp": exp.Unix(), "subjects": []string{"employeeUpdated.1", "catalog.>"},
	})
	g, err := p.Authenticate("Bearer " + tok)
	if err != nil {
		t.Fatal(err)
	}
	if g.Subject != "alice" || !g.Expires.Equal(exp) || g.Anonymous {
		t.Fatalf("grant %+v", g)
	}
	for subject, want := range map[string]bool{
		"employeeUpdated.1": true, "employeeUpdated.2": false, "catalog.a.b": true, "catalog": false,
	} {
		if g.Allows(subject) != want {
			t.Errorf("Allows(%q) = %v, want %v", subject, !want, want)
		}
	}
	if _, err := p.Authenticate("bearer  " + tok + " "); err != nil {
		t.Errorf("lower-case scheme and spaces: %v", err)
	}
}

func TestPolicy_RejectsBadTokens(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	p := newPolicy(t, Config{Secret: testSecret, Now: clk.Now, Issuer: "https://issuer", Audience: "edgate"})
	good := jwt.MapClaims{"iss": "https://issuer", "aud": "edgate", "exp": clk.now.Add(time.Minute).Unix(), "subjects": []string{">"}}
	with := func(k string, v any) jwt.MapClaims {
		c := jwt.MapClaims{}
		for kk, vv := range good {
			c[kk] = vv
		}
		if v == nil {
			delete(c, k)
		} else {
			c[k] = v
		}
		return c
	}
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	cases := map[string]struct {
		header string
		want   error
	}{
		"no header":             {"", ErrNoToken},
		"basic scheme":          {"Basic dXNlcjpwYXNz", ErrNoToken},
		"empty bearer":          {"Bearer ", ErrNoToken},
		"garbage":               {"Bearer not.a.jwt", jwt.ErrTokenMalformed},
		"bad signature":         {"Bearer " + sign(t, jwt.SigningMethodHS256, []byte("another-secret-another-secret-xx"), good), jwt.ErrTokenSignatureInvalid},
		"expired":               {"Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with("exp", clk.now.Add(-time.Second).Unix())), jwt.ErrTokenExpired},
		"not yet valid":         {"Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with("nbf", clk.now.Add(time.Hour).Unix())), jwt.ErrTokenNotValidYet},
		"wrong issuer":          {"Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with("iss", "https://other")), jwt.ErrTokenInvalidIssuer},
		"wrong audience":        {"Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with("aud", "other")), jwt.ErrTokenInvalidAudience},
		"alg none":              {"Bearer " + sign(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, good), jwt.ErrTokenSignatureInvalid},
		"RS256 for an HMAC key": {"Bearer " + sign(t, jwt.SigningMethodRS256, rsaKey, good), jwt.ErrTokenSignatureInvalid},
		"claim not strings":     {"Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, with("subjects", []any{1, 2})), nil},
	}
	for name, c := range cases {
		g, err := p.Authenticate(c.header)
		if err == nil || g != nil {
			t.Errorf("%s: got grant %+v, err %v", name, g, err)
			continue
		}
		if c.want != nil && !errors.Is(err, c.want) {
			t.Errorf("%s: got %v, want %v", name, err, c.want)
		}
	}
}

func TestPolicy_ClaimForms(t *testing.T) {
	for name, c := range map[string]struct {
		claim  string
		claims jwt.MapClaims
		allows []string
	}{
		"list":               {"", jwt.MapClaims{"subjects": []string{"a", "b.*"}}, []string{"a", "b.x"}},
		"space-separated":    {"", jwt.MapClaims{"subjects": "a b.*"}, []string{"a", "b.x"}},
		"absent allows none": {"", jwt.MapClaims{"sub": "x"}, nil},
		"URL claim name":     {"https://example.com/subjects", jwt.MapClaims{"https://example.com/subjects": []string{"a"}}, []string{"a"}},
		"nested path":        {"edgate.nats", jwt.MapClaims{"edgate": map[string]any{"nats": []string{"a"}}}, []string{"a"}},
	} {
		p := newPolicy(t, Config{Secret: testSecret, Claim: c.claim})
		g, err := p.Authenticate("Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, c.claims))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for _, s := range c.allows {
			if !g.Allows(s) {
				t.Errorf("%s: %q not allowed", name, s)
			}
		}
		if g.Allows("zzz") {
			t.Errorf("%s: zzz allowed", name)
		}
	}
}

func TestPolicy_AnonymousClients(t *testing.T) {
	open := newPolicy(t, Config{Secret: testSecret, AllowAnonymous: true})
	g, err := open.Authenticate("")
	if err != nil || !g.Anonymous || !g.Allows("anything.at.all") {
		t.Fatalf("anonymous: %+v %v", g, err)
	}
	// a token that is present is still checked
	if _, err := open.Authenticate("Bearer bad"); err == nil {
		t.Fatal("a bad token passed with allow_anonymous")
	}
	limited := newPolicy(t, Config{Secret: testSecret, AllowAnonymous: true, AnonymousSubjects: []string{"public.>"}})
	g, _ = limited.Authenticate("")
	if !g.Allows("public.news") || g.Allows("private.x") {
		t.Fatal("anonymous_subjects not applied")
	}
}

func TestPolicy_CachesResultsUntilExpiry(t *testing.T) {
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	p := newPolicy(t, Config{Secret: testSecret, Now: clk.Now, CacheTTL: time.Hour, CacheSize: 4})
	tok := "Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"exp": clk.now.Add(10 * time.Second).Unix(), "subjects": "a"})
	g1, err := p.Authenticate(tok)
	if err != nil {
		t.Fatal(err)
	}
	g2, _ := p.Authenticate(tok)
	if g1 != g2 {
		t.Fatal("second call did not come from the cache")
	}
	clk.now = clk.now.Add(11 * time.Second)
	if _, err := p.Authenticate(tok); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Fatalf("cached grant outlived the token: %v", err)
	}
	for i := range 20 {
		_, _ = p.Authenticate("Bearer " + sign(t, jwt.SigningMethodHS256, testSecret, jwt.MapClaims{"n": i}))
	}
	p.mu.Lock()
	n := len(p.cache)
	p.mu.Unlock()
	if n > 4 {
		t.Fatalf("cache holds %d entries, limit 4", n)
	}
}

func writePEM(t *testing.T, typ string, der []byte) string {
	t.Helper()
	f := filepath.Join(t.TempDir(), "key.pem")
	if err := os.WriteFile(f, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return f
}

func TestPolicy_PublicKeys(t *testing.T) {
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	edPub, edKey, _ := ed25519.GenerateKey(rand.Reader)
	pkix := func(k crypto.PublicKey) []byte {
		der, err := x509.MarshalPKIXPublicKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return der
	}
	for name, c := range map[string]struct {
		file   string
		method jwt.SigningMethod
		key    any
		algs   []string
	}{
		"RS256 PKIX":  {writePEM(t, "PUBLIC KEY", pkix(&rsaKey.PublicKey)), jwt.SigningMethodRS256, rsaKey, []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}},
		"PS256 PKCS1": {writePEM(t, "RSA PUBLIC KEY", x509.MarshalPKCS1PublicKey(&rsaKey.PublicKey)), jwt.SigningMethodPS256, rsaKey, nil},
		"ES256":       {writePEM(t, "PUBLIC KEY", pkix(&ecKey.PublicKey)), jwt.SigningMethodES256, ecKey, []string{"ES256"}},
		"EdDSA":       {writePEM(t, "PUBLIC KEY", pkix(edPub)), jwt.SigningMethodEdDSA, edKey, []string{"EdDSA"}},
	} {
		pub, err := LoadPublicKey(c.file)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.algs != nil {
			if got, _ := KeyAlgorithms(pub); strings.Join(got, ",") != strings.Join(c.algs, ",") {
				t.Errorf("%s: default algorithms %v, want %v", name, got, c.algs)
			}
		}
		p := newPolicy(t, Config{PublicKey: pub})
		g, err := p.Authenticate("Bearer " + sign(t, c.method, c.key, jwt.MapClaims{"subjects": []string{"x"}}))
		if err != nil || !g.Allows("x") {
			t.Errorf("%s: %+v %v", name, g, err)
		}
		// the HMAC-with-public-key confusion: a token "signed" with the public key as secret
		hs := sign(t, jwt.SigningMethodHS256, []byte(pemOf(t, c.file)), jwt.MapClaims{"subjects": []string{">"}})
		if _, err := p.Authenticate("Bearer " + hs); err == nil {
			t.Errorf("%s: accepted an HS256 token for a public key", name)
		}
	}
}

func pemOf(t *testing.T, file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNew_RejectsBadConfigs(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for name, c := range map[string]Config{
		"no key":                  {},
		"short secret":            {Secret: []byte("short")},
		"both keys":               {Secret: testSecret, PublicKey: &ecKey.PublicKey},
		"algorithm for other key": {Secret: testSecret, Algorithms: []string{"RS256"}},
		"ES256 on a P-384 key":    {PublicKey: &ecKey.PublicKey, Algorithms: []string{"ES256"}},
		"bad anonymous pattern":   {Secret: testSecret, AllowAnonymous: true, AnonymousSubjects: []string{"a.>.b"}},
		"none":                    {Secret: testSecret, Algorithms: []string{"none"}},
	} {
		if _, err := New(c); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := ParsePublicKey([]byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")); err == nil {
		t.Error("a private key was accepted as public key")
	}
}
