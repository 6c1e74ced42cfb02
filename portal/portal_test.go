package portal_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alexedwards/scs/v2/memstore"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/devidp"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/texts"
)

// fakes: the stores' contracts are held by their own packages' tests
// against Postgres; here they only have to answer like them.

type store struct {
	mu        sync.Mutex
	proposals []proposals.Proposal
	messages  []inbox.Message
	consents  []consent.Consent
	transfers []consent.Record
	decided   map[string]string
	answers   map[string]map[string]string
	opened    map[string]bool
	objection bool
}

func newStore() *store {
	deadline := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	return &store{
		decided: map[string]string{}, opened: map[string]bool{}, answers: map[string]map[string]string{},
		proposals: []proposals.Proposal{
			{ID: "p-waste", CitizenID: "c-1001", Service: "waste_bins", Status: proposals.StatusPending,
				Recipient: proposals.Recipient{ID: "abfall", Name: "Abfallwirtschaft Landkreis"}, Purpose: "Abfallbehälter anmelden",
				Basis:    proposals.Basis{Kind: "consent"},
				Fields:   []proposals.Field{{Name: "newAddress", Value: "Lindenweg 4"}, {Name: "householdSize", Value: float64(2)}},
				Deadline: &deadline, CreatedAt: deadline.Add(-48 * time.Hour)},
			{ID: "p-child", CitizenID: "c-1001", Service: "child_benefit", Status: proposals.StatusPending,
				Recipient: proposals.Recipient{ID: "familienkasse", Name: "Familienkasse"}, Basis: proposals.Basis{Kind: "consent"},
				Fields: []proposals.Field{{Name: "childId", Value: "c-2001"}, {Name: "iban", Ask: proposals.AskIBAN}}, Deadline: &deadline},
			{ID: "p-other", CitizenID: "c-2002", Service: "waste_bins", Status: proposals.StatusPending,
				Recipient: proposals.Recipient{ID: "abfall", Name: "Abfallwirtschaft Landkreis"}, Basis: proposals.Basis{Kind: "consent"}},
		},
		messages: []inbox.Message{{ID: "m-1", CitizenID: "c-1001", Kind: "proposal", ProposalID: "p-waste", Key: "proposed",
			Args:      map[string]string{"service": "waste_bins", "recipient": "Abfallwirtschaft Landkreis", "deadline": deadline.Format(time.RFC3339)},
			CreatedAt: deadline.Add(-48 * time.Hour)}},
		consents: []consent.Consent{{ID: "k-1", CitizenID: "c-1001", Kind: consent.KindStanding, Purpose: "waste_bins",
			Recipient: "abfall", Status: consent.StatusActive, GivenAt: deadline.Add(-72 * time.Hour)}},
		transfers: []consent.Record{{ID: "t-1", CitizenID: "c-1001", Service: "waste_bins", At: deadline.Add(-24 * time.Hour),
			Recipient: "abfall", Purpose: "Abfallbehälter anmelden", BasisKind: "consent", Fields: []string{"newAddress"}}},
	}
}

func (s *store) ListForCitizen(_ context.Context, c string, _ proposals.Status) ([]proposals.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []proposals.Proposal
	for _, p := range s.proposals {
		if p.CitizenID == c {
			out = append(out, p)
		}
	}
	return out, nil
}

func (s *store) GetForCitizen(_ context.Context, c, id string) (proposals.Proposal, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.proposals {
		if p.CitizenID == c && p.ID == id {
			return p, nil
		}
	}
	return proposals.Proposal{}, proposals.ErrNotFound
}

type messages struct{ *store }

func (m messages) ListForCitizen(_ context.Context, c string) ([]inbox.Message, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []inbox.Message
	for _, x := range m.messages {
		if x.CitizenID == c {
			if m.opened[x.ID] {
				now := time.Now()
				x.OpenedAt = &now
			}
			out = append(out, x)
		}
	}
	return out, nil
}

func (m messages) MarkOpened(_ context.Context, c string, ids []string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, id := range ids {
		m.opened[id] = true
	}
	return len(ids), nil
}

