// Package portal is the citizen portal: server-rendered pages in German
// and English where a citizen logs in with OpenID Connect, reads the
// proposals and messages of their Postkorb, decides, manages consents,
// sees every transfer of their data and exports it. It works without
// JavaScript. Sessions live on the server (Postgres in production); every
// state-changing request must come from the portal's own origin.
package portal

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/alexedwards/scs/v2"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/texts"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Proposals reads the citizen's proposals.
type Proposals interface {
	ListForCitizen(ctx context.Context, citizenID string, status proposals.Status) ([]proposals.Proposal, error)
	GetForCitizen(ctx context.Context, citizenID, id string) (proposals.Proposal, error)
}

// Messages is the citizen's inbox.
type Messages interface {
	ListForCitizen(ctx context.Context, citizenID string) ([]inbox.Message, error)
	MarkOpened(ctx context.Context, citizenID string, ids []string) (int, error)
}

// Consents is the citizen's side of the consent records.
type Consents interface {
	List(ctx context.Context, citizenID string) ([]consent.Consent, error)
	Give(ctx context.Context, citizenID string, r consent.Request) (consent.Consent, []consent.Withdrawn, error)
	Withdraw(ctx context.Context, citizenID, id, method string) (consent.Consent, []consent.Withdrawn, error)
	Receipt(ctx context.Context, citizenID, id string) (consent.Receipt, error)
	Transfers(ctx context.Context, citizenID string) ([]consent.Record, error)
	OffersAllowed(ctx context.Context, citizenID string, optIn bool) (bool, error)
}

// Decisions delivers a citizen's decision to the proposal's journey and
// tells journeys about proposals a withdrawal took back.
type Decisions interface {
	// Decide refuses with proposals.ErrNotPending, proposals.ErrNotFound
	// and *proposals.AnswerError.
	Decide(ctx context.Context, citizenID, proposalID string, decision proposals.Decision, answers map[string]string) (proposals.Status, error)
	ProposalsWithdrawn(ctx context.Context, ws []consent.Withdrawn) error
}

// Services names services in a language and says which a standing
// consent can apply for (the policy catalog).
type Services interface {
	ServiceName(lang texts.Lang, id string) string
	AppliesAutomatically(id string) bool
}

// Contacts keeps the address notifications go to, from the provider's
// claims at login, with the language the citizen reads.
type Contacts interface {
	Set(ctx context.Context, citizenID, email string, lang texts.Lang) error
}

// Deps are what the portal serves from.
type Deps struct {
	Proposals Proposals
	Messages  Messages
	Consents  Consents
	Decisions Decisions
	Services  Services
	// Contacts is optional: without it, no address is kept.
	Contacts Contacts
	Sessions scs.Store
	Texts    *texts.Catalog
	// HTTPClient reaches the identity provider (default: 10 s timeout).
	HTTPClient *http.Client
	Log        *slog.Logger
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// Route is one page or action of the portal and who may use it.
type Route struct {
	Method, Path string
	// Citizen routes need a logged-in session; the others are public.
	Citizen bool
	Summary string
}

// Portal serves the pages.
type Portal struct {
	cfg      Config
	d        Deps
	sessions *scs.SessionManager
	pages    map[string]*template.Template
	mux      *http.ServeMux
	routes   []Route
	handler  http.Handler
	// berlin is the zone pages show times in.
	berlin *time.Location

	mu  sync.Mutex
	idp *oidcProvider
}

// New builds the portal on a validated config.
func New(cfg Config, d Deps) (*Portal, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.Texts == nil || d.Sessions == nil || d.Proposals == nil || d.Messages == nil || d.Consents == nil || d.Decisions == nil || d.Services == nil {
		return nil, errors.New("portal: texts, sessions, proposals, messages, consents, decisions and services are required")
	}
	if d.HTTPClient == nil {
		d.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	if d.Log == nil {
		d.Log = slog.New(slog.DiscardHandler)
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	p := &Portal{cfg: cfg, d: d, mux: http.NewServeMux(), berlin: loadBerlin()}
	sm := scs.New()
	sm.Store = d.Sessions
	sm.Lifetime = cfg.Lifetime
	sm.IdleTimeout = cfg.IdleTimeout
	sm.Cookie.Name = "lifeevents_session"
	if cfg.Secure() {
		// The __Host- prefix makes browsers refuse the cookie from any
		// subdomain or path, so no neighbour can plant a session.
		sm.Cookie.Name = "__Host-lifeevents_session"
	}
	sm.Cookie.HttpOnly = true
	sm.Cookie.Secure = cfg.Secure()
	sm.Cookie.Path = "/"
	// Lax, not Strict: the provider's redirect back to /auth/callback is a
	// cross-site navigation that must carry the pending login.
	sm.Cookie.SameSite = http.SameSiteLaxMode
	sm.Cookie.Persist = false
	sm.ErrorFunc = func(w http.ResponseWriter, r *http.Request, err error) {
		p.d.Log.ErrorContext(r.Context(), "session store failed", "error", err)
		// No session was loaded: a page that needs none.
		v := &view{p: p, Path: r.URL.Path, Lang: p.lang(w, r)}
		p.renderErrorView(w, r, v, http.StatusInternalServerError, "error.internal")
	}
	p.sessions = sm
	if err := p.parseTemplates(); err != nil {
		return nil, err
	}
	p.register()
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.renderError(w, r, http.StatusForbidden, "error.cross_origin")
	}))
	// The refusal page of a cross-origin request shows the reader's
	// session like any other page, so the check runs inside it.
	p.handler = sm.LoadAndSave(cop.Handler(p.mux))
	return p, nil
}

