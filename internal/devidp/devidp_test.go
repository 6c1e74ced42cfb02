package devidp_test

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"

	"github.com/lifeevents/lifeevents/internal/devidp"
)

const (
	issuerPath    = "/dev/idp"
	clientID      = "lifeevents-portal"
	clientSecret  = "dev-secret"
	redirectURI   = "http://rp.test/auth/callback"
	postLogoutURI = "http://rp.test/signed-out"
	stylesheet    = "/static/kern/kern.min.css"

	levelBasic       = "STORK-QAA-Level-1"
	levelSubstantial = "STORK-QAA-Level-3"
	levelHigh        = "STORK-QAA-Level-4"
)

var testUsers = []devidp.User{
	{ID: "anna", Name: "Anna Muster", Email: "anna@example.org"},
	{ID: "ben", Name: "Ben Beispiel", Email: "ben@example.org"},
}

// clock lets a test move the IdP's notion of time while staying in step
// with the wall clock the op library uses for iat and exp.
type clock struct {
	mu     sync.Mutex
	offset time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.offset)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.offset += d
}

// env is one IdP behind an httptest server plus a relying party built the
// way the real one is: go-oidc discovery and x/oauth2.
type env struct {
	srv      *httptest.Server
	issuer   string
	ctx      context.Context
	provider *oidc.Provider
	oauth    oauth2.Config
	browser  *http.Client
}

func newEnv(t *testing.T, mutate func(*devidp.Config)) *env {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	cfg := devidp.Config{
		Issuer:                 srv.URL + issuerPath,
		ClientID:               clientID,
		ClientSecret:           clientSecret,
		RedirectURIs:           []string{redirectURI},
		PostLogoutRedirectURIs: []string{postLogoutURI},
		Users:                  testUsers,
		Stylesheet:             stylesheet,
	}
	if mutate != nil {
		mutate(&cfg)
	}
	idp, err := devidp.New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	mux.Handle(issuerPath+"/", idp.Handler())

	ctx := oidc.ClientContext(t.Context(), srv.Client())
	provider, err := oidc.NewProvider(ctx, cfg.Issuer)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	serverURL, _ := url.Parse(srv.URL)
	browser := &http.Client{
		// The browser stays on the IdP; anything that leaves it (the
		// relying party's redirect URI or a foreign one) is inspected by
		// the test instead of being fetched.
		CheckRedirect: func(req *http.Request, via []*http.Request) error {
			if req.URL.Host != serverURL.Host {
				return http.ErrUseLastResponse
			}
			if len(via) > 10 {
				return errors.New("too many redirects")
			}
			return nil
		},
	}
	return &env{
		srv:      srv,
		issuer:   cfg.Issuer,
		ctx:      ctx,
		provider: provider,
		oauth: oauth2.Config{
			ClientID:     clientID,
			ClientSecret: clientSecret,
			Endpoint:     provider.Endpoint(),
			RedirectURL:  redirectURI,
			Scopes:       []string{oidc.ScopeOpenID, "profile", "email"},
		},
		browser: browser,
	}
}

// flow is one relying-party login attempt.
type flow struct {
	state, nonce, verifier string
	authRequestID          string
	loginPage              *http.Response
	loginBody              string
}

// startLogin sends the browser to the authorize endpoint and follows it to
// the login page.
func (e *env) startLogin(t *testing.T, extra ...oauth2.AuthCodeOption) *flow {
	t.Helper()
	f := &flow{state: rand.Text(), nonce: rand.Text(), verifier: oauth2.GenerateVerifier()}
	opts := append([]oauth2.AuthCodeOption{oidc.Nonce(f.nonce), oauth2.S256ChallengeOption(f.verifier)}, extra...)
	resp, body := e.get(t, e.oauth.AuthCodeURL(f.state, opts...))
	if resp.StatusCode != http.StatusOK || resp.Request.URL.Path != issuerPath+"/login" {
		t.Fatalf("authorize did not lead to the login page: %d %s\n%s", resp.StatusCode, resp.Request.URL, body)
	}
	f.authRequestID = resp.Request.URL.Query().Get("authRequestID")
	if f.authRequestID == "" {
		t.Fatalf("login URL without authRequestID: %s", resp.Request.URL)
	}
	f.loginPage, f.loginBody = resp, body
	return f
}

func (e *env) get(t *testing.T, rawURL string) (*http.Response, string) {
	t.Helper()
	resp, err := e.browser.Get(rawURL)
	if err != nil {
		t.Fatalf("GET %s: %v", rawURL, err)
	}
	return resp, readBody(t, resp)
}

