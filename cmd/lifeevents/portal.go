package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/alexedwards/scs/pgxstore"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/devidp"
	"github.com/lifeevents/lifeevents/notify"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/texts"
	"github.com/lifeevents/lifeevents/workflows"
)

// portalFlags binds the portal's login settings of `serve`.
func portalFlags(f *pflag.FlagSet, c *portal.Config) {
	f.StringVar(&c.Issuer, "oidc-issuer", "", "OpenID Connect provider of the citizen portal (none: API only)")
	f.StringVar(&c.ClientID, "oidc-client-id", "", "the portal's client id at the provider")
	f.StringVar(&c.ClientSecret, "oidc-client-secret", "", "the portal's client secret")
	f.StringVar(&c.PublicURL, "public-url", "", "where citizens reach the portal, e.g. https://portal.example.de")
	f.StringVar(&c.CitizenClaim, "oidc-citizen-claim", "sub", "ID-token claim with the citizen id")
	f.StringVar(&c.LevelClaim, "oidc-level-claim", "acr", "ID-token claim with the trust level (STORK-QAA-Level-1/3/4 or eIDAS LoA)")
	bindEnv(f, "oidc-issuer", "LIFEEVENTS_OIDC_ISSUER")
	bindEnv(f, "oidc-client-id", "LIFEEVENTS_OIDC_CLIENT_ID")
	bindEnv(f, "oidc-client-secret", "LIFEEVENTS_OIDC_CLIENT_SECRET")
	bindEnv(f, "public-url", "LIFEEVENTS_PUBLIC_URL")
	bindEnv(f, "oidc-citizen-claim", "LIFEEVENTS_OIDC_CITIZEN_CLAIM")
	bindEnv(f, "oidc-level-claim", "LIFEEVENTS_OIDC_LEVEL_CLAIM")
}

// newPortal builds the citizen portal on this process's stores. Its
// sessions live in Postgres, so any serve process can continue them.
func (a *app) newPortal(cfg portal.Config) (*portal.Portal, error) {
	catalog, err := texts.New()
	if err != nil {
		return nil, err
	}
	cfg.OffersOptIn = a.offersOptIn
	sessions := pgxstore.NewWithCleanupInterval(a.pool, 5*time.Minute)
	a.onStop(sessions.StopCleanup)
	return portal.New(cfg, portal.Deps{
		Proposals: proposals.NewPGStore(a.pool),
		Messages:  inbox.NewPGStore(a.pool),
		Consents:  a.consents(),
		Decisions: workflows.Journeys{Client: a.tc},
		Services:  a.engine,
		Contacts:  notify.NewContacts(a.pool),
		Sessions:  sessions,
		Texts:     catalog,
		Log:       a.log.With("component", "portal"),
	})
}

// devPortal is dev mode's portal: the built-in identity provider with the
// registers' first citizens, and the portal logging in there through the
// same code as against any provider.
func (a *app) devPortal(ctx context.Context, publicURL string) (*portal.Portal, *devidp.IdP, error) {
	data, err := registries.NewPG(a.pool).Dump(ctx)
	if err != nil {
		return nil, nil, err
	}
	var users []devidp.User
	for _, c := range data.Citizens {
		if len(users) == 50 { // a login page, not a register
			break
		}
		users = append(users, devidp.User{ID: c.CitizenID, Name: c.Name, Email: c.CitizenID + "@example.org"})
	}
	secret := make([]byte, 24)
	_, _ = rand.Read(secret)
	cfg := portal.Config{
		Issuer: publicURL + "/dev/idp", ClientID: "lifeevents-portal", ClientSecret: hex.EncodeToString(secret),
		PublicURL: publicURL, LevelClaim: "acr",
	}
	idp, err := devidp.New(devidp.Config{
		Issuer: cfg.Issuer, ClientID: cfg.ClientID, ClientSecret: cfg.ClientSecret,
		RedirectURIs: []string{publicURL + "/auth/callback"}, PostLogoutRedirectURIs: []string{publicURL + "/"},
		Users: users, Stylesheet: "/static/kern/kern.min.css", Log: a.log.With("component", "dev-idp"),
	})
	if err != nil {
		return nil, nil, fmt.Errorf("dev identity provider: %w", err)
	}
	p, err := a.newPortal(cfg)
	if err != nil {
		return nil, nil, err
	}
	return p, idp, nil
}

// startNotifier e-mails citizens about waiting messages, in the worker
// process (any number of them: messages are locked while they are sent).
func (a *app) startNotifier(cfg notify.Config) error {
	catalog, err := texts.New()
	if err != nil {
		return err
	}
	n := &notify.Notifier{DB: a.pool, Sender: notify.NewSMTP(cfg), Texts: catalog, Config: cfg,
		Log: a.log.With("component", "notify")}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); n.Run(ctx) }()
	a.onStop(func() { cancel(); <-done })
	return nil
}
