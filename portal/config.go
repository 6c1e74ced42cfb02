package portal

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// Level is a trust level (Vertrauensniveau) of a login, ordered: a higher
// level satisfies every lower one.
type Level int

// The levels of BundID (STORK-QAA) and eIDAS.
const (
	LevelNone        Level = 0
	LevelBasic       Level = 1 // user name and password
	LevelSubstantial Level = 3 // ELSTER certificate, Smart-eID
	LevelHigh        Level = 4 // eID card
)

// ParseLevel reads a level claim: BundID's "STORK-QAA-Level-1|3|4" (2 is
// read as basic), eIDAS' ".../LoA/low|substantial|high" or the plain
// words. Anything else is LevelNone, which satisfies nothing.
func ParseLevel(s string) Level {
	s = strings.ToLower(strings.TrimSpace(s))
	switch {
	case s == "stork-qaa-level-1" || s == "stork-qaa-level-2" || s == "basic" || s == "low" || strings.HasSuffix(s, "/loa/low"):
		return LevelBasic
	case s == "stork-qaa-level-3" || s == "substantial" || strings.HasSuffix(s, "/loa/substantial"):
		return LevelSubstantial
	case s == "stork-qaa-level-4" || s == "high" || strings.HasSuffix(s, "/loa/high"):
		return LevelHigh
	}
	return LevelNone
}

// String is the level's plain name, as settings spell it.
func (l Level) String() string {
	switch l {
	case LevelBasic:
		return "basic"
	case LevelSubstantial:
		return "substantial"
	case LevelHigh:
		return "high"
	}
	return "none"
}

// Config is the portal's login and session settings.
type Config struct {
	// Issuer is the OpenID Connect provider (LIFEEVENTS_OIDC_ISSUER).
	Issuer       string
	ClientID     string
	ClientSecret string
	// PublicURL is where citizens reach the portal; the redirect URI is
	// PublicURL + "/auth/callback". An https URL makes the session cookie
	// Secure; plain http is accepted on loopback only.
	PublicURL string
	// CitizenClaim carries the citizen id (default "sub"), LevelClaim the
	// trust level (default "acr"), EmailClaim the address notifications go
	// to (default "email").
	CitizenClaim, LevelClaim, EmailClaim string
	// ReadLevel is the least level that may read (default basic);
	// ActLevel the least that may decide, consent and withdraw (default
	// substantial).
	ReadLevel, ActLevel Level
	// IdleTimeout ends a session nobody used for so long (default 30
	// minutes); Lifetime ends any session (default 2 hours): the limits
	// of a substantial login.
	IdleTimeout, Lifetime time.Duration
	// OffersOptIn: the district asks for consent to offers instead of
	// honouring an objection.
	OffersOptIn bool
}

// WithDefaults fills what is not set.
func (c Config) WithDefaults() Config {
	if c.CitizenClaim == "" {
		c.CitizenClaim = "sub"
	}
	if c.LevelClaim == "" {
		c.LevelClaim = "acr"
	}
	if c.EmailClaim == "" {
		c.EmailClaim = "email"
	}
	if c.ReadLevel == LevelNone {
		c.ReadLevel = LevelBasic
	}
	if c.ActLevel == LevelNone {
		c.ActLevel = LevelSubstantial
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = 30 * time.Minute
	}
	if c.Lifetime == 0 {
		c.Lifetime = 2 * time.Hour
	}
	c.PublicURL = strings.TrimSuffix(c.PublicURL, "/")
	c.Issuer = strings.TrimSuffix(c.Issuer, "/")
	return c
}

// ErrNotConfigured is a portal without an identity provider: the binary
// serves the API alone.
var ErrNotConfigured = errors.New("portal: LIFEEVENTS_OIDC_ISSUER is not set")

// Validate names the first setting that is wrong and how to fix it.
func (c Config) Validate() error {
	if c.Issuer == "" {
		return ErrNotConfigured
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return fmt.Errorf("portal: LIFEEVENTS_OIDC_ISSUER %q must be an https URL (http only on loopback)", c.Issuer)
	}
	if c.ClientID == "" || c.ClientSecret == "" {
		return errors.New("portal: LIFEEVENTS_OIDC_CLIENT_ID and LIFEEVENTS_OIDC_CLIENT_SECRET must be set with LIFEEVENTS_OIDC_ISSUER")
	}
	u, err := url.Parse(c.PublicURL)
	if err != nil || u.Host == "" || u.Path != "" || (u.Scheme != "https" && !(u.Scheme == "http" && loopback(u.Hostname()))) {
		return fmt.Errorf("portal: LIFEEVENTS_PUBLIC_URL %q must be the portal's https origin, e.g. https://portal.example.de (http only on loopback)", c.PublicURL)
	}
	if c.ActLevel < c.ReadLevel {
		return errors.New("portal: the level to act must not be below the level to read")
	}
	if c.IdleTimeout <= 0 || c.Lifetime < c.IdleTimeout {
		return errors.New("portal: the session lifetime must be at least its idle timeout, both positive")
	}
	return nil
}

// Secure reports whether cookies must be Secure: always but on loopback
// http, where browsers and test clients would drop them.
func (c Config) Secure() bool { return strings.HasPrefix(c.PublicURL, "https://") }

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
