// Package auth verifies and (in dev mode) issues the bearer tokens every API
// request carries: JWTs with the claims sub, roles (a JSON array of
// strings), iss, aud and exp.
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

// Roles as they appear in the roles claim. Agencies carry "agency:<id>",
// registry offices "registry:<municipality key>": a role bound to an
// organisation acts for that organisation only.
const (
	RoleCitizen    = "citizen"
	RolePolicy     = "policy"
	RoleOperator   = "operator"
	agencyPrefix   = "agency:"
	registryPrefix = "registry:"
)

// Dev tokens carry this issuer and audience; production sets its own.
const (
	DevIssuer   = "lifeevents-dev"
	DevAudience = "lifeevents-api"
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

// Registries lists the municipality keys of the principal's registry roles.
func (p Principal) Registries() []string {
	var out []string
	for _, r := range p.Roles {
		if key, ok := strings.CutPrefix(r, registryPrefix); ok && municipalityKey(key) {
			out = append(out, key)
		}
	}
	return out
}

// ActsForRegistry reports whether the principal is the registry office of
// the municipality.
func (p Principal) ActsForRegistry(municipality string) bool {
	return slices.Contains(p.Registries(), municipality)
}

// AgencyRole is the role that lets an agency pull its own submissions.
func AgencyRole(id string) string { return agencyPrefix + id }

// RegistryRole is the role of the registry office of a municipality.
func RegistryRole(municipality string) string { return registryPrefix + municipality }

func municipalityKey(s string) bool {
	if len(s) != 8 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// ValidRole reports whether r is a role the system knows.
func ValidRole(r string) bool {
	switch r {
	case RoleCitizen, RolePolicy, RoleOperator:
		return true
	}
	if key, ok := strings.CutPrefix(r, registryPrefix); ok {
		return municipalityKey(key)
	}
	id, ok := strings.CutPrefix(r, agencyPrefix)
	return ok && id != "" && len(id) <= 64 && !strings.ContainsAny(id, " \t\n")
}

// Config says which tokens to trust beyond their signature.
type Config struct {
	// Issuer and Audience must match the token's iss and aud.
	Issuer, Audience string
	// MaxLifetime bounds exp − iat and exp − now: a token that claims to be
	// valid for centuries is refused. Default 24h.
	MaxLifetime time.Duration
	// SubjectClaim and RolesClaim name the claims that carry the subject
	// and the roles; default sub and roles.
	SubjectClaim, RolesClaim string
}

// DevConfig is what dev mode's own tokens carry.
func DevConfig() Config { return Config{Issuer: DevIssuer, Audience: DevAudience} }

func (c Config) withDefaults() Config {
	if c.MaxLifetime == 0 {
		c.MaxLifetime = 24 * time.Hour
	}
	if c.SubjectClaim == "" {
		c.SubjectClaim = "sub"
	}
	if c.RolesClaim == "" {
		c.RolesClaim = "roles"
	}
	return c
}

// Validate reports what is missing, naming the setting.
func (c Config) Validate() error {
	var errs []error
	if c.Issuer == "" {
		errs = append(errs, errors.New("LIFEEVENTS_JWT_ISSUER (--jwt-issuer) is required: tokens of any other issuer must be refused"))
	}
	if c.Audience == "" {
		errs = append(errs, errors.New("LIFEEVENTS_JWT_AUDIENCE (--jwt-audience) is required: tokens issued to other applications must be refused"))
	}
	if c.MaxLifetime < 0 {
		errs = append(errs, errors.New("the maximum token lifetime (--jwt-max-lifetime) must be positive"))
	}
	return errors.Join(errs...)
}

// Verifier checks tokens against a fixed public key or a JWKS URL.
type Verifier struct {
	set jwk.Set
	cfg Config
	// Now is the clock tokens are validated against; tests move it.
	Now func() time.Time
}

// NewVerifierFromKey trusts tokens signed by the key in a PEM file (EdDSA,
// ECDSA or RSA public key).
func NewVerifierFromKey(pemFile string, cfg Config) (*Verifier, error) {
	b, err := os.ReadFile(pemFile)
	if err != nil {
		return nil, fmt.Errorf("auth: read public key: %w", err)
	}
	key, err := jwk.ParseKey(b, jwk.WithPEM(true))
	if err != nil {
		return nil, fmt.Errorf("auth: parse public key %s: %w", pemFile, err)
	}
	return newVerifierFromJWK(key, cfg)
}

// NewVerifierFromPublicKey trusts tokens signed by this Ed25519 key.
func NewVerifierFromPublicKey(pub ed25519.PublicKey, cfg Config) (*Verifier, error) {
	key, err := jwk.Import(pub)
	if err != nil {
		return nil, fmt.Errorf("auth: import public key: %w", err)
	}
	return newVerifierFromJWK(key, cfg)
}

func newVerifierFromJWK(key jwk.Key, cfg Config) (*Verifier, error) {
	set := jwk.NewSet()
	if err := set.AddKey(key); err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	return newVerifier(set, cfg)
}

// NewVerifierFromJWKS trusts the keys an identity provider publishes at url,
// refreshed in the background.
func NewVerifierFromJWKS(ctx context.Context, url string, cfg Config) (*Verifier, error) {
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
	return newVerifier(set, cfg)
}

func newVerifier(set jwk.Set, cfg Config) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Verifier{set: set, cfg: cfg.withDefaults(), Now: time.Now}, nil
}

// skew is how far the clocks of the identity provider and ours may differ.
const skew = 30 * time.Second

// Verify checks the signature, issuer, audience and lifetime of a compact
// JWT and returns the principal it names.
func (v *Verifier) Verify(token string) (Principal, error) {
	if len(token) > 16<<10 {
		return Principal{}, fmt.Errorf("%w: longer than 16 KiB", ErrInvalidToken)
	}
	tok, err := jwt.ParseString(token,
		jwt.WithKeySet(v.set, jws.WithInferAlgorithmFromKey(true), jws.WithRequireKid(false)),
		jwt.WithValidate(true),
		jwt.WithAcceptableSkew(skew),
		jwt.WithRequiredClaim("exp"),
		jwt.WithIssuer(v.cfg.Issuer),
		jwt.WithAudience(v.cfg.Audience),
		jwt.WithClock(jwt.ClockFunc(v.Now)),
	)
	if err != nil {
		return Principal{}, fmt.Errorf("%w: %v", ErrInvalidToken, err)
	}
	exp, _ := tok.Expiration()
	if exp.Sub(v.Now()) > v.cfg.MaxLifetime+skew {
		return Principal{}, fmt.Errorf("%w: valid for longer than %s", ErrInvalidToken, v.cfg.MaxLifetime)
	}
	if iat, ok := tok.IssuedAt(); ok && exp.Sub(iat) > v.cfg.MaxLifetime {
		return Principal{}, fmt.Errorf("%w: issued for longer than %s", ErrInvalidToken, v.cfg.MaxLifetime)
	}
	var sub string
	if v.cfg.SubjectClaim == "sub" {
		sub, _ = tok.Subject()
	} else if err := tok.Get(v.cfg.SubjectClaim, &sub); err != nil {
		sub = ""
	}
	if sub == "" || len(sub) > 128 {
		return Principal{}, fmt.Errorf("%w: no usable %s claim", ErrInvalidToken, v.cfg.SubjectClaim)
	}
	p := Principal{Subject: sub}
	var raw any
	if err := tok.Get(v.cfg.RolesClaim, &raw); err == nil {
		// Only a JSON array of strings: a string split on spaces would let
		// "citizen operator" grant operator.
		rs, ok := raw.([]any)
		if !ok {
			return Principal{}, fmt.Errorf("%w: %s must be a JSON array of strings", ErrInvalidToken, v.cfg.RolesClaim)
		}
		for _, r := range rs {
			s, ok := r.(string)
			if !ok {
				return Principal{}, fmt.Errorf("%w: %s must be a JSON array of strings", ErrInvalidToken, v.cfg.RolesClaim)
			}
			p.Roles = append(p.Roles, s)
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
func (s *Signer) Verifier() (*Verifier, error) { return NewVerifierFromPublicKey(s.pub, DevConfig()) }

// Sign issues a token for sub with the roles, valid for ttl.
func (s *Signer) Sign(sub string, roles []string, ttl time.Duration) (string, error) {
	now := time.Now()
	tok, err := jwt.NewBuilder().
		Subject(sub).
		Issuer(DevIssuer).
		Audience([]string{DevAudience}).
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
