package consent_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/policies"
)

// records is what both stores offer, with Authorize in a transaction of
// its own where the store needs one.
type records interface {
	Give(ctx context.Context, citizenID string, r consent.Request) (consent.Consent, []consent.Withdrawn, error)
	Get(ctx context.Context, citizenID, id string) (consent.Consent, error)
	List(ctx context.Context, citizenID string) ([]consent.Consent, error)
	Withdraw(ctx context.Context, citizenID, id, method string) (consent.Consent, []consent.Withdrawn, error)
	OffersAllowed(ctx context.Context, citizenID string, optIn bool) (bool, error)
	StandingCovers(ctx context.Context, citizenID, service, recipient string, fields []string) (bool, error)
	ForProposal(ctx context.Context, citizenID, proposalID string) (string, bool, error)
	Transfers(ctx context.Context, citizenID string) ([]consent.Record, error)
}

type store struct {
	records
	authorize func(context.Context, consent.Transfer) (consent.Record, error)
	setClock  func(func() time.Time)
}

// TestContract holds the Postgres and the in-memory consent stores to the
// same answers, so that a simulation decides transfers as the journeys
// do (the pattern of watermill's shared pubsub tests).
func TestContract(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) store{
		"postgres": func(t *testing.T) store {
			s, db := newStore(t)
			return store{records: s, setClock: func(c func() time.Time) { s.Clock = c },
				authorize: func(ctx context.Context, tr consent.Transfer) (consent.Record, error) {
					var rec consent.Record
					err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
						var err error
						rec, err = s.Authorize(ctx, tx, tr)
						return err
					})
					return rec, err
				}}
		},
		"memory": func(t *testing.T) store {
			b, err := policies.DefaultBundle()
			if err != nil {
				t.Fatal(err)
			}
			e, err := policies.NewEngine(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			m := consent.NewMemory(e, consent.Config{Controller: "Landkreis (sample)"})
			return store{records: m, authorize: m.Authorize, setClock: func(c func() time.Time) { m.Clock = c }}
		},
	} {
		t.Run(name, func(t *testing.T) {
			for _, c := range contractCases {
				t.Run(c.name, func(t *testing.T) { c.run(t, open(t)) })
			}
		})
	}
}