// Routes lists the portal's routes.
func (p *Portal) Routes() []Route { return append([]Route(nil), p.routes...) }

// ServeHTTP serves every portal route: sessions loaded and saved, and any
// cross-origin POST refused before a handler sees it.
func (p *Portal) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.handler.ServeHTTP(w, r) }

// FormActions are the origins a form of the portal may end up at: its own
// and the provider's, where logging out continues.
func (p *Portal) FormActions() []string {
	u, err := url.Parse(p.cfg.Issuer)
	if err != nil {
		return nil
	}
	return []string{u.Scheme + "://" + u.Host}
}

type handler func(w http.ResponseWriter, r *http.Request, v *view)

func (p *Portal) register() {
	p.public("GET /{$}", "start page, or the Postkorb once logged in", p.home)
	p.public("GET /static/{path...}", "style sheets and fonts", p.static)
	p.public("GET /login", "log in at the identity provider", p.login)
	p.public("GET /auth/callback", "where the identity provider returns", p.callback)
	p.public("POST /logout", "log out, also at the provider", p.logout)
	p.citizen("GET /proposals/{id}", "a proposal's preview", p.proposal)
	p.citizen("GET /proposals/{id}/check", "check your answers before accepting", p.check)
	p.citizen("POST /proposals/{id}/decision", "accept or decline", p.decide)
	p.citizen("GET /proposals/{id}/done", "the confirmation", p.done)
	p.citizen("GET /consents", "your consents", p.consents)
	p.citizen("POST /consents", "give a standing consent", p.giveConsent)
	p.citizen("POST /consents/{id}/withdraw", "withdraw a consent", p.withdraw)
	p.citizen("GET /consents/{id}/receipt", "a consent's receipt (JSON)", p.receipt)
	p.citizen("GET /transfers", "every transfer of your data", p.transfers)
	p.citizen("GET /data", "your data and proactive offers", p.data)
	p.citizen("GET /data/export", "everything held about you (JSON)", p.export)
	p.citizen("POST /data/offers", "switch proactive offers on or off", p.offers)
}

func (p *Portal) public(pattern, summary string, h handler) {
	p.add(pattern, summary, false, func(w http.ResponseWriter, r *http.Request) { h(w, r, p.newView(w, r)) })
}

// citizen routes need a session; ids in the path are checked before any
// store sees them.
func (p *Portal) citizen(pattern, summary string, h handler) {
	p.add(pattern, summary, true, func(w http.ResponseWriter, r *http.Request) {
		v := p.newView(w, r)
		if v.Citizen == "" {
			p.renderError(w, r, http.StatusUnauthorized, "error.unauthenticated")
			return
		}
		if v.level < p.cfg.ReadLevel {
			p.renderError(w, r, http.StatusForbidden, "error.level_read")
			return
		}
		if r.Method == http.MethodPost && v.level < p.cfg.ActLevel {
			p.renderError(w, r, http.StatusForbidden, "error.level_act")
			return
		}
		if id := r.PathValue("id"); strings.Contains(pattern, "{id}") && !validID(id) {
			p.renderError(w, r, http.StatusNotFound, "error.not_found")
			return
		}
		w.Header().Set("Cache-Control", "no-store")
		h(w, r, v)
	})
}

