package portal

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Session keys.
const (
	keyCitizen = "citizen"
	keyName    = "name"
	keyLevel   = "level"
	keyIDToken = "id_token"
	keyState   = "login_state"
	keyNonce   = "login_nonce"
	keyVerify  = "login_verifier"
	keyReturn  = "login_return"
)

// oidcProvider is the discovered provider with what logging in needs.
type oidcProvider struct {
	oauth2     oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string
}

// provider discovers the identity provider on first use and keeps it;
// a failed discovery is tried again at the next login, so the portal
// starts while the provider is down (in dev mode it is this process).
func (p *Portal) provider(ctx context.Context) (*oidcProvider, error) {
	p.mu.Lock()
	known := p.idp
	p.mu.Unlock()
	if known != nil {
		return known, nil
	}
	// Discovery runs outside the lock: while the provider is down, each
	// login fails on its own instead of queueing behind another.
	client := oidc.ClientContext(context.Background(), p.d.HTTPClient)
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, p.d.HTTPClient), 10*time.Second)
	defer cancel()
	op, err := oidc.NewProvider(dctx, p.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("portal: discover %s: %w", p.cfg.Issuer, err)
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = op.Claims(&extra)
	found := &oidcProvider{
		oauth2: oauth2.Config{
			ClientID: p.cfg.ClientID, ClientSecret: p.cfg.ClientSecret,
			Endpoint:    op.Endpoint(),
			RedirectURL: p.cfg.PublicURL + "/auth/callback",
			Scopes:      []string{oidc.ScopeOpenID, "profile", "email"},
		},
		// The key set lives as long as the portal, not the first login's
		// request.
		verifier:   op.VerifierContext(client, &oidc.Config{ClientID: p.cfg.ClientID, Now: p.d.Now}),
		endSession: extra.EndSession,
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.idp == nil {
		p.idp = found
	}
	return p.idp, nil
}

func random() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// login sends the browser to the provider with a fresh state, nonce and
// PKCE verifier, kept in the (pre-login) session.
func (p *Portal) login(w http.ResponseWriter, r *http.Request, v *view) {
	op, err := p.provider(r.Context())
	if err != nil {
		p.d.Log.WarnContext(r.Context(), "identity provider unreachable", "error", err)
		p.renderError(w, r, http.StatusBadGateway, "error.provider")
		return
	}
	state, nonce, verifier := random(), random(), oauth2.GenerateVerifier()
	ctx := r.Context()
	p.sessions.Put(ctx, keyState, state)
	p.sessions.Put(ctx, keyNonce, nonce)
	p.sessions.Put(ctx, keyVerify, verifier)
	p.sessions.Put(ctx, keyReturn, localPath(r.URL.Query().Get("return")))
	opts := []oauth2.AuthCodeOption{oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier),
		oauth2.SetAuthURLParam("ui_locales", string(v.Lang))}
	http.Redirect(w, r, op.oauth2.AuthCodeURL(state, opts...), http.StatusFound)
}

// localPath keeps a return address on this site: a path (with query), no
// scheme, no host, no control characters (browsers drop a tab, so
// "/\t/evil.example" would become "//evil.example").
func localPath(s string) string {
	if len(s) > 512 || !strings.HasPrefix(s, "/") || strings.HasPrefix(s, "//") ||
		strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\\' }) {
		return "/"
	}
	u, err := url.Parse(s)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(u.Path, "//") {
		return "/"
	}
	return s
}

