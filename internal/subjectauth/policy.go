// Package subjectauth decides which broker subjects (NATS subjects, Kafka topics, Redis
// channels) a client may subscribe to, publish to or send requests on, from the allowed
// patterns that a JWT it presents lists in a claim (SPEC section 6: subject-level
// authorization). One Policy serves one provider.
package subjectauth

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// MinSecretBytes is the shortest HMAC secret accepted: RFC 7518 (3.2) requires a key at
// least as long as the hash output, 32 bytes for HS256.
const MinSecretBytes = 32

// DefaultClaim names the claim that lists the allowed patterns.
const DefaultClaim = "subjects"

// Config is one provider's authorization. Zero values use the documented defaults.
type Config struct {
	// Secret verifies HMAC tokens (HS256, HS384, HS512); at least MinSecretBytes long.
	// Exactly one of Secret and PublicKey is set.
	Secret []byte
	// PublicKey verifies RSA (RS*, PS*), ECDSA (the ES* of its curve) or Ed25519 (EdDSA)
	// tokens (see LoadPublicKey).
	PublicKey crypto.PublicKey
	// Algorithms are the accepted "alg" values; default: every algorithm of the key's type.
	// "none" is never accepted.
	Algorithms []string
	// Issuer and Audience, when not "", must match the token's "iss" and be one of its "aud".
	Issuer   string
	Audience string
	// Leeway tolerates clock skew on "exp", "nbf" and "iat". Default 0.
	Leeway time.Duration
	// Claim names the claim listing the allowed patterns: a list of strings, or one string
	// of space-separated patterns. A top-level claim of exactly that name is used (names
	// like "https://example.com/subjects" work); failing that, a dotted name is read as a
	// path into nested objects ("edgate.subjects"). Default DefaultClaim. A token without
	// the claim is valid but allows nothing.
	Claim string
	// Syntax is how the provider's subjects and the patterns are written.
	Syntax Syntax
	// AllowAnonymous lets requests without a bearer token through, limited to
	// AnonymousSubjects. Default false: such requests are unauthenticated.
	AllowAnonymous bool
	// AnonymousSubjects are the patterns allowed without a token; nil or empty allows every
	// subject (a client can always leave its token out, so then tokens restrict nothing).
	AnonymousSubjects []string
	// CacheSize bounds the verification results kept, by token (default 4096). CacheTTL is
	// how long one is kept (default 1m), never past the token's expiry.
	CacheSize int
	CacheTTL  time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Policy checks clients against one provider's Config. It is safe for concurrent use.
type Policy struct {
	parser    *jwt.Parser
	key       any
	claim     string
	syntax    Syntax
	anonymous *Grant // nil when anonymous clients are refused
	now       func() time.Time
	ttl       time.Duration

	mu    sync.Mutex
	cache map[[sha256.Size]byte]cached
	limit int
}

type cached struct {
	grant *Grant
	err   error
	until time.Time
}

// New checks c and returns its Policy.
func New(c Config) (*Policy, error) {
	var key any
	switch {
	case c.Secret != nil && c.PublicKey != nil:
		return nil, errors.New("set a secret or a public key, not both")
	case c.Secret != nil:
		if len(c.Secret) < MinSecretBytes {
			return nil, fmt.Errorf("the secret has %d bytes; HMAC needs at least %d", len(c.Secret), MinSecretBytes)
		}
		key = c.Secret
	case c.PublicKey != nil:
		key = c.PublicKey
	default:
		return nil, errors.New("a secret or a public key is required")
	}
	algs, err := checkAlgorithms(key, c.Algorithms)
	if err != nil {
		return nil, err
	}
	for _, p := range c.AnonymousSubjects {
		if err := ValidatePattern(c.Syntax, p); err != nil {
			return nil, fmt.Errorf("anonymous subjects: %w", err)
		}
	}
	if c.Claim == "" {
		c.Claim = DefaultClaim
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.CacheSize <= 0 {
		c.CacheSize = 4096
	}
	if c.CacheTTL <= 0 {
		c.CacheTTL = time.Minute
	}
	opts := []jwt.ParserOption{jwt.WithValidMethods(algs), jwt.WithTimeFunc(c.Now), jwt.WithLeeway(c.Leeway)}
	if c.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(c.Issuer))
	}
	if c.Audience != "" {
		opts = append(opts, jwt.WithAudience(c.Audience))
	}
	p := &Policy{
		parser: jwt.NewParser(opts...), key: key, claim: c.Claim, syntax: c.Syntax, now: c.Now,
		ttl: c.CacheTTL, limit: c.CacheSize, cache: make(map[[sha256.Size]byte]cached),
	}
	if c.AllowAnonymous {
		p.anonymous = &Grant{syntax: c.Syntax, patterns: c.AnonymousSubjects, all: len(c.AnonymousSubjects) == 0, Anonymous: true}
	}
	return p, nil
}

