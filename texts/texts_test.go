package texts_test

import (
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/texts"
)

func TestCatalogsHoldTheSameKeys(t *testing.T) {
	c, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(c.Keys()); n < 150 {
		t.Fatalf("only %d keys", n)
	}
	de, en := c.T(texts.German, "nav.logout", nil), c.T(texts.English, "nav.logout", nil)
	if de != "Abmelden" || en != "Log out" {
		t.Fatalf("logout: %q %q", de, en)
	}
	if got := c.T(texts.English, "msg.proposed.subject", map[string]string{"Service": "Waste bins"}); got != "New proposal: Waste bins" {
		t.Fatalf("template: %q", got)
	}
	if got := c.T(texts.German, "no.such.key", nil); got != "no.such.key" {
		t.Fatalf("unknown key: %q", got)
	}
}

// TestEveryMessageKeyExists holds the keys the workflows and the consent
// store write (they build some from statuses and reasons).
func TestEveryMessageKeyExists(t *testing.T) {
	c, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	keys := []string{"proposed", "reminder", "escalated", "automatic", "offers_not_allowed", "eligibility_unknown",
		"withdrawn.consent", "withdrawn.objection", "withdrawn.offers", "status.sibling_accepted", "status.superseded"}
	for _, s := range []string{"pending", "accepted", "submitted", "granted", "rejected", "declined", "expired", "withdrawn", "failed"} {
		keys = append(keys, "status."+s)
	}
	for _, k := range keys {
		for _, part := range []string{".subject", ".body"} {
			if !c.Has("msg." + k + part) {
				t.Errorf("msg.%s%s missing", k, part)
			}
		}
	}
}

func TestLanguages(t *testing.T) {
	if l, ok := texts.ParseLang("EN"); !ok || l != texts.English {
		t.Fatal("EN")
	}
	if l, ok := texts.ParseLang("fr"); ok || l != texts.German {
		t.Fatal("fr must fall back to German, unknown")
	}
	if l := texts.FromAcceptLanguage("fr-FR,en;q=0.8,de;q=0.5"); l != texts.English {
		t.Fatalf("accept-language: %s", l)
	}
	if l := texts.FromAcceptLanguage("garbage;;;"); l != texts.German {
		t.Fatalf("bad accept-language: %s", l)
	}
	d := time.Date(2026, 3, 5, 14, 7, 0, 0, time.UTC)
	if got := texts.DateTime(texts.German, d); got != "5. März 2026, 14:07 Uhr" {
		t.Fatal(got)
	}
	if got := texts.Date(texts.English, d); !strings.HasPrefix(got, "5 March") {
		t.Fatal(got)
	}
}

// TestRenderedTextsAreRememberedPerData: the memory of rendered texts
// never hands one reader's data to another.
func TestRenderedTextsAreRememberedPerData(t *testing.T) {
	c, _ := texts.New()
	for range 2 {
		a := c.T(texts.German, "msg.proposed.subject", map[string]string{"Service": "A"})
		b := c.T(texts.German, "msg.proposed.subject", map[string]string{"Service": "B"})
		n := c.T(texts.German, "error.code", map[string]any{"Code": 404})
		e := c.T(texts.English, "msg.proposed.subject", map[string]string{"Service": "A"})
		if a != "Neuer Vorschlag: A" || b != "Neuer Vorschlag: B" || n != "Fehlercode 404" || e != "New proposal: A" {
			t.Fatalf("%q %q %q %q", a, b, n, e)
		}
	}
}
