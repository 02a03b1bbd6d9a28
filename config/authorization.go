package config

import (
	"fmt"
	"os"
	"slices"

	"github.com/edgate/edgate/internal/subjectauth"
)

// jwtAlgorithms are the "alg" values authorization.jwt.algorithms may name.
var jwtAlgorithms = []string{"HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// authorization checks a provider's authorization section at path p: one key, a secret
// long enough or a readable public key, algorithms that fit the key, and well-formed
// anonymous patterns in the provider's syntax.
func (v *validator) authorization(p string, a *Authorization, syntax subjectauth.Syntax) error {
	if a == nil {
		return nil
	}
	j, jp := &a.JWT, p+".jwt"
	switch {
	case j.Secret == "" && j.PublicKeyFile == "":
		return v.errorf(jp, "%s: set secret or public_key_file", jp)
	case j.Secret != "" && j.PublicKeyFile != "":
		return v.errorf(jp+".public_key_file", "%s: set secret or public_key_file, not both", jp)
	case a.Claim == "":
		return v.errorf(p+".claim", "%s.claim must not be empty (default %q)", p, subjectauth.DefaultClaim)
	case len(a.AnonymousSubjects) > 0 && !a.AllowAnonymous:
		return v.errorf(p+".anonymous_subjects", "%s.anonymous_subjects needs allow_anonymous: true", p)
	}
	var key any
	if j.Secret != "" {
		if len(j.Secret) < subjectauth.MinSecretBytes {
			// never print the secret
			return v.errorf(jp+".secret", "%s.secret has %d bytes; HMAC needs at least %d (RFC 7518)", jp, len(j.Secret), subjectauth.MinSecretBytes)
		}
		key = []byte(j.Secret)
	} else {
		written := j.PublicKeyFile
		if err := v.file(jp+".public_key_file", jp+".public_key_file", &j.PublicKeyFile); err != nil {
			return err
		}
		data, err := os.ReadFile(j.PublicKeyFile)
		if err == nil {
			key, err = subjectauth.ParsePublicKey(data)
		}
		if err != nil {
			return v.errorf(jp+".public_key_file", "%s.public_key_file %q: %v", jp, written, err)
		}
	}
	usable, err := subjectauth.KeyAlgorithms(key)
	if err != nil {
		return v.errorf(jp, "%s: %v", jp, err)
	}
	for i, alg := range j.Algorithms {
		ap := fmt.Sprintf("%s.algorithms[%d]", jp, i)
		if err := v.enum(ap, ap, alg, jwtAlgorithms...); err != nil {
			return err
		}
		if !slices.Contains(usable, alg) {
			return v.errorf(ap, "%s %q does not fit the key; it verifies %s", ap, alg, quoteList(usable))
		}
	}
	for i, pat := range a.AnonymousSubjects {
		if err := subjectauth.ValidatePattern(syntax, pat); err != nil {
			return v.errorf(fmt.Sprintf("%s.anonymous_subjects[%d]", p, i), "%s.anonymous_subjects[%d]: %v", p, i, err)
		}
	}
	return nil
}