// ErrNoToken is returned by Authenticate for a request without a bearer token when
// anonymous clients are refused.
var ErrNoToken = errors.New("no bearer token: send Authorization: Bearer <jwt>")

// Grant is what one client may use on the provider. It is immutable.
type Grant struct {
	syntax   Syntax
	patterns []string
	all      bool
	// Expires is the token's "exp"; zero when it has none and for anonymous clients.
	Expires time.Time
	// Subject is the token's "sub", for logs.
	Subject string
	// Anonymous is set for a client without a token (AllowAnonymous).
	Anonymous bool
	// Claims are the token's verified claims (nil for anonymous clients); shared, so
	// read-only.
	Claims map[string]any
}

// Allows reports whether the grant covers subject (see Covers).
func (g *Grant) Allows(subject string) bool {
	if g.all {
		return subject != ""
	}
	for _, p := range g.patterns {
		if Covers(g.syntax, p, subject) {
			return true
		}
	}
	return false
}

// Authenticate verifies the bearer token of an Authorization header value ("" when the
// request has none) and returns what it allows. Without a token (no header, or a scheme
// other than Bearer, which may be meant for a subgraph) the anonymous grant is returned
// when allowed, else ErrNoToken. Every error means the client is not authenticated.
// Results are cached by token for a short while (Config.CacheTTL), never past "exp".
func (p *Policy) Authenticate(authorization string) (*Grant, error) {
	token, ok := bearer(authorization)
	if !ok {
		if p.anonymous != nil {
			return p.anonymous, nil
		}
		return nil, ErrNoToken
	}
	sum := sha256.Sum256([]byte(token))
	now := p.now()
	p.mu.Lock()
	c, hit := p.cache[sum]
	p.mu.Unlock()
	if hit && now.Before(c.until) {
		return c.grant, c.err
	}
	g, err := p.verify(token)
	until := now.Add(p.ttl)
	if g != nil && !g.Expires.IsZero() && g.Expires.Before(until) {
		until = g.Expires
	}
	p.mu.Lock()
	if len(p.cache) >= p.limit {
		p.evict(now)
	}
	p.cache[sum] = cached{grant: g, err: err, until: until}
	p.mu.Unlock()
	return g, err
}

// evict makes room: expired entries go first; if that frees nothing, an eighth of the
// entries, picked by map order (effectively at random). Called with p.mu held.
func (p *Policy) evict(now time.Time) {
	for k, c := range p.cache {
		if !now.Before(c.until) {
			delete(p.cache, k)
		}
	}
	drop := len(p.cache) - p.limit + 1
	if drop <= 0 {
		return
	}
	drop = max(drop, p.limit/8)
	for k := range p.cache {
		if drop == 0 {
			break
		}
		delete(p.cache, k)
		drop--
	}
}

func (p *Policy) verify(token string) (*Grant, error) {
	claims := jwt.MapClaims{}
	if _, err := p.parser.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return p.key, nil }); err != nil {
		return nil, fmt.Errorf("invalid token: %w", err)
	}
	patterns, err := patternsOf(claims, p.claim)
	if err != nil {
		return nil, fmt.Errorf("invalid token: %w", err)
	}
	g := &Grant{syntax: p.syntax, patterns: patterns, Claims: claims}
	if exp, err := claims.GetExpirationTime(); err == nil && exp != nil {
		g.Expires = exp.Time
	}
	g.Subject, _ = claims.GetSubject()
	return g, nil
}

// patternsOf reads the claim: a list of strings or one space-separated string; absent
// means none.
func patternsOf(claims jwt.MapClaims, name string) ([]string, error) {
	v, ok := claims[name]
	if !ok && strings.Contains(name, ".") {
		var cur any = map[string]any(claims)
		for part := range strings.SplitSeq(name, ".") {
			m, isMap := cur.(map[string]any)
			if !isMap {
				cur = nil
				break
			}
			cur = m[part]
		}
		v, ok = cur, cur != nil
	}
	if !ok || v == nil {
		return nil, nil
	}
	switch x := v.(type) {
	case string:
		return strings.Fields(x), nil
	case []any:
		out := make([]string, 0, len(x))
		for _, e := range x {
			s, isString := e.(string)
			if !isString {
				return nil, fmt.Errorf("claim %q must list strings, found %T", name, e)
			}
			out = append(out, s)
		}
		return out, nil
	}
	return nil, fmt.Errorf("claim %q must be a list of strings, found %T", name, v)
}

// bearer extracts the token of "Bearer <token>" (the scheme is case-insensitive).
func bearer(authorization string) (string, bool) {
	scheme, token, ok := strings.Cut(strings.TrimSpace(authorization), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}