type consents struct{ *store }

func (k consents) List(_ context.Context, c string) ([]consent.Consent, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []consent.Consent
	for _, x := range k.consents {
		if x.CitizenID == c {
			out = append(out, x)
		}
	}
	return out, nil
}

func (k consents) Give(_ context.Context, c string, r consent.Request) (consent.Consent, []consent.Withdrawn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if r.Kind == consent.KindObjection {
		k.objection = true
	}
	x := consent.Consent{ID: fmt.Sprintf("k-%d", len(k.consents)+1), CitizenID: c, Kind: r.Kind, Purpose: r.Purpose,
		Recipient: r.Recipient, Fields: r.Fields, Status: consent.StatusActive, GivenAt: time.Now()}
	k.consents = append(k.consents, x)
	return x, nil, nil
}

func (k consents) Withdraw(_ context.Context, c, id, _ string) (consent.Consent, []consent.Withdrawn, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	for i, x := range k.consents {
		if x.CitizenID == c && x.ID == id {
			if x.Status != consent.StatusActive {
				return x, nil, consent.ErrAlreadyWithdrawn
			}
			k.consents[i].Status = consent.StatusWithdrawn
			if x.Kind == consent.KindObjection {
				k.objection = false
			}
			return k.consents[i], nil, nil
		}
	}
	return consent.Consent{}, nil, consent.ErrNotFound
}

func (k consents) Receipt(ctx context.Context, c, id string) (consent.Receipt, error) {
	cs, _ := k.List(ctx, c)
	for _, x := range cs {
		if x.ID == id {
			return consent.Receipt{Consent: x, ContentHash: "sha256:x"}, nil
		}
	}
	return consent.Receipt{}, consent.ErrNotFound
}

func (k consents) Transfers(_ context.Context, c string) ([]consent.Record, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []consent.Record
	for _, x := range k.transfers {
		if x.CitizenID == c {
			out = append(out, x)
		}
	}
	return out, nil
}

func (k consents) OffersAllowed(_ context.Context, _ string, optIn bool) (bool, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !optIn && !k.objection, nil
}

type decisions struct{ *store }

func (d decisions) Decide(_ context.Context, c, id string, decision proposals.Decision, answers map[string]string) (proposals.Status, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, done := d.decided[id]; done {
		return "", proposals.ErrNotPending
	}
	d.decided[id] = string(decision)
	d.answers[id] = answers
	for i, p := range d.proposals {
		if p.ID == id && p.CitizenID == c {
			d.proposals[i].Status = map[string]proposals.Status{"accept": proposals.StatusAccepted, "decline": proposals.StatusDeclined}[string(decision)]
			return d.proposals[i].Status, nil
		}
	}
	return "", proposals.ErrNotFound
}

func (d decisions) ProposalsWithdrawn(context.Context, []consent.Withdrawn) error { return nil }

type services struct{}

func (services) AppliesAutomatically(id string) bool { return id == "waste_bins" }

func (services) ServiceName(l texts.Lang, id string) string {
	if id == "waste_bins" {
		return map[texts.Lang]string{texts.German: "Abfallbehälter anmelden", texts.English: "Waste bins"}[l]
	}
	return ""
}

// site is a portal and the dev identity provider on one test server, as
// in dev mode.
type site struct {
	*httptest.Server
	store  *store
	portal *portal.Portal
}

func newSite(t *testing.T, cfg func(*portal.Config)) *site {
	t.Helper()
	mux := http.NewServeMux()
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c := portal.Config{Issuer: srv.URL + "/dev/idp", ClientID: "portal", ClientSecret: "secret", PublicURL: srv.URL}
	if cfg != nil {
		cfg(&c)
	}
	idp, err := devidp.New(devidp.Config{Issuer: srv.URL + "/dev/idp", ClientID: "portal", ClientSecret: "secret",
		RedirectURIs: []string{srv.URL + "/auth/callback"}, PostLogoutRedirectURIs: []string{srv.URL + "/"},
		Users: []devidp.User{{ID: "c-1001", Name: "Erika Mustermann", Email: "erika@example.org"}, {ID: "c-2002", Name: "Jonas Beispiel"}}})
	if err != nil {
		t.Fatal(err)
	}
	return &site{Server: srv, store: mount(t, mux, idp.Handler(), c)}
}