var contractCases = []struct {
	name string
	run  func(*testing.T, store)
}{
	{"records", func(t *testing.T, s store) {
		ctx := context.Background()
		req := wasteConsent()
		req.Fields = []string{"newAddress", "applicantId"}
		c, _, err := s.Give(ctx, "c-1", req)
		if err != nil {
			t.Fatal(err)
		}
		if c.Status != consent.StatusActive || strings.Join(c.Fields, ",") != "applicantId,newAddress" ||
			strings.Join(c.DataCategories, ",") != "address,identity" || c.Controller != "Landkreis (sample)" ||
			c.CollectionMethod != "portal" || c.NoticeVersion != "v1" || len(c.History) != 1 || c.History[0].Kind != "given" {
			t.Fatalf("given: %+v", c)
		}
		d, _, err := s.Give(ctx, "c-1", consent.Request{Kind: consent.KindObjection, Purpose: consent.PurposeOffers})
		if err != nil {
			t.Fatal(err)
		}
		list, err := s.List(ctx, "c-1")
		if err != nil || len(list) != 2 || list[0].ID != d.ID || list[1].ID != c.ID {
			t.Fatalf("list, newest first: %+v %v", list, err)
		}
		if _, err := s.Get(ctx, "c-2", c.ID); !errors.Is(err, consent.ErrNotFound) {
			t.Fatalf("another citizen's consent: %v", err)
		}
		if other, _ := s.List(ctx, "c-2"); len(other) != 0 {
			t.Fatalf("c-2 lists c-1's consents: %+v", other)
		}
		if _, _, err := s.Withdraw(ctx, "c-2", c.ID, ""); !errors.Is(err, consent.ErrNotFound) {
			t.Fatalf("withdrawing another citizen's consent: %v", err)
		}
		w, _, err := s.Withdraw(ctx, "c-1", c.ID, "")
		if err != nil || w.Status != consent.StatusWithdrawn || w.WithdrawnAt == nil || len(w.History) != 2 {
			t.Fatalf("withdrawn: %+v %v", w, err)
		}
		if _, _, err := s.Withdraw(ctx, "c-1", c.ID, ""); !errors.Is(err, consent.ErrAlreadyWithdrawn) {
			t.Fatalf("withdrawn twice: %v", err)
		}
	}},
	{"invalid requests", func(t *testing.T, s store) {
		ctx := context.Background()
		for code, r := range map[string]consent.Request{
			"invalid_kind":      {Purpose: "waste_bins", Recipient: "abfallwirtschaft-landkreis", Fields: wasteFields},
			"unknown_purpose":   {Kind: consent.KindProposal, Purpose: "nope", Recipient: "x", Fields: wasteFields},
			"unknown_recipient": {Kind: consent.KindProposal, Purpose: "waste_bins", Recipient: "x", Fields: wasteFields},
			"invalid_fields":    {Kind: consent.KindProposal, Purpose: "waste_bins", Recipient: "abfallwirtschaft-landkreis", Fields: []string{"iban"}},
			"legal_basis":       {Kind: consent.KindProposal, Purpose: "vehicle_address", Recipient: "zulassungsstelle-landkreis", Fields: []string{"plates"}},
		} {
			_, _, err := s.Give(ctx, "c-1", r)
			var inv *consent.InvalidError
			if !errors.As(err, &inv) || inv.Code != code {
				t.Errorf("%s: %v", code, err)
			}
		}
		if list, _ := s.List(ctx, "c-1"); len(list) != 0 {
			t.Fatalf("an invalid request left a record: %+v", list)
		}
	}},
	{"transfers", func(t *testing.T, s store) {
		ctx := context.Background()
		if _, err := s.authorize(ctx, wasteTransfer("c-1", "p-1")); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("without consent: %v", err)
		}
		c, _, err := s.Give(ctx, "c-1", wasteConsent())
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.authorize(ctx, wasteTransfer("c-1", "p-1", "applicantId", "newAddress", "householdSize")); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("one field too many: %v", err)
		}
		if _, err := s.authorize(ctx, wasteTransfer("c-1", "p-1", "applicantId", "iban")); !errors.Is(err, consent.ErrPolicyDenied) {
			t.Fatalf("undeclared field: %v", err)
		}
		if _, err := s.authorize(ctx, wasteTransfer("c-2", "p-2")); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("c-1's consent carried c-2's transfer: %v", err)
		}
		rec, err := s.authorize(ctx, wasteTransfer("c-1", "p-1"))
		if err != nil || rec.BasisKind != "consent" || rec.Basis != c.ID || rec.At.IsZero() {
			t.Fatalf("covered transfer: %+v %v", rec, err)
		}
		// Withdrawn after the transfer: the retried step still finds it.
		if _, _, err := s.Withdraw(ctx, "c-1", c.ID, ""); err != nil {
			t.Fatal(err)
		}
		if again, err := s.authorize(ctx, wasteTransfer("c-1", "p-1")); err != nil || again.ID != rec.ID {
			t.Fatalf("the same proposal transferred twice: %+v %v", again, err)
		}
		if _, err := s.authorize(ctx, wasteTransfer("c-1", "p-3")); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("a withdrawn consent carried a transfer: %v", err)
		}
		law := consent.Transfer{CitizenID: "c-1", ProposalID: "p-4", Service: "vehicle_address", Municipality: "03353022",
			Recipient: "zulassungsstelle-landkreis", Purpose: "vehicle_address", BasisKind: "law", BasisReference: "§ 15 Abs. 1 FZV",
			Fields: []string{"newAddress", "plates"}}
		if r, err := s.authorize(ctx, law); err != nil || r.Basis != "§ 15 Abs. 1 FZV" {
			t.Fatalf("legal basis: %+v %v", r, err)
		}
		log, err := s.Transfers(ctx, "c-1")
		if err != nil || len(log) != 2 || !slices.ContainsFunc(log, func(r consent.Record) bool { return r.Service == "vehicle_address" }) {
			t.Fatalf("transparency log: %+v %v", log, err)
		}
	}},
	{"optional data", func(t *testing.T, s store) {
		ctx := context.Background()
		main := consent.Request{Kind: consent.KindProposal, Purpose: "parental_allowance", Recipient: "elterngeldstelle-landkreis",
			Fields: []string{"applicantId", "childId"}}
		a, _, err := s.Give(ctx, "c-1", main)
		if err != nil {
			t.Fatal(err)
		}
		tr := consent.Transfer{CitizenID: "c-1", ProposalID: "p-9", Service: "parental_allowance", Municipality: "03353022",
			Recipient: "elterngeldstelle-landkreis", Purpose: "parental_allowance", BasisKind: "consent",
			Fields: []string{"applicantId", "childId", "salary"}}
		if _, err := s.authorize(ctx, tr); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("salary without its consent: %v", err)
		}
		main.Fields = []string{"salary"}
		if _, _, err := s.Give(ctx, "c-1", main); err == nil {
			t.Fatal("salary accepted in an ordinary consent")
		}
		main.Kind = consent.KindOptionalData
		b, _, err := s.Give(ctx, "c-1", main)
		if err != nil {
			t.Fatal(err)
		}
		rec, err := s.authorize(ctx, tr)
		want := []string{a.ID, b.ID}
		slices.Sort(want)
		if err != nil || rec.Basis != strings.Join(want, ",") {
			t.Fatalf("with both consents: %+v %v (want %v)", rec, err, want)
		}
	}},
	{"expiry", func(t *testing.T, s store) {
		ctx := context.Background()
		exp := time.Now().Add(time.Hour)
		req := wasteConsent()
		req.ExpiresAt = &exp
		c, _, err := s.Give(ctx, "c-1", req)
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.StandingCovers(ctx, "c-1", "waste_bins", "abfallwirtschaft-landkreis", wasteFields); ok {
			t.Fatal("a proposal's consent taken for a standing one")
		}
		s.setClock(func() time.Time { return time.Now().Add(2 * time.Hour) })
		if _, err := s.authorize(ctx, wasteTransfer("c-1", "p-1")); !errors.Is(err, consent.ErrNoConsent) {
			t.Fatalf("expired consent authorised: %v", err)
		}
		if got, _ := s.Get(ctx, "c-1", c.ID); got.Status != consent.StatusExpired {
			t.Fatalf("status past validity: %s", got.Status)
		}
		if _, _, err := s.Withdraw(ctx, "c-1", c.ID, ""); !errors.Is(err, consent.ErrExpired) {
			t.Fatalf("withdrawing an expired consent: %v", err)
		}
	}},
	{"offers and standing consents", func(t *testing.T, s store) {
		ctx := context.Background()
		if ok, _ := s.OffersAllowed(ctx, "c-1", false); !ok {
			t.Fatal("opt-out district without objection: no offers")
		}
		if ok, _ := s.OffersAllowed(ctx, "c-1", true); ok {
			t.Fatal("opt-in district without consent: offers")
		}
		obj, _, err := s.Give(ctx, "c-1", consent.Request{Kind: consent.KindObjection, Purpose: consent.PurposeOffers})
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := s.Give(ctx, "c-2", consent.Request{Kind: consent.KindOffers, Purpose: consent.PurposeOffers}); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.OffersAllowed(ctx, "c-1", false); ok {
			t.Fatal("offers despite the objection")
		}
		if ok, _ := s.OffersAllowed(ctx, "c-2", true); !ok {
			t.Fatal("no offers in an opt-in district despite the consent")
		}
		if _, _, err := s.Withdraw(ctx, "c-1", obj.ID, ""); err != nil {
			t.Fatal(err)
		}
		if ok, _ := s.OffersAllowed(ctx, "c-1", false); !ok {
			t.Fatal("no offers after the objection was withdrawn")
		}
		fields := []string{"name", "newAddress", "plate", "parkingZone"}
		standing := consent.Request{Kind: consent.KindStanding, Purpose: "parking_permit", Recipient: "ordnungsamt-03353022", Fields: fields}
		if _, _, err := s.Give(ctx, "c-1", standing); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			citizen, recipient string
			fields             []string
			want               bool
		}{
			{"c-1", "ordnungsamt-03353022", fields, true},
			{"c-1", "ordnungsamt-03353022", fields[:2], true},
			{"c-1", "ordnungsamt-03353005", fields, false},
			{"c-2", "ordnungsamt-03353022", fields, false},
		} {
			if ok, err := s.StandingCovers(ctx, c.citizen, "parking_permit", c.recipient, c.fields); ok != c.want || err != nil {
				t.Errorf("standing %s %s %v: %v %v", c.citizen, c.recipient, c.fields, ok, err)
			}
		}
		g, _, err := s.Give(ctx, "c-1", consent.Request{Kind: consent.KindProposal, Purpose: "waste_bins",
			Recipient: "abfallwirtschaft-landkreis", Fields: wasteFields, ProposalID: "p-7", Method: "proposal-accept"})
		if err != nil {
			t.Fatal(err)
		}
		if id, ok, err := s.ForProposal(ctx, "c-1", "p-7"); err != nil || !ok || id != g.ID {
			t.Fatalf("for proposal: %q %v %v", id, ok, err)
		}
		if _, ok, _ := s.ForProposal(ctx, "c-2", "p-7"); ok {
			t.Fatal("another citizen's proposal consent found")
		}
	}},
}
