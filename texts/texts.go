// Package texts holds every text the citizen reads: the portal's pages,
// the inbox messages, the e-mails and the names of fields and statuses, in
// German (the default) and English, as message catalogs (de.toml, en.toml)
// rendered through go-i18n. Code names a text by its key; translators edit
// the catalogs only.
package texts

import (
	"embed"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

//go:embed de.toml en.toml
var files embed.FS

// Lang is a language the portal speaks.
type Lang string

// Languages the catalogs hold.
const (
	German  Lang = "de"
	English Lang = "en"
)

// Langs lists the languages, the default first.
func Langs() []Lang { return []Lang{German, English} }

// ParseLang returns the language s names, and whether it is one of ours.
func ParseLang(s string) (Lang, bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "de", "de-de", "deutsch":
		return German, true
	case "en", "en-gb", "en-us", "english":
		return English, true
	}
	return German, false
}

// FromAcceptLanguage picks the first of our languages an Accept-Language
// header names; German if none.
func FromAcceptLanguage(h string) Lang {
	tags, _, err := language.ParseAcceptLanguage(h)
	if err != nil {
		return German
	}
	for _, t := range tags {
		base, _ := t.Base()
		if l, ok := ParseLang(base.String()); ok {
			return l
		}
	}
	return German
}

// Catalog renders texts by key. It is safe for concurrent use.
type Catalog struct {
	loc  map[Lang]*i18n.Localizer
	keys map[Lang]map[string]bool

	// rendered remembers texts already rendered with the same data: a
	// Postkorb renders the same labels and much the same messages hundreds
	// of times, and executing a template each time costs more than the
	// rest of the page.
	mu       sync.RWMutex
	rendered map[string]string
}

// maxRendered bounds the memory of rendered texts; past it, it starts over.
const maxRendered = 20000

// New loads the embedded catalogs and checks that both languages hold the
// same keys, so a text missing in one language is an error at start, not
// a key shown to a citizen.
func New() (*Catalog, error) {
	b := i18n.NewBundle(language.German)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalog{loc: map[Lang]*i18n.Localizer{}, keys: map[Lang]map[string]bool{}, rendered: map[string]string{}}
	for _, l := range Langs() {
		f, err := b.LoadMessageFileFS(files, string(l)+".toml")
		if err != nil {
			return nil, fmt.Errorf("texts: %s.toml: %w", l, err)
		}
		c.keys[l] = map[string]bool{}
		for _, m := range f.Messages {
			c.keys[l][m.ID] = true
		}
		c.loc[l] = i18n.NewLocalizer(b, string(l))
	}
	for _, l := range Langs()[1:] {
		if missing := diff(c.keys[German], c.keys[l]); len(missing) > 0 {
			return nil, fmt.Errorf("texts: %s.toml lacks %s", l, strings.Join(missing, ", "))
		}
		if extra := diff(c.keys[l], c.keys[German]); len(extra) > 0 {
			return nil, fmt.Errorf("texts: de.toml lacks %s", strings.Join(extra, ", "))
		}
	}
	return c, nil
}

func diff(a, b map[string]bool) []string {
	var out []string
	for k := range a {
		if !b[k] {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// Has reports whether the catalogs hold key.
func (c *Catalog) Has(key string) bool { return c.keys[German][key] }

// Keys lists every key, sorted.
func (c *Catalog) Keys() []string { return slices.Sorted(maps.Keys(c.keys[German])) }

// T renders key in lang with data (a map or struct its template reads).
// An unknown key renders as the key itself; tests hold that no page or
// message uses one.
func (c *Catalog) T(lang Lang, key string, data any) string {
	loc, ok := c.loc[lang]
	if !ok {
		lang, loc = German, c.loc[German]
	}
	memo, cacheable := memoKey(lang, key, data)
	if cacheable {
		c.mu.RLock()
		s, hit := c.rendered[memo]
		c.mu.RUnlock()
		if hit {
			return s
		}
	}
	s, err := loc.Localize(&i18n.LocalizeConfig{MessageID: key, TemplateData: data})
	if err != nil {
		return key
	}
	if cacheable {
		c.mu.Lock()
		if len(c.rendered) >= maxRendered {
			c.rendered = map[string]string{}
		}
		c.rendered[memo] = s
		c.mu.Unlock()
	}
	return s
}

// memoKey names a rendering by its language, key and data, for the data
// the portal passes (nothing, or maps of strings and numbers).
func memoKey(lang Lang, key string, data any) (string, bool) {
	var b strings.Builder
	b.WriteString(string(lang))
	b.WriteByte(0)
	b.WriteString(key)
	switch d := data.(type) {
	case nil:
		return b.String(), true
	case map[string]string:
		for _, k := range slices.Sorted(maps.Keys(d)) {
			b.WriteByte(0)
			b.WriteString(k)
			b.WriteByte(1)
			b.WriteString(d[k])
		}
		return b.String(), true
	case map[string]any:
		for _, k := range slices.Sorted(maps.Keys(d)) {
			b.WriteByte(0)
			b.WriteString(k)
			b.WriteByte(1)
			switch v := d[k].(type) {
			case string:
				b.WriteString(v)
			case int:
				b.WriteString(strconv.Itoa(v))
			default:
				return "", false
			}
		}
		return b.String(), true
	}
	return "", false
}

// Or renders key if the catalogs hold it, otherwise fallback: field names
// and purposes of services a policy team added after this build.
func (c *Catalog) Or(lang Lang, key, fallback string) string {
	if !c.Has(key) {
		return fallback
	}
	return c.T(lang, key, nil)
}

// Date formats a day the way readers of lang write it.
func Date(lang Lang, t time.Time) string {
	if lang == English {
		return t.Format("2 January 2006")
	}
	return fmt.Sprintf("%d. %s %d", t.Day(), germanMonths[t.Month()-1], t.Year())
}

// DateTime formats a moment, in the zone of t.
func DateTime(lang Lang, t time.Time) string {
	if lang == English {
		return t.Format("2 January 2006, 15:04")
	}
	return Date(lang, t) + ", " + t.Format("15:04") + " Uhr"
}

var germanMonths = [...]string{"Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"}
