package notify_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/devsmtp"
	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/notify"
	"github.com/lifeevents/lifeevents/texts"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestNotifiesThroughSMTP: waiting messages become one e-mail per citizen,
// sent over SMTP to the dev sink, in the citizen's language, saying only
// that a message waits; the messages record when; nothing is sent twice,
// nor to a citizen without an address, nor for kinds that need no e-mail.
func TestNotifiesThroughSMTP(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	sink, err := devsmtp.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	catalog, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	box := inbox.NewPGStore(db)
	contacts := notify.NewContacts(db)
	if err := contacts.Set(ctx, "c-1", "erika@example.org", texts.German); err != nil {
		t.Fatal(err)
	}
	if err := contacts.Set(ctx, "c-2", "jonas@example.org", texts.English); err != nil {
		t.Fatal(err)
	}
	if err := contacts.Set(ctx, "c-3", "not an address", texts.German); err == nil {
		t.Fatal("an invalid address was kept")
	}
	for _, m := range []inbox.Message{
		{ID: "m-1", CitizenID: "c-1", Kind: "proposal", Key: "proposed", Args: map[string]string{"service": "waste_bins", "recipient": "Geheime Behörde"}},
		{ID: "m-2", CitizenID: "c-1", Kind: "reminder", Key: "reminder"},
		{ID: "m-3", CitizenID: "c-2", Kind: "status", Key: "status.granted"},
		{ID: "m-4", CitizenID: "c-3", Kind: "proposal", Key: "proposed"},
		{ID: "m-5", CitizenID: "c-1", Kind: "withdrawn", Key: "withdrawn.consent"},
		{ID: "m-6", CitizenID: "c-4", Kind: "proposal", Key: "proposed"},
	} {
		if err := box.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	// Jonas reads his Postkorb before the notifier comes round: no e-mail
	// about what he has seen.
	if err := contacts.Set(ctx, "c-4", "Jonas Beispiel <jonas.b@example.org>", texts.German); err != nil {
		t.Fatal(err)
	}
	if _, err := box.MarkOpened(ctx, "c-4", []string{"m-6"}); err != nil {
		t.Fatal(err)
	}
	n := &notify.Notifier{DB: db, Texts: catalog, Log: slog.New(slog.DiscardHandler),
		Sender: notify.NewSMTP(notify.Config{URL: sink.URL(), PublicURL: "http://127.0.0.1:8080"}),
		Config: notify.Config{URL: sink.URL(), PublicURL: "http://127.0.0.1:8080"}}
	sent, err := n.Once(ctx)
	if err != nil || sent != 2 {
		t.Fatalf("sent %d: %v", sent, err)
	}
	if again, err := n.Once(ctx); err != nil || again != 0 {
		t.Fatalf("second round sent %d: %v", again, err)
	}
	mails := sink.Mails()
	if len(mails) != 2 {
		for _, m := range mails {
			t.Log(m.To)
		}
		t.Fatalf("caught %d mails", len(mails))
	}
	byTo := map[string]devsmtp.Mail{}
	for _, m := range mails {
		byTo[strings.Join(m.To, ",")] = m
	}
	de, en := byTo["erika@example.org"], byTo["jonas@example.org"]
	if de.Subject != "Neue Nachricht in Ihrem Postkorb" || !strings.Contains(de.Body, "2 neue Nachrichten") || !strings.Contains(de.Body, "http://127.0.0.1:8080/") {
		t.Fatalf("German mail: %+v", de)
	}
	if en.Subject != "New message in your inbox" || !strings.Contains(en.Body, "a new message is") {
		t.Fatalf("English mail: %+v", en)
	}
	for _, m := range mails {
		if strings.Contains(m.Body, "Geheime") || strings.Contains(m.Body, "Abfall") || strings.Contains(m.Subject, "Abfall") {
			t.Fatalf("a mail carries the message's content: %+v", m)
		}
	}
	ms, err := box.ListForCitizen(ctx, "c-1")
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		notified := m.NotifiedAt != nil
		if want := m.ID != "m-5"; notified != want {
			t.Errorf("%s (%s): notified %v, want %v", m.ID, m.Kind, notified, want)
		}
	}
	var stored string
	if err := db.QueryRow(ctx, `SELECT email FROM contacts WHERE citizen_id = 'c-4'`).Scan(&stored); err != nil || stored != "jonas.b@example.org" {
		t.Fatalf("stored address %q: %v", stored, err)
	}
	c3, _ := box.ListForCitizen(ctx, "c-3")
	if len(c3) != 1 || c3[0].NotifiedAt != nil {
		t.Fatalf("a citizen without an address: %+v", c3)
	}
}

// TestUnreachableServerLeavesMessagesWaiting: a failed e-mail is tried
// again, never recorded as sent.
func TestUnreachableServerLeavesMessagesWaiting(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	catalog, _ := texts.New()
	_ = notify.NewContacts(db).Set(ctx, "c-1", "erika@example.org", texts.German)
	box := inbox.NewPGStore(db)
	_ = box.Send(ctx, inbox.Message{ID: "m-1", CitizenID: "c-1", Kind: "proposal", Key: "proposed"})
	cfg := notify.Config{URL: "smtp://127.0.0.1:1", PublicURL: "http://127.0.0.1:8080"}
	n := &notify.Notifier{DB: db, Texts: catalog, Log: slog.New(slog.DiscardHandler), Sender: notify.NewSMTP(cfg), Config: cfg}
	ctx2, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if sent, err := n.Once(ctx2); err != nil || sent != 0 {
		t.Fatalf("sent %d: %v", sent, err)
	}
	ms, _ := box.ListForCitizen(ctx, "c-1")
	if ms[0].NotifiedAt != nil {
		t.Fatal("recorded as notified although the e-mail failed")
	}
}

func TestConfigValidate(t *testing.T) {
	ok := notify.Config{URL: "smtp://u:p@mail.example.de:587", PublicURL: "https://portal.example.de"}.WithDefaults()
	if err := ok.Validate(); err != nil || ok.From != "noreply@portal.example.de" {
		t.Fatalf("%v %s", err, ok.From)
	}
	for _, bad := range []string{"mail.example.de", "http://mail.example.de:25", "smtp://mail.example.de"} {
		c := ok
		c.URL = bad
		if c.Validate() == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
