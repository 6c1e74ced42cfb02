// Package devidp is the OpenID Connect identity provider built into dev
// mode. It stands in for BundID so that the whole login flow (discovery,
// authorization code flow with PKCE, token, JWKS, userinfo, end_session)
// runs locally against a real, standards-conformant provider instead of a
// mock that would hide protocol mistakes in the relying party.
//
// Nobody is authenticated: the login page lets the developer pick one of
// the configured users and a BundID trust level. It must therefore never be
// mounted outside dev mode.
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// User is one person who can log in.
type User struct{ ID, Name, Email string }

// Level is a trust level (acr value) a user may choose at login.
type Level struct{ Value, Label string }

const (
	levelBasic       = "STORK-QAA-Level-1"
	levelSubstantial = "STORK-QAA-Level-3"
	levelHigh        = "STORK-QAA-Level-4"

	// defaultLevel is preselected because most of the services the project
	// models require "substanziell"; picking it by default keeps the common
	// path to a single click.
	defaultLevel = levelSubstantial

	defaultIDTokenLifetime = 5 * time.Minute
)

// Levels returns the levels a user may choose at login, weakest first
// (BundID's STORK-QAA levels). It returns a new slice on every call so
// callers cannot change what the login page offers.
func Levels() []Level {
	return []Level{
		{Value: levelBasic, Label: "Basis (Benutzername und Passwort) / basic"},
		{Value: levelSubstantial, Label: "Substanziell (ELSTER-Zertifikat) / substantial"},
		{Value: levelHigh, Label: "Hoch (Online-Ausweis) / high"},
	}
}

func isLevel(v string) bool {
	for _, l := range Levels() {
		if l.Value == v {
			return true
		}
	}
	return false
}

// Config configures the identity provider and its single client.
type Config struct {
	// Issuer is the absolute URL of the provider including its path, e.g.
	// http://127.0.0.1:8080/dev/idp, without a trailing slash. It appears
	// verbatim as "iss" and in discovery, so the relying party must use the
	// very same string.
	Issuer                 string
	ClientID, ClientSecret string
	// RedirectURIs are matched exactly.
	RedirectURIs           []string
	PostLogoutRedirectURIs []string
	Users                  []User
	// Stylesheet is the optional URL of a stylesheet the login page links
	// (e.g. /static/kern/kern.min.css).
	Stylesheet string
	// IDTokenLifetime is the lifetime of ID tokens and access tokens;
	// default 5 min.
	IDTokenLifetime time.Duration
	// Now is the IdP's clock; default time.Now. It governs auth_time and
	// the expiry of login requests, authorization codes and access tokens.
	// The iat and exp of ID tokens come from the op library's wall clock.
	Now func() time.Time
	// Log receives the provider's own logs (default: discarded).
	Log *slog.Logger
}

// Validate reports every problem with c at once, so a broken dev setup is
// fixed in one go.
func (c Config) Validate() error {
	var errs []error
	if err := validateIssuer(c.Issuer); err != nil {
		errs = append(errs, err)
	}
	if c.ClientID == "" {
		errs = append(errs, errors.New("client id must not be empty"))
	}
	if c.ClientSecret == "" {
		errs = append(errs, errors.New("client secret must not be empty"))
	}
	if len(c.RedirectURIs) == 0 {
		errs = append(errs, errors.New("at least one redirect URI is required"))
	}
	for _, u := range c.RedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, fmt.Errorf("redirect URI %q: %w", u, err))
		}
	}
	for _, u := range c.PostLogoutRedirectURIs {
		if err := validateRedirectURI(u); err != nil {
			errs = append(errs, fmt.Errorf("post logout redirect URI %q: %w", u, err))
		}
	}
	if len(c.Users) == 0 {
		errs = append(errs, errors.New("at least one user is required"))
	}
	seen := make(map[string]bool, len(c.Users))
	for i, u := range c.Users {
		switch {
		case u.ID == "":
			errs = append(errs, fmt.Errorf("user %d: id must not be empty", i))
		case strings.Contains(u.ID, ":"):
			// The op library encodes opaque access tokens as
			// "<token id>:<subject>" and rejects tokens with a second colon.
			errs = append(errs, fmt.Errorf("user %q: id must not contain ':'", u.ID))
		case seen[u.ID]:
			errs = append(errs, fmt.Errorf("user %q: duplicate id", u.ID))
		}
		seen[u.ID] = true
	}
	if c.Stylesheet != "" {
		if err := validateStylesheet(c.Stylesheet); err != nil {
			errs = append(errs, fmt.Errorf("stylesheet %q: %w", c.Stylesheet, err))
		}
	}
	if c.IDTokenLifetime < 0 {
		errs = append(errs, fmt.Errorf("id token lifetime %v must not be negative", c.IDTokenLifetime))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("devidp: invalid config: %w", err)
	}
	return nil
}

func validateIssuer(issuer string) error {
	u, err := url.Parse(issuer)
	if err != nil {
		return fmt.Errorf("issuer %q: %w", issuer, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return fmt.Errorf("issuer %q must be an absolute http(s) URL", issuer)
	case u.Host == "":
		return fmt.Errorf("issuer %q has no host", issuer)
	case u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.ForceQuery:
		// OpenID Connect Discovery 1.0, section 3: no query or fragment.
		return fmt.Errorf("issuer %q must not contain user info, query or fragment", issuer)
	case strings.HasSuffix(u.Path, "/"):
		// Relying parties compare iss byte for byte; a trailing slash
		// would also yield endpoint URLs with a double slash.
		return fmt.Errorf("issuer %q must not end with a slash", issuer)
	}
	return nil
}

func validateRedirectURI(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("must be an absolute http(s) URL")
	}
	if u.Fragment != "" {
		// RFC 6749, section 3.1.2.
		return errors.New("must not contain a fragment")
	}
	return nil
}

