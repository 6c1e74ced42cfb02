package e2e

import (
	"context"
	_ "embed"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
)

//go:embed testdata/axe/axe.min.js
var axeSource string

// chromium finds Debian's headless Chromium (.ci/run installs it).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium-headless-shell", "/usr/lib/chromium/chromium-headless-shell", "chromium"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	t.Fatal("no headless Chromium: apt-get install chromium-headless-shell (.ci/run does)")
	return ""
}

// tab is one browser tab on the portal that keeps a screenshot and the
// accessibility check of every page it is asked to.
type tab struct {
	t    *testing.T
	ctx  context.Context
	base string
	// checked counts pages checked with axe, per language.
	checked map[string]int
	shots   string
}

func newTab(t *testing.T, base string, scripts bool) *tab {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromium(t)), chromedp.WindowSize(1280, 900))
	alloc, cancel := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancel)
	ctx, cancel2 := chromedp.NewContext(alloc)
	t.Cleanup(cancel2)
	ctx, cancel3 := context.WithTimeout(ctx, 4*time.Minute)
	t.Cleanup(cancel3)
	shots := filepath.Join("out", "screenshots", map[bool]string{true: "js", false: "nojs"}[scripts])
	_ = os.MkdirAll(shots, 0o755)
	tb := &tab{t: t, ctx: ctx, base: base, checked: map[string]int{}, shots: shots}
	if !scripts {
		tb.do(chromedp.Func(func(ctx context.Context, target *chromedp.Target) error {
			_, err := cdp.Call(ctx, target, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true})
			return err
		}))
	}
	return tb
}

func (b *tab) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v\n%s", err, b.html())
	}
}

func (b *tab) html() string {
	s, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("html")))
	return s
}

// open goes to a path and waits for its heading.
func (b *tab) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitVisible(chromedp.CSS("h1")))
}

// click follows a link or presses a button and waits for the next page.
func (b *tab) click(css string) {
	b.t.Helper()
	b.do(chromedp.Click(chromedp.CSS(css), chromedp.NodeVisible), chromedp.Sleep(300*time.Millisecond), chromedp.WaitVisible(chromedp.CSS("h1")))
}

// see fails unless the page's main text holds every one of want.
func (b *tab) see(want ...string) {
	b.t.Helper()
	text, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("body")))
	if err != nil {
		b.t.Fatal(err)
	}
	for _, w := range want {
		if !strings.Contains(text, w) {
			b.t.Fatalf("the page does not show %q:\n%s", w, text)
		}
	}
}

// shot keeps a screenshot of the whole page as test output.
func (b *tab) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.shots, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// axe runs axe-core on the page (injected through the DevTools protocol,
// which the page's CSP does not govern) and fails on any violation of
// WCAG 2.1 A or AA.
func (b *tab) axe(lang string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](axeSource+";true")); err != nil {
		b.t.Fatalf("inject axe: %v", err)
	}
	violations, err := chromedp.Run(b.ctx, chromedp.Evaluate[[]string](`axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa']}})
		.then(r => r.violations.map(v => v.id + ' (' + v.impact + '): ' + v.nodes.map(n => n.target.join(' ')).join(', ')))`,
		chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("axe: %v", err)
	}
	loc, _ := chromedp.Run(b.ctx, chromedp.Location())
	if len(violations) > 0 {
		b.t.Errorf("accessibility of %s (%s): %d violations:\n  %s", loc, lang, len(violations), strings.Join(violations, "\n  "))
	}
	b.checked[lang]++
}

// page checks the page in both languages and keeps a screenshot of each.
func (b *tab) page(name string) {
	b.t.Helper()
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		b.t.Fatal(err)
	}
	b.axe("de")
	b.shot(name + "-de")
	sep := "?"
	if strings.Contains(loc, "?") {
		sep = "&"
	}
	b.do(chromedp.Navigate(loc+sep+"lang=en"), chromedp.WaitVisible(chromedp.CSS("h1")))
	b.axe("en")
	b.shot(name + "-en")
	b.do(chromedp.Navigate(loc+sep+"lang=de"), chromedp.WaitVisible(chromedp.CSS("h1")))
}