func (p *Portal) add(pattern, summary string, citizen bool, h http.HandlerFunc) {
	method, pth, _ := strings.Cut(pattern, " ")
	p.routes = append(p.routes, Route{Method: method, Path: pth, Citizen: citizen, Summary: summary})
	p.mux.HandleFunc(pattern, h)
}

func validID(s string) bool {
	if s == "" || len(s) > 128 {
		return false
	}
	for _, r := range s {
		if !(r == '-' || r == '_' || r == '.' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return false
		}
	}
	return true
}

// static serves the vendored KERN UX styles and fonts and the portal's
// own style sheet.
func (p *Portal) static(w http.ResponseWriter, r *http.Request, _ *view) {
	name := path.Clean("static/" + r.PathValue("path"))
	types := map[string]string{".css": "text/css; charset=utf-8", ".woff2": "font/woff2", ".md": "text/markdown; charset=utf-8"}
	ct, ok := types[path.Ext(name)]
	b, err := fs.ReadFile(staticFS, name)
	if !ok || err != nil || !strings.HasPrefix(name, "static/") {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "public, max-age=86400")
	_, _ = w.Write(b)
}

// view is what every page knows: the reader's language, who is logged in.
type view struct {
	Lang    texts.Lang
	Citizen string
	Name    string
	// Path is the page's own path, for the language switch.
	Path  string
	Title string
	level Level
	p     *Portal
}

func (p *Portal) newView(w http.ResponseWriter, r *http.Request) *view {
	v := &view{p: p, Path: r.URL.Path, Lang: p.lang(w, r)}
	ctx := r.Context()
	v.Citizen = p.sessions.GetString(ctx, keyCitizen)
	v.Name = p.sessions.GetString(ctx, keyName)
	v.level = Level(p.sessions.GetInt(ctx, keyLevel))
	return v
}

// lang is the reader's language: ?lang= (remembered in a cookie), the
// cookie, the browser's Accept-Language, German.
func (p *Portal) lang(w http.ResponseWriter, r *http.Request) texts.Lang {
	if q := r.URL.Query().Get("lang"); q != "" {
		if l, ok := texts.ParseLang(q); ok {
			http.SetCookie(w, &http.Cookie{Name: "lang", Value: string(l), Path: "/", MaxAge: 365 * 24 * 3600,
				HttpOnly: true, Secure: p.cfg.Secure(), SameSite: http.SameSiteLaxMode})
			return l
		}
	}
	if c, err := r.Cookie("lang"); err == nil {
		if l, ok := texts.ParseLang(c.Value); ok {
			return l
		}
	}
	return texts.FromAcceptLanguage(r.Header.Get("Accept-Language"))
}

// T renders a text of the catalogs in the page's language.
func (v *view) T(key string, args ...any) string {
	var data map[string]any
	if len(args) > 0 {
		data = map[string]any{}
		for i := 0; i+1 < len(args); i += 2 {
			data[fmt.Sprint(args[i])] = args[i+1]
		}
	}
	return v.p.d.Texts.T(v.Lang, key, data)
}

// Other is the language the switch offers.
func (v *view) Other() texts.Lang {
	if v.Lang == texts.English {
		return texts.German
	}
	return texts.English
}

// Date and DateTime format times for the reader, in German time.
func (v *view) Date(t time.Time) string { return texts.Date(v.Lang, t.In(v.p.berlin)) }

// DateTime formats a moment for the reader, in German time.
func (v *view) DateTime(t time.Time) string { return texts.DateTime(v.Lang, t.In(v.p.berlin)) }

// loadBerlin is German time, which pages show; UTC where the system has no
// zone data.
func loadBerlin() *time.Location {
	l, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		return time.UTC
	}
	return l
}

// Service names a service in the reader's language.
func (v *view) Service(id string) string {
	if n := v.p.d.Services.ServiceName(v.Lang, id); n != "" {
		return n
	}
	return id
}

// Field names a field of a preview for the reader.
func (v *view) Field(name string) string { return v.p.d.Texts.Or(v.Lang, "field."+name, name) }

// Purpose is a service's purpose for the reader: the catalogs' text for
// the services this build knows, the policy catalog's otherwise.
func (v *view) Purpose(service, stored string) string {
	return v.p.d.Texts.Or(v.Lang, "purpose."+service, stored)
}

// Status names a proposal's status; Badge is its KERN badge colour.
func (v *view) Status(s proposals.Status) string { return v.T("status." + string(s)) }