func validateStylesheet(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.IsAbs() && u.Scheme != "http" && u.Scheme != "https" {
		return errors.New("must be a relative or http(s) URL")
	}
	return nil
}

// IdP is the dev identity provider. It is safe for concurrent use.
type IdP struct {
	issuer string
	// issuerPath is the issuer's path as the router sees it, issuerURLPath
	// the same path escaped for use in URLs.
	issuerPath    string
	issuerURLPath string
	users         []User
	stylesheet    string
	store         *storage
	provider      *op.Provider
	pages         *template.Template
	log           *slog.Logger
	csp           string
	handler       http.Handler
}

// New validates c and builds the provider. Keys are generated per call and
// live only in memory: every restart of dev mode invalidates all tokens,
// which is what a dev IdP wants.
func New(c Config) (*IdP, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.IDTokenLifetime == 0 {
		c.IDTokenLifetime = defaultIDTokenLifetime
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	issuerURL, err := url.Parse(c.Issuer)
	if err != nil {
		return nil, fmt.Errorf("devidp: parse issuer: %w", err)
	}

	signing, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("devidp: generate signing key: %w", err)
	}
	kid := rand.Text()
	var cryptoKey [32]byte
	if _, err := rand.Read(cryptoKey[:]); err != nil {
		return nil, fmt.Errorf("devidp: generate op crypto key: %w", err)
	}

	p := &IdP{
		issuer:        c.Issuer,
		issuerPath:    issuerURL.Path,
		issuerURLPath: issuerURL.EscapedPath(),
		users:         append([]User(nil), c.Users...),
		stylesheet:    c.Stylesheet,
		log:           c.Log,
	}
	if p.log == nil {
		p.log = slog.New(slog.DiscardHandler)
	}
	cl := &client{
		id:                     c.ClientID,
		secret:                 c.ClientSecret,
		redirectURIs:           append([]string(nil), c.RedirectURIs...),
		postLogoutRedirectURIs: append([]string(nil), c.PostLogoutRedirectURIs...),
		loginPath:              p.issuerURLPath + loginPath,
		idTokenLifetime:        c.IDTokenLifetime,
	}
	p.store = newStorage(cl, c.Users, signing, kid, c.Now, c.IDTokenLifetime)

	p.provider, err = op.NewProvider(&op.Config{
		CryptoKey:   cryptoKey,
		CryptoKeyId: kid,
		// Without a post_logout_redirect_uri the browser lands on our own
		// page instead of an empty redirect.
		DefaultLogoutRedirectURI: c.Issuer + loggedOutPath,
		CodeMethodS256:           true,
		// The client authenticates with client_secret_basic; the op accepts
		// the secret in the body for it as well, so advertise that honestly.
		AuthMethodPost:  true,
		SupportedScopes: []string{"openid", "profile", "email"},
	}, p.store, op.StaticIssuer(c.Issuer), op.WithAllowInsecure(), op.WithLogger(p.log))
	if err != nil {
		return nil, fmt.Errorf("devidp: create op provider: %w", err)
	}

	p.pages, err = template.New("pages").Parse(pagesTemplate)
	if err != nil {
		return nil, fmt.Errorf("devidp: parse page templates: %w", err)
	}
	p.csp = contentSecurityPolicy(c.RedirectURIs, c.Stylesheet)
	p.handler = p.routes()
	return p, nil
}

// Handler serves every path under the issuer's path. Mount it at that path
// with a trailing slash, e.g. mux.Handle("/dev/idp/", p.Handler()).
func (p *IdP) Handler() http.Handler { return p.handler }

const (
	loginPath     = "/login"
	loggedOutPath = "/logged-out"
)

func (p *IdP) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+loginPath, p.loginPage)
	mux.HandleFunc("POST "+loginPath, p.loginSubmit)
	mux.HandleFunc("GET "+loggedOutPath, p.loggedOutPage)
	mux.Handle("/", p.provider)

	var h http.Handler = mux
	if p.issuerPath != "" {
		// The op routes on paths relative to the issuer ("/authorize",
		// "/.well-known/openid-configuration"), while its discovery
		// document already contains the absolute URLs under the issuer.
		h = http.StripPrefix(p.issuerPath, h)
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// RFC 6749, section 5.1 demands no-store for token responses, which
		// the op does not set; nothing else here benefits from caching
		// either, since keys and codes change with every start.
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		h.ServeHTTP(w, r)
	})
}

// contentSecurityPolicy allows exactly what the login page needs. The
// form-action list includes the redirect URIs' origins because browsers
// apply form-action to the redirects that follow the login POST, and the
// last of them goes to the relying party.
func contentSecurityPolicy(redirectURIs []string, stylesheet string) string {
	formAction := []string{"'self'"}
	for _, raw := range redirectURIs {
		formAction = appendOrigin(formAction, raw)
	}
	styles := []string{"'self'"}
	if stylesheet != "" {
		styles = appendOrigin(styles, stylesheet)
	}
	return strings.Join([]string{
		"default-src 'none'",
		"style-src " + strings.Join(styles, " "),
		"font-src " + strings.Join(styles, " "),
		"img-src 'self' data:",
		"form-action " + strings.Join(formAction, " "),
		"frame-ancestors 'none'",
		"base-uri 'none'",
	}, "; ")
}

func appendOrigin(sources []string, raw string) []string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return sources
	}
	origin := u.Scheme + "://" + u.Host
	for _, s := range sources {
		if s == origin {
			return sources
		}
	}
	return append(sources, origin)
}
