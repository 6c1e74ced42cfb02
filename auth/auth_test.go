package auth_test

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwk"

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
	for r, want := range map[string]bool{"citizen": true, "agency:x": true, "agency:": false, "root": false} {
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
	v, err := auth.NewVerifierFromJWKS(context.Background(), srv.URL)
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
	v, err := auth.NewVerifierFromKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := signer.Sign("c-1", []string{auth.RoleCitizen}, time.Hour)
	if _, err := v.Verify(tok); err != nil {
		t.Fatal(err)
	}
}
