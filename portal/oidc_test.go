package portal_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/oauth2-proxy/mockoidc"

	"github.com/lifeevents/lifeevents/portal"
)

// citizen is a mock provider's user with the trust-level claim.
type citizen struct {
	*mockoidc.MockUser
	acr string
}

func (c citizen) Claims(scope []string, claims *mockoidc.IDTokenClaims) (jwt.Claims, error) {
	base, err := c.MockUser.Claims(scope, claims)
	if err != nil {
		return nil, err
	}
	b, _ := json.Marshal(base)
	var m jwt.MapClaims
	_ = json.Unmarshal(b, &m)
	if c.acr != "" {
		m["acr"] = c.acr
	}
	return m, nil
}

// tamper rewrites the ID token in the provider's token answers, signed
// again with the provider's own key: only the portal's checks of its
// claims can refuse it.
type tamper struct {
	m      *mockoidc.MockOIDC
	change func(jwt.MapClaims)
}

func (tp *tamper) RoundTrip(r *http.Request) (*http.Response, error) {
	res, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || tp.change == nil || r.URL.String() != tp.m.TokenEndpoint() || res.StatusCode != 200 {
		return res, err
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var tok map[string]any
	if err := json.Unmarshal(body, &tok); err != nil {
		return nil, err
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(tok["id_token"].(string), claims); err != nil {
		return nil, err
	}
	tp.change(claims)
	if tok["id_token"], err = tp.m.Keypair.SignJWT(claims); err != nil {
		return nil, err
	}
	body, _ = json.Marshal(tok)
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header.Del("Content-Length")
	return res, nil
}

// TestAgainstAnIndependentProvider logs in at a second provider (a mock
// OIDC server library) and holds every ID-token check: a token with the
// wrong issuer, audience or nonce, an expired one, a replayed code and a
// trust level below the minimum are all refused, and none leaves a
// session behind.
func TestAgainstAnIndependentProvider(t *testing.T) {
	m, err := mockoidc.Run()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Shutdown() })
	tp := &tamper{m: m}
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	cfg := m.Config()
	st := mountWith(t, mux, portal.Config{Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret, PublicURL: srv.URL},
		&http.Client{Transport: tp, Timeout: 10 * time.Second})
	_ = st

	login := func(acr string, change func(jwt.MapClaims)) (page, string) {
		t.Helper()
		m.QueueUser(citizen{&mockoidc.MockUser{Subject: "c-1001", Email: "erika@example.org"}, acr})
		tp.change = change
		b := newBrowser(t, srv.URL)
		var callback string
		b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
			if strings.HasPrefix(r.URL.String(), srv.URL+"/auth/callback") {
				callback = r.URL.String()
			}
			return nil
		}
		return b.get("/login"), callback
	}

	pg, callback := login("STORK-QAA-Level-3", nil)
	if pg.code != 200 || !strings.Contains(pg.body, "Ihr Postkorb") {
		t.Fatalf("login at the mock provider: %d %s", pg.code, pg.body)
	}
	for name, c := range map[string]struct {
		acr    string
		change func(jwt.MapClaims)
		code   int
	}{
		"wrong issuer":   {"STORK-QAA-Level-3", func(c jwt.MapClaims) { c["iss"] = "https://id.evil.example" }, 401},
		"wrong audience": {"STORK-QAA-Level-3", func(c jwt.MapClaims) { c["aud"] = "another-client" }, 401},
		"wrong nonce":    {"STORK-QAA-Level-3", func(c jwt.MapClaims) { c["nonce"] = "replayed-nonce" }, 401},
		"expired":        {"STORK-QAA-Level-3", func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Minute).Unix() }, 401},
		"no citizen id":  {"STORK-QAA-Level-3", func(c jwt.MapClaims) { delete(c, "sub") }, 401},
		"low level":      {"STORK-QAA-Level-0", nil, 403},
		"no level":       {"", nil, 403},
	} {
		t.Run(name, func(t *testing.T) {
			pg, _ := login(c.acr, c.change)
			if pg.code != c.code || strings.Contains(pg.body, "Ihr Postkorb") {
				t.Fatalf("%d, want %d: %s", pg.code, c.code, pg.body)
			}
		})
	}

	// A replayed code: the callback URL once more in a browser that has
	// just started its own login (so its state matches) is refused by the
	// code exchange; the same URL in the first browser has no state left.
	b := newBrowser(t, srv.URL)
	b.CheckRedirect = func(r *http.Request, _ []*http.Request) error {
		if strings.HasPrefix(r.URL.String(), cfg.Issuer) {
			return http.ErrUseLastResponse // stop before the provider
		}
		return nil
	}
	res, err := b.Get(srv.URL + "/login")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	authURL, _ := url.Parse(res.Header.Get("Location"))
	old, _ := url.Parse(callback)
	q := old.Query()
	q.Set("state", authURL.Query().Get("state"))
	old.RawQuery = q.Encode()
	if pg := b.get(old.String()); pg.code != 401 || !strings.Contains(pg.body, "Anmeldung fehlgeschlagen") {
		t.Fatalf("replayed code: %d", pg.code)
	}
	if pg := b.get("/consents"); pg.code != 401 {
		t.Fatalf("a replayed code left a session: %d", pg.code)
	}
	if pg := newBrowser(t, srv.URL).get(callback); pg.code != 400 {
		t.Fatalf("a callback without a pending login: %d", pg.code)
	}
}