// submitLogin posts the login form the way a browser would and returns the
// last response, which for a success is the redirect to the relying party.
func (e *env) submitLogin(t *testing.T, authRequestID, user, level string) (*http.Response, string) {
	t.Helper()
	resp, err := e.browser.PostForm(e.issuer+"/login", url.Values{
		"authRequestID": {authRequestID},
		"user":          {user},
		"level":         {level},
	})
	if err != nil {
		t.Fatalf("POST login: %v", err)
	}
	return resp, readBody(t, resp)
}

// login runs the browser part of the flow and returns the code delivered to
// the relying party.
func (e *env) login(t *testing.T, user, level string, extra ...oauth2.AuthCodeOption) (*flow, string) {
	t.Helper()
	f := e.startLogin(t, extra...)
	resp, body := e.submitLogin(t, f.authRequestID, user, level)
	q := redirectQuery(t, resp, body, redirectURI)
	if q.Get("state") != f.state {
		t.Fatalf("state = %q, want %q", q.Get("state"), f.state)
	}
	code := q.Get("code")
	if code == "" {
		t.Fatalf("no code in redirect: %v", q)
	}
	return f, code
}

// redirectQuery asserts that resp redirects to target and returns the
// redirect's query.
func redirectQuery(t *testing.T, resp *http.Response, body, target string) url.Values {
	t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("status = %d, want a redirect to %s; body:\n%s", resp.StatusCode, target, body)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatalf("Location: %v", err)
	}
	got := *loc
	got.RawQuery = ""
	if got.String() != target {
		t.Fatalf("redirect to %s, want %s", loc, target)
	}
	return loc.Query()
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

func (e *env) exchange(f *flow, code string) (*oauth2.Token, error) {
	return e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier))
}

func (e *env) verify(t *testing.T, tok *oauth2.Token, cfg *oidc.Config) (*oidc.IDToken, error) {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		t.Fatal("token response without id_token")
	}
	return e.provider.Verifier(cfg).Verify(e.ctx, raw)
}

type idClaims struct {
	Sub      string `json:"sub"`
	Name     string `json:"name"`
	Email    string `json:"email"`
	ACR      string `json:"acr"`
	Nonce    string `json:"nonce"`
	Iat      int64  `json:"iat"`
	Exp      int64  `json:"exp"`
	AuthTime int64  `json:"auth_time"`
}

func TestHappyPath(t *testing.T) {
	e := newEnv(t, nil)
	f, code := e.login(t, "ben", levelHigh)

	tok, err := e.exchange(f, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := e.verify(t, tok, &oidc.Config{ClientID: clientID})
	if err != nil {
		t.Fatalf("verify ID token: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatalf("claims: %v", err)
	}
	want := idClaims{Sub: "ben", Name: "Ben Beispiel", Email: "ben@example.org", ACR: levelHigh, Nonce: f.nonce}
	if c.Sub != want.Sub || c.Name != want.Name || c.Email != want.Email || c.ACR != want.ACR || c.Nonce != want.Nonce {
		t.Errorf("claims = %+v, want %+v", c, want)
	}
	if idt.Issuer != e.issuer {
		t.Errorf("iss = %q, want %q", idt.Issuer, e.issuer)
	}
	if !slices.Equal(idt.Audience, []string{clientID}) {
		t.Errorf("aud = %q, want [%q]", idt.Audience, clientID)
	}
	if err := idt.VerifyAccessToken(tok.AccessToken); err != nil {
		t.Errorf("at_hash: %v", err)
	}

	info, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok))
	if err != nil {
		t.Fatalf("userinfo: %v", err)
	}
	if info.Subject != "ben" || info.Email != "ben@example.org" {
		t.Errorf("userinfo = sub %q email %q", info.Subject, info.Email)
	}
}