// TestPortalInABrowser is a citizen's journey in headless Chromium: log
// in at the dev identity provider, find the proposals a move created,
// accept the waste bins, see the transfer, give and withdraw a standing
// consent, log out; every page in German and English passes axe-core.
// Then the same journey with JavaScript switched off.
func TestPortalInABrowser(t *testing.T) {
	dev := startDev(t, dataDir(t), newPorts(t), "LIFEEVENTS_AGENCY_DELAY=300ms")
	erika := dev.token("c-1001", "citizen")
	dev.emit(event(t, "move.json", "portal-move"))
	list := dev.waitProposals(erika, 4)
	ids := map[string]string{}
	for _, p := range list.Items {
		ids[p.Service] = p.ID
	}

	b := newTab(t, "http://"+dev.http, true)
	b.open("/")
	b.see("Anmelden")
	b.page("01-start")
	b.click(`a[href="/login"]`)
	b.see("Erika Mustermann")
	b.axe("de")
	b.shot("02-login")
	b.do(chromedp.Click(chromedp.CSS(`input[value="c-1001"]`)), chromedp.Click(chromedp.CSS(`input[value="STORK-QAA-Level-3"]`)))
	b.click(`button[type="submit"]`)
	b.see("Ihr Postkorb", "Abfallbehälter anmelden", "Hundesteuer ummelden", "Neuer Vorschlag")
	b.page("03-postkorb")

	b.click(fmt.Sprintf(`a[href="/proposals/%s"]`, ids["waste_bins"]))
	b.see("Abfallwirtschaft Landkreis", "Neue Anschrift", "Am Markt 12")
	b.page("04-proposal")
	b.click(fmt.Sprintf(`a[href="/proposals/%s/check"]`, ids["waste_bins"]))
	b.see("Prüfen Sie Ihre Angaben")
	b.page("05-check")
	b.click(`main button[type="submit"]`)
	b.see("Ihre Zustimmung ist eingegangen", "Aktenzeichen: "+ids["waste_bins"])
	b.page("06-done")

	waitTransfers(t, b, "Abfallwirtschaft Landkreis")
	b.page("07-transfers")

	b.open("/consents")
	b.click(`main form[action="/consents"] button[type="submit"]`)
	b.see("Ihre dauerhafte Einwilligung ist gespeichert", "Dauerhafte Einwilligung")
	b.page("08-consents")
	b.click(`main form[action$="/withdraw"] button[type="submit"]`)
	b.see("Die Einwilligung ist widerrufen")

	// The birth: child benefit asks for the IBAN no register holds.
	dev.emit(event(t, "birth.json", "portal-birth"))
	for _, p := range dev.waitProposals(erika, 7).Items {
		ids[p.Service] = p.ID
	}
	b.open("/proposals/" + ids["child_benefit"] + "/check")
	b.see("Kindergeld", "IBAN für die Auszahlung")
	b.page("12-iban")
	b.do(chromedp.SendKeys(chromedp.CSS("#answer-iban"), "DE89 3704 0044 0532 0130 01"))
	b.click(`main button[type="submit"]`)
	b.see("ist keine gültige IBAN")
	b.axe("de")
	b.shot("13-iban-error-de")
	b.open("/proposals/" + ids["child_benefit"] + "/check")
	b.do(chromedp.SendKeys(chromedp.CSS("#answer-iban"), "DE89 3704 0044 0532 0130 00"))
	b.click(`main button[type="submit"]`)
	b.see("Ihre Zustimmung ist eingegangen")
	waitTransfers(t, b, "Familienkasse")
	b.see("IBAN für die Auszahlung")
	for _, svc := range []string{"birth_certificate", "parental_allowance"} {
		if code := dev.post("/api/v1/me/proposals/"+ids[svc]+"/decision", erika, map[string]string{"decision": "decline"}, nil); code != http.StatusOK {
			t.Fatalf("decline %s: %d", svc, code)
		}
	}

	b.open("/data")
	b.see("Proaktive Angebote")
	b.page("09-data")

	b.open("/proposals/p-not-hers")
	b.see("Nicht gefunden")
	b.page("10-not-found")

	b.click(`form[action="/logout"] button`)
	b.see("Anmelden")
	b.open("/consents")
	b.see("Bitte melden Sie sich an")
	t.Logf("axe-core: %d pages in German, %d in English, 0 violations of WCAG 2.1 A/AA; screenshots in e2e/%s", b.checked["de"], b.checked["en"], b.shots)

	// The same journey with JavaScript switched off, in English: the
	// parking permit accepted, the dog tax declined.
	n := newTab(t, "http://"+dev.http, false)
	n.open("/?lang=en")
	n.click(`a[href="/login"]`)
	n.do(chromedp.Click(chromedp.CSS(`input[value="c-1001"]`)), chromedp.Click(chromedp.CSS(`input[value="STORK-QAA-Level-3"]`)))
	n.click(`button[type="submit"]`)
	n.see("Your inbox", "Resident parking permit")
	n.shot("01-inbox")
	n.click(fmt.Sprintf(`a[href="/proposals/%s"]`, ids["parking_permit"]))
	n.click(fmt.Sprintf(`a[href="/proposals/%s/check"]`, ids["parking_permit"]))
	n.see("Check your answers")
	n.click(`main button[type="submit"]`)
	n.see("We have received your agreement")
	n.shot("02-done")
	n.open("/proposals/" + ids["dog_tax"])
	n.click(`main form[action$="/decision"] button[type="submit"]`)
	n.see("You declined the proposal")
	waitTransfers(t, n, "Ordnungsamt Winsen (Luhe)")
	n.shot("03-transfers")
	n.click(`form[action="/logout"] button`)
	n.see("Log in")

	if code := dev.post("/api/v1/me/proposals/"+ids["vehicle_address"]+"/decision", erika, map[string]string{"decision": "decline"}, nil); code != http.StatusOK {
		t.Fatalf("decline the vehicle address: %d", code)
	}
	got := dev.waitStatuses(erika, "pending", "accepted", "submitted")
	if got["waste_bins"] != "granted" || got["parking_permit"] != "granted" || got["dog_tax"] != "declined" || got["child_benefit"] != "granted" {
		t.Fatalf("after the portal: %v", got)
	}
	var transfers struct{ Items []struct{ Service string } }
	if dev.get("/api/v1/me/transfers", erika, &transfers); len(transfers.Items) != 3 {
		t.Fatalf("transfers: %+v", transfers)
	}
	if res, err := http.Get("http://" + dev.http + "/static/kern/LICENSE.md"); err != nil || res.StatusCode != 200 {
		t.Fatalf("KERN UX licence not served: %v", err)
	}

	// Erika logged in with an address, so the new proposals, the results
	// and any reminder reached her by e-mail (dev mode's SMTP sink): only
	// that a message waits, never what it says.
	b.open("/dev/mail")
	text, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
	if !strings.Contains(text, "c-1001@example.org") || !strings.Contains(text, "Neue Nachricht in Ihrem Postkorb") ||
		strings.Contains(text, "Abfall") || strings.Contains(text, "Parkausweis") {
		t.Fatalf("caught e-mails:\n%s", text)
	}
	b.shot("11-dev-mail")
	var msgs struct {
		Items []struct {
			Kind       string  `json:"kind"`
			Subject    string  `json:"subject"`
			NotifiedAt *string `json:"notifiedAt"`
			OpenedAt   *string `json:"openedAt"`
		} `json:"items"`
	}
	// §9 OZG: the move's proposals were opened in the Postkorb (right
	// after login, before any e-mail was due: no e-mail about them); what
	// came later while Erika was elsewhere was e-mailed.
	deadline := time.Now().Add(30 * time.Second)
	for {
		dev.get("/api/v1/me/messages", erika, &msgs)
		opened, notified := 0, 0
		for _, m := range msgs.Items {
			if m.Kind == "proposal" && m.OpenedAt != nil {
				opened++
			}
			if m.NotifiedAt != nil {
				notified++
			}
		}
		if opened >= 4 && notified >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages opened %d (want 4 or more), notified %d: %+v", opened, notified, msgs.Items)
		}
		time.Sleep(time.Second)
	}
}

// waitTransfers reloads the transparency log until a transfer to the
// recipient shows (the journey submits a moment after the acceptance).
func waitTransfers(t *testing.T, b *tab, recipient string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		b.open("/transfers")
		text, _ := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("main")))
		if strings.Contains(text, recipient) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no transfer to %s shown after 60 s:\n%s", recipient, text)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
