package auth_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/lifeevents/lifeevents/auth"
)

func TestTokens(t *testing.T) {
	dir := t.TempDir()
	signer, err := auth.LoadOrCreateSigner(filepath.Join(dir, "signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := auth.LoadOrCreateSigner(filepath.Join(dir, "signing.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !again.PublicKey().Equal(signer.PublicKey()) {
		t.Fatal("reloading the signing key produced another key")
	}
	forger, err := auth.LoadOrCreateSigner(filepath.Join(dir, "other.pem"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := signer.Verifier()
	if err != nil {
		t.Fatal(err)
	}

	valid, _ := signer.Sign("c-1001", []string{auth.RoleCitizen}, time.Hour)
	p, err := v.Verify(valid)
	if err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	if p.Subject != "c-1001" || !p.Has(auth.RoleCitizen) || p.Has(auth.RoleOperator) {
		t.Fatalf("principal = %+v", p)
	}

	expired, _ := signer.Sign("c-1001", []string{auth.RoleCitizen}, time.Minute)
	v.Now = func() time.Time { return time.Now().Add(2 * time.Minute) }
	if _, err := v.Verify(expired); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("expired token: err = %v", err)
	}
	v.Now = time.Now

	forged, _ := forger.Sign("c-1001", []string{auth.RoleOperator}, time.Hour)
	if _, err := v.Verify(forged); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token from another key: err = %v", err)
	}
	for _, bad := range []string{"", "abc", valid[:len(valid)-4] + "AAAA"} {
		if _, err := v.Verify(bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("%q: err = %v", bad, err)
		}
	}
}

func TestAgencies(t *testing.T) {
	p := auth.Principal{Subject: "a", Roles: []string{"agency:kfz-winsen", "agency:", "citizen"}}
	if got := p.Agencies(); len(got) != 1 || got[0] != "kfz-winsen" {
		t.Fatalf("Agencies() = %v", got)
	}
	for r, want := range map[string]bool{"citizen": true, "agency:x": true, "agency:": false, "root": false,
		"registry": false, "registry:03353022": true, "registry:0335302": false, "registry:0335302x": false} {
		if auth.ValidRole(r) != want {
			t.Errorf("ValidRole(%q) != %v", r, want)
		}
	}
}

func TestJWKS(t *testing.T) {
	signer, err := auth.LoadOrCreateSigner(filepath.Join(t.TempDir(), "k.pem"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := jwk.Import(signer.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	_ = set.AddKey(key)
	body, _ := json.Marshal(set)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	v, err := auth.NewVerifierFromJWKS(context.Background(), srv.URL, auth.DevConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("op-1", []string{auth.RoleOperator}, time.Hour)
	p, err := v.Verify(tok)
	if err != nil || p.Subject != "op-1" || !p.Has(auth.RoleOperator) {
		t.Fatalf("token from the JWKS key: %+v %v", p, err)
	}
	other, _ := auth.LoadOrCreateSigner(filepath.Join(t.TempDir(), "o.pem"))
	forged, _ := other.Sign("op-1", []string{auth.RoleOperator}, time.Hour)
	if _, err := v.Verify(forged); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("token from a key not in the JWKS: %v", err)
	}
}

func TestPublicKeyFile(t *testing.T) {
	dir := t.TempDir()
	signer, _ := auth.LoadOrCreateSigner(filepath.Join(dir, "k.pem"))
	der, _ := x509.MarshalPKIXPublicKey(signer.PublicKey())
	pub := filepath.Join(dir, "pub.pem")
	_ = os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600)
	v, err := auth.NewVerifierFromKey(pub, auth.DevConfig())
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("c-1", []string{auth.RoleCitizen}, time.Hour)
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
}

// tokenFor signs arbitrary claims with a fresh key and returns the token
// and a verifier of that key with cfg.
func tokenFor(t *testing.T, cfg auth.Config, claims map[string]any) (string, *auth.Verifier) {
	t.Helper()
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	key, err := jwk.Import(priv)
	if err != nil {
		t.Fatal(err)
	}
	b := jwt.NewBuilder()
	for k, v := range claims {
		b = b.Claim(k, v)
	}
	tok, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	signed, err := jwt.Sign(tok, jwt.WithKey(jwa.EdDSA(), key))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifierFromPublicKey(pub, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return string(signed), v
}

// TestTokensAcceptedNarrowly holds class 2 of the security review: a token
// of another issuer or for another application, one that claims to live
// for centuries, or one whose roles are a string is refused.
func TestTokensAcceptedNarrowly(t *testing.T) {
	now := time.Now()
	good := func() map[string]any {
		return map[string]any{"sub": "c-1", "roles": []string{"citizen"}, "iss": "https://idp.example", "aud": "lifeevents",
			"iat": now.Unix(), "exp": now.Add(time.Hour).Unix()}
	}
	cfg := auth.Config{Issuer: "https://idp.example", Audience: "lifeevents"}
	tok, v := tokenFor(t, cfg, good())
	if p, err := v.Verify(tok); err != nil || p.Subject != "c-1" || !p.Has("citizen") {
		t.Fatalf("good token: %+v %v", p, err)
	}
	for name, change := range map[string]func(map[string]any){
		"other issuer":        func(c map[string]any) { c["iss"] = "https://other.example" },
		"no issuer":           func(c map[string]any) { delete(c, "iss") },
		"other audience":      func(c map[string]any) { c["aud"] = "another-app" },
		"no audience":         func(c map[string]any) { delete(c, "aud") },
		"no expiry":           func(c map[string]any) { delete(c, "exp") },
		"expiry in centuries": func(c map[string]any) { c["exp"] = now.AddDate(300, 0, 0).Unix() },
		"issued for 2 days": func(c map[string]any) {
			c["iat"] = now.Add(-time.Hour).Unix()
			c["exp"] = now.Add(47 * time.Hour).Unix()
		},
		"iat a day and more ago": func(c map[string]any) { c["iat"] = now.Add(-30 * time.Hour).Unix() },
		"roles as one string":    func(c map[string]any) { c["roles"] = "citizen operator" },
		"roles not strings":      func(c map[string]any) { c["roles"] = []any{"citizen", 7} },
		"no subject":             func(c map[string]any) { delete(c, "sub") },
	} {
		claims := good()
		change(claims)
		tok, v := tokenFor(t, cfg, claims)
		if p, err := v.Verify(tok); !errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("%s: accepted as %+v", name, p)
		}
	}

	// Claim names are the identity provider's to choose.
	custom := auth.Config{Issuer: "https://idp.example", Audience: "lifeevents", SubjectClaim: "citizen_id", RolesClaim: "groups"}
	claims := good()
	delete(claims, "roles")
	claims["citizen_id"], claims["groups"] = "c-9", []string{"citizen"}
	tok, v = tokenFor(t, custom, claims)
	if p, err := v.Verify(tok); err != nil || p.Subject != "c-9" || !p.Has("citizen") {
		t.Fatalf("custom claims: %+v %v", p, err)
	}

	if err := (auth.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "LIFEEVENTS_JWT_ISSUER") || !strings.Contains(err.Error(), "LIFEEVENTS_JWT_AUDIENCE") {
		t.Fatalf("empty config: %v", err)
	}
}

func TestRegistryRoleBindsOffice(t *testing.T) {
	p := auth.Principal{Subject: "office", Roles: []string{auth.RegistryRole("03353022"), "registry:nope", "registry"}}
	if got := p.Registries(); len(got) != 1 || got[0] != "03353022" {
		t.Fatalf("Registries() = %v", got)
	}
	if !p.ActsForRegistry("03353022") || p.ActsForRegistry("03353005") {
		t.Fatal("ActsForRegistry does not bind the office")
	}
}

// FuzzVerify: whatever the token, Verify answers without panicking, and
// only a token it can check is accepted.
func FuzzVerify(f *testing.F) {
	signer, err := auth.LoadOrCreateSigner(filepath.Join(f.TempDir(), "k.pem"))
	if err != nil {
		f.Fatal(err)
	}
	v, _ := signer.Verifier()
	tok, _ := signer.Sign("c-1", []string{"citizen"}, time.Hour)
	f.Add(tok)
	f.Add("")
	f.Add("a.b.c")
	f.Add(tok[:len(tok)/2])
	f.Fuzz(func(t *testing.T, s string) {
		p, err := v.Verify(s)
		if err == nil && s != tok && p.Subject == "" {
			t.Fatalf("accepted %q with no subject", s)
		}
	})
}