func TestDiscovery(t *testing.T) {
	e := newEnv(t, nil)
	var d struct {
		Issuer                        string   `json:"issuer"`
		AuthorizationEndpoint         string   `json:"authorization_endpoint"`
		TokenEndpoint                 string   `json:"token_endpoint"`
		UserinfoEndpoint              string   `json:"userinfo_endpoint"`
		JWKSURI                       string   `json:"jwks_uri"`
		EndSessionEndpoint            string   `json:"end_session_endpoint"`
		CodeChallengeMethodsSupported []string `json:"code_challenge_methods_supported"`
	}
	if err := e.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}
	if d.Issuer != e.issuer {
		t.Errorf("issuer = %q, want %q", d.Issuer, e.issuer)
	}
	for _, ep := range []string{d.AuthorizationEndpoint, d.TokenEndpoint, d.UserinfoEndpoint, d.JWKSURI, d.EndSessionEndpoint} {
		if !strings.HasPrefix(ep, e.issuer+"/") {
			t.Errorf("endpoint %q is not under the issuer", ep)
		}
	}
	if !slices.Equal(d.CodeChallengeMethodsSupported, []string{"S256"}) {
		t.Errorf("code_challenge_methods_supported = %q, want [S256]", d.CodeChallengeMethodsSupported)
	}
	resp, body := e.get(t, d.JWKSURI)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"RS256"`) {
		t.Errorf("JWKS: %d %s", resp.StatusCode, body)
	}
}

func TestCodeIsSingleUse(t *testing.T) {
	e := newEnv(t, nil)
	f, code := e.login(t, "anna", levelSubstantial)

	tok, err := e.exchange(f, code)
	if err != nil {
		t.Fatalf("first exchange: %v", err)
	}
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo before replay: %v", err)
	}
	if _, err := e.exchange(f, code); err == nil {
		t.Fatal("second exchange of the same code succeeded")
	}
	// RFC 6749, section 4.1.2: a replayed code revokes what it produced.
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("access token still valid after the code was replayed")
	}
}

func TestWrongClientSecret(t *testing.T) {
	e := newEnv(t, nil)
	f, code := e.login(t, "anna", levelSubstantial)

	bad := e.oauth
	bad.ClientSecret = "not-the-secret"
	// One auth style only, so the error is the answer to the wrong secret
	// and not to oauth2's retry with the other style.
	bad.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	_, err := bad.Exchange(e.ctx, code, oauth2.VerifierOption(f.verifier))
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("exchange with wrong secret: err = %v, want a token endpoint error", err)
	}
	if re.ErrorCode != "invalid_client" {
		t.Errorf("error = %q, want invalid_client", re.ErrorCode)
	}
}

func TestPKCERequired(t *testing.T) {
	e := newEnv(t, nil)

	t.Run("no code_challenge is refused at authorize", func(t *testing.T) {
		state := rand.Text()
		resp, body := e.get(t, e.oauth.AuthCodeURL(state, oidc.Nonce(rand.Text())))
		q := redirectQuery(t, resp, body, redirectURI)
		if q.Get("error") != "invalid_request" || q.Get("code") != "" || q.Get("state") != state {
			t.Errorf("authorize without PKCE redirected with %v, want error=invalid_request and no code", q)
		}
	})

	t.Run("plain method is refused at authorize", func(t *testing.T) {
		verifier := oauth2.GenerateVerifier()
		resp, body := e.get(t, e.oauth.AuthCodeURL(rand.Text(),
			oauth2.SetAuthURLParam("code_challenge", verifier),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")))
		q := redirectQuery(t, resp, body, redirectURI)
		if q.Get("error") != "invalid_request" || q.Get("code") != "" {
			t.Errorf("authorize with plain PKCE redirected with %v, want error=invalid_request", q)
		}
	})

	t.Run("exchange without the verifier fails", func(t *testing.T) {
		_, code := e.login(t, "anna", levelSubstantial)
		if _, err := e.oauth.Exchange(e.ctx, code); err == nil {
			t.Error("exchange without code_verifier succeeded")
		}
	})

	t.Run("exchange with a wrong verifier fails", func(t *testing.T) {
		_, code := e.login(t, "anna", levelSubstantial)
		if _, err := e.oauth.Exchange(e.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier())); err == nil {
			t.Error("exchange with a wrong code_verifier succeeded")
		}
	})
}

func TestUnregisteredRedirectURI(t *testing.T) {
	e := newEnv(t, nil)
	for _, uri := range []string{
		"http://evil.test/auth/callback",
		redirectURI + "/",
		redirectURI + "?next=http://evil.test",
	} {
		t.Run(uri, func(t *testing.T) {
			cfg := e.oauth
			cfg.RedirectURL = uri
			resp, body := e.get(t, cfg.AuthCodeURL(rand.Text(), oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
			if resp.StatusCode != http.StatusBadRequest {
				t.Errorf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			if loc := resp.Header.Get("Location"); loc != "" {
				t.Errorf("authorize redirected to %s", loc)
			}
		})
	}
}

func TestLoginRejectsUnknownChoices(t *testing.T) {
	e := newEnv(t, nil)
	f := e.startLogin(t)

	for _, tc := range []struct{ name, user, level string }{
		{"unknown user", "mallory", levelSubstantial},
		{"empty user", "", levelSubstantial},
		{"unknown level", "anna", "STORK-QAA-Level-2"},
		{"empty level", "anna", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := e.submitLogin(t, f.authRequestID, tc.user, tc.level)
			if resp.StatusCode != http.StatusBadRequest {
				t.Fatalf("status = %d, want 400; body %s", resp.StatusCode, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("Content-Type = %q, want a plain message", ct)
			}
		})
	}

	// Asking the op for the code directly proves the rejected posts did not
	// complete the request.
	resp, body := e.get(t, e.issuer+"/authorize/callback?id="+url.QueryEscape(f.authRequestID))
	q := redirectQuery(t, resp, body, redirectURI)
	if q.Get("code") != "" || q.Get("error") == "" {
		t.Fatalf("callback after rejected logins: %v, want an error and no code", q)
	}

	// The request is still usable for a valid choice.
	resp, body = e.submitLogin(t, f.authRequestID, "anna", levelBasic)
	if q := redirectQuery(t, resp, body, redirectURI); q.Get("code") == "" {
		t.Errorf("valid login after rejected ones: %v", q)
	}
}

func TestUnknownAuthRequest(t *testing.T) {
	e := newEnv(t, nil)
	resp, body := e.get(t, e.issuer+"/login?authRequestID=does-not-exist")
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "<h1") {
		t.Errorf("GET: status %d, want a 404 page; body %s", resp.StatusCode, body)
	}
	resp, _ = e.submitLogin(t, "does-not-exist", "anna", levelSubstantial)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("POST: status %d, want 404", resp.StatusCode)
	}

	// A completed request cannot be logged into a second time.
	f := e.startLogin(t)
	if resp, body := e.submitLogin(t, f.authRequestID, "anna", levelSubstantial); resp.StatusCode != http.StatusFound {
		t.Fatalf("first login: %d %s", resp.StatusCode, body)
	}
	if resp, _ := e.submitLogin(t, f.authRequestID, "ben", levelHigh); resp.StatusCode != http.StatusNotFound {
		t.Errorf("second login: status %d, want 404", resp.StatusCode)
	}
}

func TestTokenLifetime(t *testing.T) {
	const lifetime = 2 * time.Minute
	clk := &clock{}
	e := newEnv(t, func(c *devidp.Config) {
		c.IDTokenLifetime = lifetime
		c.Now = clk.Now
	})
	f, code := e.login(t, "anna", levelSubstantial)
	tok, err := e.exchange(f, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	idt, err := e.verify(t, tok, &oidc.Config{ClientID: clientID})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	var c idClaims
	if err := idt.Claims(&c); err != nil {
		t.Fatal(err)
	}
	// exp and iat are whole seconds taken from two successive clock reads,
	// so a second boundary between them may cost one second.
	if d := time.Duration(c.Exp-c.Iat) * time.Second; d != lifetime && d != lifetime-time.Second {
		t.Errorf("exp - iat = %v, want %v", d, lifetime)
	}
	if c.AuthTime == 0 || c.AuthTime > c.Iat+1 {
		t.Errorf("auth_time = %d, iat = %d", c.AuthTime, c.Iat)
	}
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err != nil {
		t.Fatalf("userinfo within the lifetime: %v", err)
	}

	// A second login whose code we hold back until it expired.
	f2, code2 := e.login(t, "ben", levelSubstantial)

	clk.Advance(lifetime + time.Second)

	_, err = e.verify(t, tok, &oidc.Config{ClientID: clientID, Now: clk.Now})
	var expired *oidc.TokenExpiredError
	if !errors.As(err, &expired) {
		t.Errorf("verify after the lifetime: err = %v, want TokenExpiredError", err)
	}
	if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Error("userinfo accepted an access token past its lifetime")
	}
	if _, err := e.exchange(f2, code2); err == nil {
		t.Error("an authorization code older than its lifetime was redeemed")
	}
}

func TestEndSession(t *testing.T) {
	e := newEnv(t, nil)
	f, code := e.login(t, "anna", levelSubstantial)
	tok, err := e.exchange(f, code)
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	rawID := tok.Extra("id_token").(string)
	var d struct {
		EndSession string `json:"end_session_endpoint"`
	}
	if err := e.provider.Claims(&d); err != nil {
		t.Fatal(err)
	}

	t.Run("unregistered post_logout_redirect_uri is refused", func(t *testing.T) {
		resp, body := e.get(t, d.EndSession+"?"+url.Values{
			"id_token_hint":            {rawID},
			"post_logout_redirect_uri": {"http://evil.test/"},
		}.Encode())
		if resp.StatusCode != http.StatusBadRequest || resp.Header.Get("Location") != "" {
			t.Errorf("status %d, Location %q, want 400 without redirect; body %s", resp.StatusCode, resp.Header.Get("Location"), body)
		}
	})

	t.Run("registered post_logout_redirect_uri", func(t *testing.T) {
		resp, body := e.get(t, d.EndSession+"?"+url.Values{
			"id_token_hint":            {rawID},
			"post_logout_redirect_uri": {postLogoutURI},
			"state":                    {"s1"},
		}.Encode())
		if q := redirectQuery(t, resp, body, postLogoutURI); q.Get("state") != "s1" {
			t.Errorf("state = %q, want s1", q.Get("state"))
		}
		if _, err := e.provider.UserInfo(e.ctx, oauth2.StaticTokenSource(tok)); err == nil {
			t.Error("access token still valid after end_session")
		}
	})
}

func TestLoginPage(t *testing.T) {
	e := newEnv(t, nil)
	f := e.startLogin(t)

	csp := f.loginPage.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'none'", "style-src 'self'", "form-action 'self' http://rp.test"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %q", csp, want)
		}
	}

	doc, err := html.Parse(strings.NewReader(f.loginBody))
	if err != nil {
		t.Fatal(err)
	}
	var (
		lang, h1, button, stylesheetHref string
		mains, forms, fieldsets, legends int
		checked                          = map[string]string{}
		radios                           = map[string][]string{}
		labelFor                         = map[string]bool{}
		inputIDs                         []string
	)
	var walk func(n *html.Node, inMain bool)
	walk = func(n *html.Node, inMain bool) {
		if n.Type == html.ElementNode {
			if attr(n, "style") != "" {
				t.Errorf("<%s> has a style attribute", n.Data)
			}
			for _, a := range n.Attr {
				if strings.HasPrefix(a.Key, "on") {
					t.Errorf("<%s> has an inline handler %s", n.Data, a.Key)
				}
			}
			switch n.Data {
			case "html":
				lang = attr(n, "lang")
			case "script", "style":
				t.Errorf("page contains <%s>", n.Data)
			case "link":
				if attr(n, "rel") == "stylesheet" {
					stylesheetHref = attr(n, "href")
				}
			case "main":
				mains++
				inMain = true
			case "h1":
				if inMain {
					h1 = text(n)
				}
			case "form":
				forms++
				if m := attr(n, "method"); m != "post" {
					t.Errorf("form method = %q, want post", m)
				}
			case "fieldset":
				fieldsets++
				if c := n.FirstChild; c != nil {
					for c != nil && c.Type != html.ElementNode {
						c = c.NextSibling
					}
					if c != nil && c.Data == "legend" && strings.TrimSpace(text(c)) != "" {
						legends++
					}
				}
			case "input":
				if attr(n, "type") == "radio" {
					name := attr(n, "name")
					radios[name] = append(radios[name], attr(n, "value"))
					inputIDs = append(inputIDs, attr(n, "id"))
					if hasAttr(n, "checked") {
						checked[name] = attr(n, "value")
					}
				}
			case "label":
				labelFor[attr(n, "for")] = true
			case "button":
				button = strings.TrimSpace(text(n))
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c, inMain)
		}
	}
	walk(doc, false)

	if lang != "de" {
		t.Errorf("lang = %q, want de", lang)
	}
	if mains != 1 || h1 != "Anmeldung (Entwicklungsumgebung) / Sign in (development)" {
		t.Errorf("main landmarks = %d, h1 in main = %q", mains, h1)
	}
	if forms != 1 || fieldsets != 2 || legends != 2 {
		t.Errorf("forms = %d, fieldsets = %d, fieldsets with a legend first = %d; want 1, 2, 2", forms, fieldsets, legends)
	}
	if !slices.Equal(radios["user"], []string{"anna", "ben"}) || checked["user"] != "anna" {
		t.Errorf("user radios = %q checked %q, want [anna ben] with anna checked", radios["user"], checked["user"])
	}
	var levels []string
	for _, l := range devidp.Levels() {
		levels = append(levels, l.Value)
	}
	if !slices.Equal(radios["level"], levels) || checked["level"] != levelSubstantial {
		t.Errorf("level radios = %q checked %q, want %q with %s checked", radios["level"], checked["level"], levels, levelSubstantial)
	}
	for _, id := range inputIDs {
		if id == "" || !labelFor[id] {
			t.Errorf("radio %q has no label", id)
		}
	}
	if button != "Anmelden" {
		t.Errorf("button = %q, want Anmelden", button)
	}
	if stylesheetHref != stylesheet {
		t.Errorf("stylesheet = %q, want %q", stylesheetHref, stylesheet)
	}
	if !strings.Contains(f.loginBody, "Anna Muster") || !strings.Contains(f.loginBody, "Ben Beispiel") {
		t.Error("user names missing from the login page")
	}

	t.Run("acr_values preselects the requested level", func(t *testing.T) {
		f := e.startLogin(t, oauth2.SetAuthURLParam("acr_values", levelHigh))
		if !strings.Contains(f.loginBody, `value="`+levelHigh+`" checked`) {
			t.Errorf("%s not preselected:\n%s", levelHigh, f.loginBody)
		}
	})
}

func attr(n *html.Node, key string) string {
	for _, a := range n.Attr {
		if a.Key == key {
			return a.Val
		}
	}
	return ""
}

func hasAttr(n *html.Node, key string) bool {
	for _, a := range n.Attr {
		if a.Key == key {
			return true
		}
	}
	return false
}

func text(n *html.Node) string {
	var b strings.Builder
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.TextNode {
			b.WriteString(n.Data)
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(n)
	return b.String()
}

func TestValidate(t *testing.T) {
	valid := devidp.Config{
		Issuer:       "http://127.0.0.1:8080/dev/idp",
		ClientID:     clientID,
		ClientSecret: clientSecret,
		RedirectURIs: []string{redirectURI},
		Users:        testUsers,
	}
	if err := valid.Validate(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		name   string
		mutate func(*devidp.Config)
		want   string
	}{
		{"relative issuer", func(c *devidp.Config) { c.Issuer = "/dev/idp" }, "absolute http(s) URL"},
		{"ftp issuer", func(c *devidp.Config) { c.Issuer = "ftp://example.org/idp" }, "absolute http(s) URL"},
		{"issuer with slash", func(c *devidp.Config) { c.Issuer += "/" }, "must not end with a slash"},
		{"issuer with query", func(c *devidp.Config) { c.Issuer += "?x=1" }, "query"},
		{"no client id", func(c *devidp.Config) { c.ClientID = "" }, "client id"},
		{"no client secret", func(c *devidp.Config) { c.ClientSecret = "" }, "client secret"},
		{"no redirect URI", func(c *devidp.Config) { c.RedirectURIs = nil }, "redirect URI"},
		{"relative redirect URI", func(c *devidp.Config) { c.RedirectURIs = []string{"/cb"} }, "redirect URI"},
		{"no users", func(c *devidp.Config) { c.Users = nil }, "at least one user"},
		{"duplicate user", func(c *devidp.Config) { c.Users = []devidp.User{{ID: "a"}, {ID: "a"}} }, "duplicate"},
		{"empty user id", func(c *devidp.Config) { c.Users = []devidp.User{{Name: "x"}} }, "id must not be empty"},
		{"negative lifetime", func(c *devidp.Config) { c.IDTokenLifetime = -time.Second }, "lifetime"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := valid
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
			if _, err := devidp.New(c); err == nil {
				t.Error("New accepted the invalid config")
			}
		})
	}
}

func TestLevels(t *testing.T) {
	got, _ := json.Marshal(devidp.Levels())
	want := `[{"Value":"STORK-QAA-Level-1","Label":"Basis (Benutzername und Passwort) / basic"},` +
		`{"Value":"STORK-QAA-Level-3","Label":"Substanziell (ELSTER-Zertifikat) / substantial"},` +
		`{"Value":"STORK-QAA-Level-4","Label":"Hoch (Online-Ausweis) / high"}]`
	if string(got) != want {
		t.Errorf("Levels() = %s", got)
	}
	devidp.Levels()[0].Value = "changed"
	if devidp.Levels()[0].Value != levelBasic {
		t.Error("Levels() shares its backing array")
	}
}