// callback completes the login: the state must be the one this browser
// was sent with, the code is exchanged with its PKCE verifier, the ID
// token verified (issuer, audience, expiry, signature) and its nonce
// compared. Only then does the session get a new id and the citizen.
func (p *Portal) callback(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	state := p.sessions.PopString(ctx, keyState)
	nonce := p.sessions.PopString(ctx, keyNonce)
	verifier := p.sessions.PopString(ctx, keyVerify)
	ret := p.sessions.PopString(ctx, keyReturn)
	q := r.URL.Query()
	if state == "" || subtle.ConstantTimeCompare([]byte(state), []byte(q.Get("state"))) != 1 {
		p.refuse(w, r, "state", http.StatusBadRequest, "error.login")
		return
	}
	if e := q.Get("error"); e != "" {
		p.refuse(w, r, "provider said "+oneWord(e), http.StatusUnauthorized, "error.login")
		return
	}
	op, err := p.provider(ctx)
	if err != nil {
		p.renderError(w, r, http.StatusBadGateway, "error.provider")
		return
	}
	tok, err := op.oauth2.Exchange(oidc.ClientContext(ctx, p.d.HTTPClient), q.Get("code"), oauth2.VerifierOption(verifier))
	if err != nil {
		p.refuse(w, r, "code exchange", http.StatusUnauthorized, "error.login")
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := op.verifier.Verify(ctx, raw)
	if err != nil {
		p.refuse(w, r, "id token: "+verifyProblem(err), http.StatusUnauthorized, "error.login")
		return
	}
	if nonce == "" || subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(nonce)) != 1 {
		p.refuse(w, r, "nonce", http.StatusUnauthorized, "error.login")
		return
	}
	var claims map[string]any
	if err := idt.Claims(&claims); err != nil {
		p.refuse(w, r, "claims", http.StatusUnauthorized, "error.login")
		return
	}
	citizen, _ := claims[p.cfg.CitizenClaim].(string)
	if !validID(citizen) {
		p.refuse(w, r, "citizen claim "+p.cfg.CitizenClaim+" missing or malformed", http.StatusUnauthorized, "error.login")
		return
	}
	levelClaim, _ := claims[p.cfg.LevelClaim].(string)
	level := ParseLevel(levelClaim)
	if level < p.cfg.ReadLevel {
		p.refuse(w, r, "trust level below "+p.cfg.ReadLevel.String(), http.StatusForbidden, "error.level_read")
		return
	}
	// A new session id at login: whoever knew the id before (a planted
	// cookie) holds nothing.
	if err := p.sessions.RenewToken(ctx); err != nil {
		p.internal(w, r, err)
		return
	}
	name, _ := claims["name"].(string)
	p.sessions.Put(ctx, keyCitizen, citizen)
	p.sessions.Put(ctx, keyName, name)
	p.sessions.Put(ctx, keyLevel, int(level))
	p.sessions.Put(ctx, keyIDToken, raw)
	if email, _ := claims[p.cfg.EmailClaim].(string); email != "" && p.d.Contacts != nil {
		if err := p.d.Contacts.Set(ctx, citizen, email, v.Lang); err != nil {
			p.d.Log.WarnContext(ctx, "could not keep the notification address", "error", err)
		}
	}
	p.d.Log.InfoContext(ctx, "citizen logged in", "level", level.String())
	http.Redirect(w, r, localPath(ret), http.StatusSeeOther)
}

// refuse logs why a login failed, without naming anyone, and shows the
// reader a page that asks them to try again.
func (p *Portal) refuse(w http.ResponseWriter, r *http.Request, why string, code int, key string) {
	p.d.Log.WarnContext(r.Context(), "login refused", "reason", why)
	p.renderError(w, r, code, key)
}

func oneWord(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return -1
	}, s)
}

// verifyProblem says which check an ID token failed, for the log.
func verifyProblem(err error) string {
	var exp *oidc.TokenExpiredError
	switch {
	case errors.As(err, &exp):
		return "expired"
	case strings.Contains(err.Error(), "issuer"):
		return "wrong issuer"
	case strings.Contains(err.Error(), "audience"):
		return "wrong audience"
	case strings.Contains(err.Error(), "signature"):
		return "bad signature"
	}
	return "invalid"
}

// logout ends the session here and, where the provider offers it, there.
func (p *Portal) logout(w http.ResponseWriter, r *http.Request, v *view) {
	ctx := r.Context()
	hint := p.sessions.GetString(ctx, keyIDToken)
	if err := p.sessions.Destroy(ctx); err != nil {
		p.internal(w, r, err)
		return
	}
	target := "/?lang=" + string(v.Lang)
	if op, err := p.provider(ctx); err == nil && op.endSession != "" && hint != "" {
		q := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {p.cfg.PublicURL + "/"},
			"client_id": {p.cfg.ClientID}}
		target = op.endSession + "?" + q.Encode()
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}
