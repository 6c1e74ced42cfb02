// Package auth verifies and (in dev mode) issues the bearer tokens every API
// request carries: JWTs with the claims sub and roles.
package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/lestrrat-go/httprc/v3"
	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Roles as they appear in the roles claim. Agencies carry "agency:<id>".
const (
	RoleCitizen  = "citizen"
	RoleRegistry = "registry"
	RolePolicy   = "policy"
	RoleOperator = "operator"
	agencyPrefix = "agency:"
)

// ErrInvalidToken is returned for any token that must not be trusted:
// malformed, expired, signed by another key, or lacking sub.
var ErrInvalidToken = errors.New("invalid token")

// Principal is who a verified token speaks for.
type Principal struct {
	Subject string
	Roles   []string
}

// Has reports whether the principal holds the role.
func (p Principal) Has(role string) bool { return slices.Contains(p.Roles, role) }

// Agencies lists the agency ids of the principal's agency roles.
func (p Principal) Agencies() []string {
	var out []string
	for _, r := range p.Roles {
		if id, ok := strings.CutPrefix(r, agencyPrefix); ok && id != "" {
			out = append(out, id)
		}
	}
	return out
}

// AgencyRole is the role that lets an agency pull its own submissions.
func AgencyRole(id string) string { return agencyPrefix + id }

// ValidRole reports whether r is a role the system knows.
func ValidRole(r string) bool {
	switch r {
	case RoleCitizen, RoleRegistry, RolePolicy, RoleOperator:
		return true
	}
	id, ok := strings.CutPrefix(r, agencyPrefix)
	return ok && id != ""
}

// Verifier checks tokens against a fixed public key or a JWKS URL.
type Verifier struct {
	set jwk.Set
	// Now is the clock tokens are validated against; tests move it.
	Now func() time.Time
}

// NewVerifierFromKey trusts tokens signed by the key in a PEM file (EdDSA,
// ECDSA or RSA public key).
func NewVerifierFromKey(pemFile string) (*Verifier, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("auth: read public key: %w", err)
	}
	key, err := jwk.ParseKey(b, jwk.WithPEM(true))
	if err != nil {
		return nil, fmt.Errorf("auth: parse public key %s: %w", pemFile, err)
	}
	return newVerifierFromJWK(key)
}

// NewVerifierFromPublicKey trusts tokens signed by this Ed25519 key.
func NewVerifierFromPublicKey(pub ed25519.PublicKey) (*Verifier, error) {
	key, err := jwk.Import(pub)
	if err != nil {
		return nil, fmt.Errorf("auth: import public key: %w", err)
	}
	return newVerifierFromJWK(key)
}

func newVerifierFromJWK(key jwk.Key) (*Verifier, error) {
	set := jwk.NewSet()
	if err := set.AddKey(key); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return newVerifier(set), nil
}

// NewVerifierFromJWKS trusts the keys an identity provider publishes at url,
// refreshed in the background.
func NewVerifierFromJWKS(ctx context.Context, url string) (*Verifier, error) {
	cache, err := jwk.NewCache(ctx, httprc.NewClient())
	if err != nil {
		return nil, fmt.Errorf("auth: jwks cache: %w", err)
	}
	if err := cache.Register(ctx, url); err != nil {
		return nil, fmt.Errorf("auth: jwks %s: %w", url, err)
	}
	set, err := cache.CachedSet(url)
	if err != nil {
		return nil, fmt.Errorf("auth: jwks %s: %w", url, err)
	}
	return newVerifier(set), nil
}

func newVerifier(set jwk.Set) *Verifier {
	return &Verifier{set: set, Now: time.Now}
}

// Verify checks the signature and validity of a compact JWT and returns the
// principal it names.
func (v *Verifier) Verify(token string) (Principal, error) {
	tok, err := jwt.ParseString(token,
		jwt.WithKeySet(v.set, jws.WithInferAlgorithmFromKey(true), jws.WithRequireKid(false)),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(30*time.Second),
		jwt.WithRequiredClaim("exp"),
		jwt.WithClock(jwt.ClockFunc(v.Now)),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	sub, ok := tok.Subject()
	if !ok || sub == "" {
		return Principal{}, fmt.Errorf("%w: no sub claim", ErrInvalidToken)
	}
	p := Principal{Subject: sub}
	var raw any
	if err := tok.Get("roles", &raw); err == nil {
		switch rs := raw.(type) {
		case []any:
			for _, r := range rs {
				if s, ok := r.(string); ok {
					p.Roles = append(p.Roles, s)
				}
			}
		case string:
			p.Roles = strings.Fields(rs)
		}
	}
	return p, nil
}

// Signer issues tokens in dev mode from a key kept in the data dir.
type Signer struct {
	key jwk.Key
	pub ed25519.PublicKey
}

// LoadOrCreateSigner reads the Ed25519 key in file, creating it first if
// the file does not exist.
func LoadOrCreateSigner(file string) (*Signer, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		_, priv, gerr := ed25519.GenerateKey(rand.Reader)
		if gerr != nil {
			return nil, fmt.Errorf("auth: generate signing key: %w", gerr)
		}
		der, merr := x509.MarshalPKCS8PrivateKey(priv)
		if merr != nil {
			return nil, fmt.Errorf("auth: encode signing key: %w", merr)
		}
		b = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
		if werr := os.WriteFile(file, b, 0o600); werr != nil {
			return nil, fmt.Errorf("auth: write signing key: %w", werr)
		}
	} else if err != nil {
		return nil, fmt.Errorf("auth: read signing key: %w", err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("auth: %s holds no PEM key", file)
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("auth: parse signing key %s: %w", file, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("auth: %s is not an Ed25519 key", file)
	}
	key, err := jwk.Import(priv)
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return &Signer{key: key, pub: priv.Public().(ed25519.PublicKey)}, nil
}

// PublicKey verifies this signer's tokens.
func (s *Signer) PublicKey() ed25519.PublicKey { return s.pub }

// Verifier trusts exactly this signer's tokens.
func (s *Signer) Verifier() (*Verifier, error) { return NewVerifierFromPublicKey(s.pub) }

// Sign issues a token for sub with the roles, valid for ttl.
func (s *Signer) Sign(sub string, roles []string, ttl time.Duration) (string, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Subject(sub).
		Issuer("lifeevents-dev").
		IssuedAt(now).
		Expiration(now.Add(ttl)).
		Claim("roles", roles).
		Build()
	if err != nil {
		return "", fmt.Errorf("auth: build token: %w", err)
	}
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), s.key))
	if err != nil {
		return "", fmt.Errorf("auth: sign token: %w", err)
	}
	return string(b), nil
}