func mount(t *testing.T, mux *http.ServeMux, idp http.Handler, c portal.Config) *store {
	t.Helper()
	if idp != nil {
		mux.Handle("/dev/idp/", idp)
	}
	return mountWith(t, mux, c, nil)
}

func mountWith(t *testing.T, mux *http.ServeMux, c portal.Config, client *http.Client) *store {
	t.Helper()
	st := newStore()
	catalog, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	p, err := portal.New(c, portal.Deps{Proposals: st, Messages: messages{st}, Consents: consents{st}, Decisions: decisions{st},
		Services: services{}, Sessions: memstore.New(), Texts: catalog, HTTPClient: client})
	if err != nil {
		t.Fatal(err)
	}
	mux.Handle("/", p)
	return st
}

// browser is an HTTP client with cookies that follows redirects.
type browser struct {
	t *testing.T
	*http.Client
	base string
}

func newBrowser(t *testing.T, base string) *browser {
	jar, _ := cookiejar.New(nil)
	return &browser{t: t, Client: &http.Client{Jar: jar, Timeout: 10 * time.Second}, base: base}
}

type page struct {
	code int
	body string
	url  string
}

func (b *browser) do(req *http.Request) page {
	b.t.Helper()
	res, err := b.Do(req)
	if err != nil {
		b.t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return page{code: res.StatusCode, body: string(body), url: res.Request.URL.String()}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest(http.MethodGet, b.abs(path), nil)
	return b.do(req)
}

// post submits a form as the portal's own pages do (same origin).
func (b *browser) post(path string, form url.Values) page {
	req, _ := http.NewRequest(http.MethodPost, b.abs(path), strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", b.base)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	return b.do(req)
}

func (b *browser) abs(p string) string {
	if strings.HasPrefix(p, "http") {
		return p
	}
	return b.base + p
}

func (b *browser) session() string {
	u, _ := url.Parse(b.base)
	for _, c := range b.Jar.Cookies(u) {
		if c.Name == "lifeevents_session" {
			return c.Value
		}
	}
	return ""
}

var actionRE = regexp.MustCompile(`<form method="post" action="([^"]+)"`)

// login goes through the provider's login page as a person would.
func (b *browser) login(user, level string) page {
	b.t.Helper()
	return b.loginAt("/login", user, level)
}

func (b *browser) loginAt(path, user, level string) page {
	b.t.Helper()
	pg := b.get(path)
	m := actionRE.FindStringSubmatch(pg.body)
	id := regexp.MustCompile(`name="authRequestID" value="([^"]+)"`).FindStringSubmatch(pg.body)
	if pg.code != 200 || m == nil || id == nil {
		b.t.Fatalf("no login page: %d %s", pg.code, pg.body)
	}
	action, _ := url.Parse(pg.url)
	target, _ := action.Parse(strings.ReplaceAll(m[1], "&amp;", "&"))
	return b.post(target.String(), url.Values{"authRequestID": {id[1]}, "user": {user}, "level": {level}})
}

func TestLoginThroughTheDevProviderAndTheJourney(t *testing.T) {
	s := newSite(t, nil)
	b := newBrowser(t, s.URL)
	if pg := b.get("/"); pg.code != 200 || !strings.Contains(pg.body, `href="/login"`) {
		t.Fatalf("start page: %d %s", pg.code, pg.body)
	}
	if pg := b.get("/proposals/p-waste"); pg.code != 401 || !strings.Contains(pg.body, "Bitte melden Sie sich an") {
		t.Fatalf("a page before login: %d", pg.code)
	}
	b.get("/login") // a session before login holds the pending login
	before := b.session()
	pg := b.login("c-1001", "STORK-QAA-Level-3")
	if pg.code != 200 || !strings.Contains(pg.body, "Ihr Postkorb") || !strings.Contains(pg.body, "Abfallbehälter anmelden") {
		t.Fatalf("after login: %d %s %s", pg.code, pg.url, pg.body)
	}
	if after := b.session(); after == "" || after == before {
		t.Fatalf("the session id was not renewed at login (fixation): %q -> %q", before, after)
	}
	if !strings.Contains(pg.body, "Neuer Vorschlag: Abfallbehälter anmelden") || !strings.Contains(pg.body, "1. Dezember 2026") {
		t.Fatalf("the message is not rendered in German: %s", pg.body)
	}
	if !s.store.opened["m-1"] {
		t.Fatal("showing the message did not record it as opened")
	}
	if pg := b.get("/?lang=en"); !strings.Contains(pg.body, "Your inbox") || !strings.Contains(pg.body, "New proposal: Waste bins") ||
		!strings.Contains(pg.body, `<html lang="en">`) {
		t.Fatalf("English: %s", pg.body)
	}
	b.get("/?lang=de")
	// Another citizen's proposal is 404, like one that does not exist.
	if pg := b.get("/proposals/p-other"); pg.code != 404 || !strings.Contains(pg.body, "Nicht gefunden") {
		t.Fatalf("another citizen's proposal: %d", pg.code)
	}
	if pg := b.get("/consents/k-999/receipt"); pg.code != 404 {
		t.Fatalf("unknown consent: %d", pg.code)
	}
	pg = b.get("/proposals/p-waste")
	if pg.code != 200 || !strings.Contains(pg.body, "Neue Anschrift") || !strings.Contains(pg.body, "Lindenweg 4") {
		t.Fatalf("preview: %s", pg.body)
	}
	if pg := b.get("/proposals/p-waste/check"); !strings.Contains(pg.body, "Zustimmen und absenden") {
		t.Fatalf("check page: %s", pg.body)
	}
	pg = b.post("/proposals/p-waste/decision", url.Values{"decision": {"accept"}})
	if pg.code != 200 || !strings.HasSuffix(pg.url, "/proposals/p-waste/done") || !strings.Contains(pg.body, "Ihr Aktenzeichen: p-waste") {
		t.Fatalf("confirmation: %d %s", pg.code, pg.url)
	}
	// The second click of a double submit changes nothing.
	if pg := b.post("/proposals/p-waste/decision", url.Values{"decision": {"accept"}}); pg.code != 409 || !strings.Contains(pg.body, "Bereits entschieden") {
		t.Fatalf("double submit: %d", pg.code)
	}
	if s.store.decided["p-waste"] != "accept" || len(s.store.decided) != 1 || len(s.store.answers["p-waste"]) != 0 {
		t.Fatalf("decisions: %v %v", s.store.decided, s.store.answers)
	}
	// Child benefit asks for the IBAN no register holds: checked on the
	// page, typed input kept, nothing decided until it is right.
	if pg := b.get("/proposals/p-child"); !strings.Contains(pg.body, "Fragen wir Sie im nächsten Schritt") {
		t.Fatalf("preview of an asked field: %s", pg.body)
	}
	if pg := b.get("/proposals/p-child/check"); !strings.Contains(pg.body, `name="answer.iban"`) || !strings.Contains(pg.body, "IBAN für die Auszahlung") {
		t.Fatalf("check page without the IBAN field: %s", pg.body)
	}
	for answer, want := range map[string]string{"": "Bitte geben Sie „IBAN für die Auszahlung“ an.", "DE89 3704 0044 0532 0130 01": "ist keine gültige IBAN"} {
		pg := b.post("/proposals/p-child/decision", url.Values{"decision": {"accept"}, "answer.iban": {answer}})
		if pg.code != 422 || !strings.Contains(pg.body, want) || !strings.Contains(pg.body, `aria-invalid="true"`) ||
			(answer != "" && !strings.Contains(pg.body, `value="`+answer+`"`)) || s.store.decided["p-child"] != "" {
			t.Fatalf("IBAN %q: %d %s", answer, pg.code, pg.body)
		}
	}
	pg = b.post("/proposals/p-child/decision", url.Values{"decision": {"accept"}, "answer.iban": {"de89 3704 0044 0532 0130 00"}, "answer.salary": {"9"}})
	if pg.code != 200 || s.store.answers["p-child"]["iban"] != "de89 3704 0044 0532 0130 00" || len(s.store.answers["p-child"]) != 1 {
		t.Fatalf("IBAN accepted: %d %v", pg.code, s.store.answers)
	}
	if pg := b.get("/transfers"); !strings.Contains(pg.body, "<td class=\"kern-table__cell\">Abfallwirtschaft Landkreis</td>") || !strings.Contains(pg.body, "Neue Anschrift") {
		t.Fatalf("transfers: %s", pg.body)
	}
	if pg := b.get("/transfers?recipient=nobody"); strings.Contains(pg.body, "Neue Anschrift") {
		t.Fatal("the recipient filter shows other recipients' transfers")
	}
	if pg := b.get("/transfers?from=2026-13-01"); pg.code != 422 {
		t.Fatalf("invalid date: %d", pg.code)
	}
	// A standing consent is offered only where it would apply: not for
	// child benefit, which asks for an IBAN.
	if pg := b.get("/consents"); strings.Contains(pg.body, `value="p-child"`) {
		t.Fatal("a standing consent offered for a proposal that asks")
	}
	if pg := b.post("/consents", url.Values{"proposal": {"p-child"}}); pg.code != 422 {
		t.Fatalf("a standing consent for child benefit: %d", pg.code)
	}
	pg = b.post("/consents/k-1/withdraw", nil)
	if pg.code != 200 || !strings.Contains(pg.body, "Die Einwilligung ist widerrufen") || s.store.consents[0].Status != consent.StatusWithdrawn {
		t.Fatalf("withdraw: %d %v", pg.code, s.store.consents[0].Status)
	}
	if pg := b.post("/consents/k-1/withdraw", nil); pg.code != 409 {
		t.Fatalf("withdrawing twice: %d", pg.code)
	}
	pg = b.post("/data/offers", url.Values{"offers": {"off"}})
	if pg.code != 200 || !s.store.objection || !strings.Contains(pg.body, `value="off" checked`) {
		t.Fatalf("offers off: %d %v", pg.code, s.store.objection)
	}
	if pg := b.get("/data/export"); pg.code != 200 || !strings.Contains(pg.body, `"citizenId": "c-1001"`) || strings.Contains(pg.body, "c-2002") {
		t.Fatalf("export: %s", pg.body)
	}
	pg = b.post("/logout", nil)
	if pg.code != 200 || !strings.Contains(pg.body, `href="/login"`) {
		t.Fatalf("logout: %d %s %s", pg.code, pg.url, pg.body)
	}
	if pg := b.get("/consents"); pg.code != 401 {
		t.Fatalf("after logout: %d", pg.code)
	}
}

func TestRefusals(t *testing.T) {
	s := newSite(t, nil)
	b := newBrowser(t, s.URL)
	b.login("c-1001", "STORK-QAA-Level-3")

	// A cross-origin POST: refused before any handler, nothing decided.
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/proposals/p-waste/decision", strings.NewReader("decision=accept"))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	if pg := b.do(req); pg.code != 403 || !strings.Contains(pg.body, "Anfrage abgelehnt") || len(s.store.decided) != 0 {
		t.Fatalf("cross-origin POST: %d %v", pg.code, s.store.decided)
	}
	// A tampered session cookie is no session.
	u, _ := url.Parse(s.URL)
	b.Jar.SetCookies(u, []*http.Cookie{{Name: "lifeevents_session", Value: "forged", Path: "/"}})
	if pg := b.get("/consents"); pg.code != 401 {
		t.Fatalf("tampered cookie: %d", pg.code)
	}
	// Ids that cannot be ids: 404 before any store.
	b2 := newBrowser(t, s.URL)
	b2.login("c-1001", "STORK-QAA-Level-3")
	for _, p := range []string{"/proposals/" + strings.Repeat("x", 200), "/proposals/a%00b", "/consents/%3Cscript%3E/receipt"} {
		if pg := b2.get(p); pg.code != 404 {
			t.Errorf("%s: %d", p, pg.code)
		}
	}
	if pg := b2.post("/proposals/p-waste/decision", url.Values{"decision": {"maybe"}}); pg.code != 400 {
		t.Fatalf("bad decision: %d", pg.code)
	}
}

// TestReturnStaysOnTheSite: the page a login returns to is a path of the
// portal, whatever the link said.
func TestReturnStaysOnTheSite(t *testing.T) {
	s := newSite(t, nil)
	for ret, want := range map[string]string{
		"/proposals/p-waste": "/proposals/p-waste", "/\t/evil.example": "/", "//evil.example": "/", "https://evil.example/": "/",
		"/\\evil.example": "/", "/\r\nSet-Cookie: x=y": "/", "javascript:alert(1)": "/", "/%2F/evil.example": "/",
	} {
		pg := newBrowser(t, s.URL).loginAt("/login?return="+url.QueryEscape(ret), "c-1001", "STORK-QAA-Level-3")
		if pg.url != s.URL+want {
			t.Errorf("return %q: landed on %s", ret, pg.url)
		}
	}
}

func TestTrustLevels(t *testing.T) {
	s := newSite(t, nil)
	b := newBrowser(t, s.URL)
	// A basic login may read, not act.
	if pg := b.login("c-1001", "STORK-QAA-Level-1"); pg.code != 200 || !strings.Contains(pg.body, "Ihr Postkorb") {
		t.Fatalf("basic login: %d", pg.code)
	}
	if pg := b.get("/proposals/p-waste"); !strings.Contains(pg.body, "höheren Vertrauensniveau") {
		t.Fatal("the proposal page does not say a higher level is needed")
	}
	if pg := b.post("/proposals/p-waste/decision", url.Values{"decision": {"accept"}}); pg.code != 403 || len(s.store.decided) != 0 {
		t.Fatalf("deciding at a basic level: %d %v", pg.code, s.store.decided)
	}
	if pg := b.post("/consents/k-1/withdraw", nil); pg.code != 403 || s.store.consents[0].Status != consent.StatusActive {
		t.Fatalf("withdrawing at a basic level: %d", pg.code)
	}
	// Where reading itself needs substantial, a basic login is refused.
	s2 := newSite(t, func(c *portal.Config) { c.ReadLevel = portal.LevelSubstantial })
	b2 := newBrowser(t, s2.URL)
	if pg := b2.login("c-1001", "STORK-QAA-Level-1"); pg.code != 403 || !strings.Contains(pg.body, "Vertrauensniveau zu niedrig") {
		t.Fatalf("login below the read level: %d", pg.code)
	}
	if pg := b2.get("/consents"); pg.code != 401 {
		t.Fatalf("a refused login left a session: %d", pg.code)
	}
}

func TestLevels(t *testing.T) {
	for in, want := range map[string]portal.Level{
		"STORK-QAA-Level-1": portal.LevelBasic, "STORK-QAA-Level-3": portal.LevelSubstantial, "stork-qaa-level-4": portal.LevelHigh,
		"http://eidas.europa.eu/LoA/substantial": portal.LevelSubstantial, "high": portal.LevelHigh, "": portal.LevelNone, "gold": portal.LevelNone,
	} {
		if got := portal.ParseLevel(in); got != want {
			t.Errorf("%q: %v, want %v", in, got, want)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	ok := portal.Config{Issuer: "https://id.example.de", ClientID: "c", ClientSecret: "s", PublicURL: "https://portal.example.de"}
	if err := ok.WithDefaults().Validate(); err != nil {
		t.Fatal(err)
	}
	for name, mutate := range map[string]func(*portal.Config){
		"no issuer":        func(c *portal.Config) { c.Issuer = "" },
		"http issuer":      func(c *portal.Config) { c.Issuer = "http://id.example.de" },
		"no secret":        func(c *portal.Config) { c.ClientSecret = "" },
		"http public url":  func(c *portal.Config) { c.PublicURL = "http://portal.example.de" },
		"public url path":  func(c *portal.Config) { c.PublicURL = "https://portal.example.de/x" },
		"act below read":   func(c *portal.Config) { c.ReadLevel, c.ActLevel = portal.LevelHigh, portal.LevelBasic },
		"idle beyond life": func(c *portal.Config) { c.IdleTimeout, c.Lifetime = time.Hour, time.Minute },
	} {
		c := ok
		mutate(&c)
		if err := c.WithDefaults().Validate(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if err := (portal.Config{}).Validate(); !errors.Is(err, portal.ErrNotConfigured) {
		t.Errorf("empty config: %v", err)
	}
}

// TestTemplatesUseKnownTexts: every text a page names is in the catalogs.
func TestTemplatesUseKnownTexts(t *testing.T) {
	c, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`T "([a-zA-Z0-9_.]+)"`)
	entries, _ := filepathGlob("templates/*.html")
	seen := 0
	for _, f := range entries {
		for _, m := range re.FindAllStringSubmatch(readFile(t, f), -1) {
			seen++
			if !c.Has(m[1]) {
				t.Errorf("%s: %s is not in the catalogs", f, m[1])
			}
		}
	}
	if seen < 100 {
		t.Fatalf("only %d texts found in the templates", seen)
	}
	for _, k := range []string{"internal", "cross_origin", "unauthenticated", "level_read", "level_act", "not_found", "provider",
		"login", "not_pending", "bad_request", "choose_service", "consent_invalid", "already_withdrawn"} {
		if !c.Has("error."+k+".title") || !c.Has("error."+k+".text") {
			t.Errorf("error page %s lacks its texts", k)
		}
	}
}

func filepathGlob(p string) ([]string, error) { return filepath.Glob(p) }

func readFile(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPostkorbPages: a long inbox is read in pages of 25; only the messages
// shown count as opened.
func TestPostkorbPages(t *testing.T) {
	s := newSite(t, nil)
	for i := range 30 {
		s.store.messages = append(s.store.messages, inbox.Message{ID: fmt.Sprintf("m-x%02d", i), CitizenID: "c-1001", Kind: "status",
			Key: "status.granted", Args: map[string]string{"service": "waste_bins"}, CreatedAt: time.Now()})
	}
	b := newBrowser(t, s.URL)
	pg := b.login("c-1001", "STORK-QAA-Level-3")
	if n := strings.Count(pg.body, `class="kern-card message"`); n != 25 || !strings.Contains(pg.body, `href="/?p=1&amp;m=2#messages"`) {
		t.Fatalf("first page: %d messages", n)
	}
	if len(s.store.opened) != 25 {
		t.Fatalf("%d messages opened after the first page", len(s.store.opened))
	}
	pg = b.get("/?p=1&m=2")
	if n := strings.Count(pg.body, `class="kern-card message"`); n != 6 || !strings.Contains(pg.body, "Neuere Nachrichten") || strings.Contains(pg.body, "Ältere Nachrichten") {
		t.Fatalf("second page: %d messages", n)
	}
	if len(s.store.opened) != 31 {
		t.Fatalf("%d messages opened after both pages", len(s.store.opened))
	}
	if pg := b.get("/?m=999999999999"); pg.code != 200 {
		t.Fatalf("a page number out of range: %d", pg.code)
	}
}

// TestIdleSessionEnds: a session nobody used for its idle timeout is gone;
// the next page asks to log in again.
func TestIdleSessionEnds(t *testing.T) {
	s := newSite(t, func(c *portal.Config) { c.IdleTimeout, c.Lifetime = 700*time.Millisecond, time.Hour })
	b := newBrowser(t, s.URL)
	if pg := b.login("c-1001", "STORK-QAA-Level-3"); pg.code != 200 {
		t.Fatalf("login: %d", pg.code)
	}
	if pg := b.get("/consents"); pg.code != 200 {
		t.Fatalf("within the idle timeout: %d", pg.code)
	}
	time.Sleep(time.Second)
	if pg := b.get("/consents"); pg.code != 401 || !strings.Contains(pg.body, "Sitzung abgelaufen") {
		t.Fatalf("after the idle timeout: %d", pg.code)
	}
}