// Badge is the KERN badge variant of a status.
func (v *view) Badge(s proposals.Status) string {
	switch s {
	case proposals.StatusPending:
		return "warning"
	case proposals.StatusAccepted, proposals.StatusSubmitted, proposals.StatusGranted:
		return "success"
	case proposals.StatusRejected, proposals.StatusFailed:
		return "danger"
	}
	return "info"
}

// Shown is a preview field's value, or what happens to an asked one.
func (v *view) Shown(f proposals.Field) string {
	if f.Ask != "" && f.Value == nil {
		return v.T("proposal.asked")
	}
	return v.Value(f.Value)
}

// Value shows a field's value: lists joined, objects as their values.
func (v *view) Value(x any) string {
	switch t := x.(type) {
	case nil:
		return "–"
	case string:
		return t
	case []any:
		var parts []string
		for _, e := range t {
			parts = append(parts, v.Value(e))
		}
		return strings.Join(parts, "; ")
	case map[string]any:
		var parts []string
		for _, k := range sortedKeys(t) {
			parts = append(parts, v.Value(t[k]))
		}
		return strings.Join(parts, ", ")
	case float64:
		if t == float64(int64(t)) {
			return fmt.Sprint(int64(t))
		}
	case bool:
		if t {
			return v.T("common.yes")
		}
		return v.T("common.no")
	}
	return fmt.Sprint(x)
}

func (p *Portal) parseTemplates() error {
	layout, err := templateFS.ReadFile("templates/layout.html")
	if err != nil {
		return fmt.Errorf("portal: layout: %w", err)
	}
	partials, err := templateFS.ReadFile("templates/partials.html")
	if err != nil {
		return fmt.Errorf("portal: partials: %w", err)
	}
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return fmt.Errorf("portal: templates: %w", err)
	}
	p.pages = map[string]*template.Template{}
	for _, n := range names {
		if n == "templates/layout.html" || n == "templates/partials.html" {
			continue
		}
		body, err := templateFS.ReadFile(n)
		if err != nil {
			return fmt.Errorf("portal: template %s: %w", n, err)
		}
		t, err := template.New("layout").Parse(string(layout))
		if err == nil {
			_, err = t.Parse(string(partials))
		}
		if err == nil {
			_, err = t.Parse(string(body))
		}
		if err != nil {
			return fmt.Errorf("portal: template %s: %w", n, err)
		}
		p.pages[strings.TrimSuffix(path.Base(n), ".html")] = t
	}
	return nil
}

// render writes a page; data is what the page's template reads as .Data.
func (p *Portal) render(w http.ResponseWriter, r *http.Request, v *view, code int, page, titleKey string, data any) bool {
	t, ok := p.pages[page]
	if !ok {
		p.d.Log.ErrorContext(r.Context(), "no such page template", "page", page)
		code, t = http.StatusInternalServerError, p.pages["error"]
	}
	v.Title = v.T(titleKey)
	var b strings.Builder
	if err := t.Execute(&b, struct {
		*view
		Data any
	}{v, data}); err != nil {
		p.d.Log.ErrorContext(r.Context(), "page failed to render", "page", page, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return false
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Language", string(v.Lang))
	w.WriteHeader(code)
	_, _ = w.Write([]byte(b.String()))
	return code < 400
}

type errorPage struct {
	Code               int
	Heading, Text      string
	Login, BackToStart bool
}

// renderError writes the page for a refusal or failure in the reader's
// language; key names its heading and text (key+".title", key+".text").
func (p *Portal) renderError(w http.ResponseWriter, r *http.Request, code int, key string) {
	p.renderErrorView(w, r, p.newView(w, r), code, key)
}

func (p *Portal) renderErrorView(w http.ResponseWriter, r *http.Request, v *view, code int, key string) {
	w.Header().Set("Cache-Control", "no-store")
	p.render(w, r, v, code, "error", key+".title", errorPage{
		Code: code, Heading: v.T(key + ".title"), Text: v.T(key + ".text"),
		Login: code == http.StatusUnauthorized || key == "error.level_act" || key == "error.login",
	})
}

// internal logs what went wrong (never whose request it was) and shows a
// page that says nothing about it.
func (p *Portal) internal(w http.ResponseWriter, r *http.Request, err error) {
	p.d.Log.ErrorContext(r.Context(), "portal request failed", "method", r.Method, "route", r.Pattern, "error", err)
	p.renderError(w, r, http.StatusInternalServerError, "error.internal")
}
