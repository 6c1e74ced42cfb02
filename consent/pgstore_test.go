package consent_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func newStore(t testing.TB) (*consent.Store, *pgxpool.Pool) {
	t.Helper()
	b, err := policies.DefaultBundle()
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	db := pgtest.New(t)
	return consent.NewStore(db, e, consent.Config{Controller: "Landkreis (sample)"}), db
}

var wasteFields = []string{"applicantId", "newAddress"}

func wasteConsent() consent.Request {
	return consent.Request{Kind: consent.KindProposal, Purpose: "waste_bins", Recipient: "abfallwirtschaft-landkreis", Fields: wasteFields}
}

func wasteTransfer(citizen, proposal string, fields ...string) consent.Transfer {
	if fields == nil {
		fields = wasteFields
	}
	return consent.Transfer{CitizenID: citizen, ProposalID: proposal, Service: "waste_bins", Municipality: "03353022",
		Recipient: "abfallwirtschaft-landkreis", Purpose: "waste_bins", BasisKind: "consent", Fields: fields}
}

func authorize(ctx context.Context, s *consent.Store, db *pgxpool.Pool, t consent.Transfer) (consent.Record, error) {
	var rec consent.Record
	err := pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
		var err error
		rec, err = s.Authorize(ctx, tx, t)
		return err
	})
	return rec, err
}

func TestGiveListReceipt(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	exp := time.Now().Add(24 * time.Hour).UTC()
	req := wasteConsent()
	req.ExpiresAt = &exp
	c, _, err := s.Give(ctx, "c-1", req)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != consent.StatusActive || c.Purpose != "waste_bins" || strings.Join(c.DataCategories, ",") != "address,identity" ||
		c.ExpiresAt == nil || len(c.History) != 1 || c.History[0].Kind != "given" || c.Controller == "" || c.CollectionMethod != "portal" {
		t.Fatalf("consent %+v", c)
	}
	list, err := s.List(ctx, "c-1")
	if err != nil || len(list) != 1 || list[0].ID != c.ID {
		t.Fatalf("list: %+v %v", list, err)
	}
	if other, _ := s.List(ctx, "c-2"); len(other) != 0 {
		t.Fatalf("c-2 sees %d consents", len(other))
	}
	r, err := s.Receipt(ctx, "c-1", c.ID)
	if err != nil || !strings.HasPrefix(r.ContentHash, "sha256:") || r.Consent.ID != c.ID {
		t.Fatalf("receipt: %+v %v", r, err)
	}
	if _, err := s.Receipt(ctx, "c-2", c.ID); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("another citizen's receipt: %v", err)
	}
}

func TestInvalidRequestsChangeNothing(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	past := time.Now().Add(-time.Hour)
	cases := map[string]func(r *consent.Request){
		"unknown_purpose":   func(r *consent.Request) { r.Purpose = "free_beer" },
		"unknown_recipient": func(r *consent.Request) { r.Recipient = "someone-else" },
		"no_fields":         func(r *consent.Request) { r.Fields = nil },
		"expiry_in_past":    func(r *consent.Request) { r.ExpiresAt = &past },
		"invalid_fields":    func(r *consent.Request) { r.Fields = []string{"iban"} },
		"legal_basis": func(r *consent.Request) {
			r.Purpose, r.Recipient, r.Fields = "vehicle_address", "zulassungsstelle-landkreis", []string{"plates"}
		},
		"invalid_kind": func(r *consent.Request) { r.Kind = "forever" },
	}
	for code, change := range cases {
		req := wasteConsent()
		change(&req)
		_, _, err := s.Give(ctx, "c-1", req)
		var inv *consent.InvalidError
		if !errors.As(err, &inv) || inv.Code != code {
			t.Errorf("%s: got %v", code, err)
		}
	}
	if l, _ := s.List(ctx, "c-1"); len(l) != 0 {
		t.Fatalf("refused requests left %d consents", len(l))
	}
}

func TestHistoryIsAppendOnly(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	c, _, err := s.Give(ctx, "c-1", wasteConsent())
	if err != nil {
		t.Fatal(err)
	}
	for _, sql := range []string{
		"UPDATE consent_events SET kind = 'withdrawn'",
		"DELETE FROM consent_events",
		"TRUNCATE consent_events CASCADE",
		"UPDATE consents SET recipient = 'x'",
		"DELETE FROM consents",
	} {
		if _, err := db.Exec(ctx, sql); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Errorf("%s: %v", sql, err)
		}
	}
	if got, _ := s.Get(ctx, "c-1", c.ID); got.Status != consent.StatusActive || len(got.History) != 1 {
		t.Fatalf("history changed: %+v", got)
	}
}

func TestWithdrawal(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	ps := proposals.NewPGStore(db)
	p := proposals.Proposal{ID: "p-1", LifeEventID: "e-1", CitizenID: "c-1", Service: "waste_bins", Status: proposals.StatusPending,
		Recipient: proposals.Recipient{ID: "abfallwirtschaft-landkreis", Name: "AWL"}, Purpose: "x", Basis: proposals.Basis{Kind: "consent", Reference: "x"}}
	if _, err := ps.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	standing := wasteConsent()
	standing.Kind = consent.KindStanding
	c, _, err := s.Give(ctx, "c-1", standing)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Withdraw(ctx, "c-2", c.ID, ""); !errors.Is(err, consent.ErrNotFound) {
		t.Fatalf("withdrawing another citizen's consent: %v", err)
	}
	w, withdrawn, err := s.Withdraw(ctx, "c-1", c.ID, "")
	if err != nil || w.Status != consent.StatusWithdrawn || w.WithdrawnAt == nil {
		t.Fatalf("withdraw: %+v %v", w, err)
	}
	if len(withdrawn) != 1 || withdrawn[0].ProposalID != "p-1" {
		t.Fatalf("withdrawn proposals: %+v", withdrawn)
	}
	if got, _ := ps.GetForCitizen(ctx, "c-1", "p-1"); got.Status != proposals.StatusWithdrawn {
		t.Fatalf("proposal after withdrawal: %s", got.Status)
	}
	var msgs int
	_ = db.QueryRow(ctx, "SELECT count(*) FROM messages WHERE citizen_id = 'c-1' AND proposal_id = 'p-1'").Scan(&msgs)
	if msgs != 1 {
		t.Fatalf("%d messages about the withdrawn proposal", msgs)
	}
	if _, _, err := s.Withdraw(ctx, "c-1", c.ID, ""); !errors.Is(err, consent.ErrAlreadyWithdrawn) {
		t.Fatalf("withdrawing twice: %v", err)
	}
	if _, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1")); !errors.Is(err, consent.ErrNoConsent) {
		t.Fatalf("transfer after withdrawal: %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	if _, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1")); !errors.Is(err, consent.ErrNoConsent) {
		t.Fatalf("without consent: %v", err)
	}
	if _, _, err := s.Give(ctx, "c-1", wasteConsent()); err != nil {
		t.Fatal(err)
	}
	// One field more than consented is refused (householdSize is declared
	// by the service, so only the consent can refuse it).
	if _, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1", "applicantId", "newAddress", "householdSize")); !errors.Is(err, consent.ErrNoConsent) {
		t.Fatalf("one field too many: %v", err)
	}
	// A field the service never declared is refused by the policy.
	if _, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1", "applicantId", "iban")); !errors.Is(err, consent.ErrPolicyDenied) {
		t.Fatalf("undeclared field: %v", err)
	}
	rec, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1"))
	if err != nil || rec.BasisKind != "consent" || !strings.HasPrefix(rec.Basis, "cs-") {
		t.Fatalf("covered transfer: %+v %v", rec, err)
	}
	again, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1"))
	if err != nil || again.ID != rec.ID {
		t.Fatalf("the same proposal transferred twice: %+v %v", again, err)
	}
	// A legal basis needs no consent.
	law := consent.Transfer{CitizenID: "c-1", ProposalID: "p-2", Service: "vehicle_address", Municipality: "03353022",
		Recipient: "zulassungsstelle-landkreis", Purpose: "vehicle_address", BasisKind: "law", BasisReference: "§ 15 Abs. 1 FZV",
		Fields: []string{"newAddress", "plates"}}
	if r, err := authorize(ctx, s, db, law); err != nil || r.Basis != "§ 15 Abs. 1 FZV" {
		t.Fatalf("legal basis: %+v %v", r, err)
	}
	log, err := s.Transfers(ctx, "c-1")
	if err != nil || len(log) != 2 {
		t.Fatalf("transparency log: %+v %v", log, err)
	}
	bases := map[string]string{}
	for _, r := range log {
		bases[r.Service] = r.Basis
		if len(r.Fields) == 0 || r.Recipient == "" || r.At.IsZero() {
			t.Fatalf("log entry %+v", r)
		}
	}
	if bases["vehicle_address"] != "§ 15 Abs. 1 FZV" || !strings.HasPrefix(bases["waste_bins"], "cs-") {
		t.Fatalf("bases in the log: %v", bases)
	}
	if other, _ := s.Transfers(ctx, "c-2"); len(other) != 0 {
		t.Fatalf("c-2 sees c-1's transfers")
	}
}

func TestExpiry(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	exp := time.Now().Add(time.Hour)
	req := wasteConsent()
	req.ExpiresAt = &exp
	c, _, err := s.Give(ctx, "c-1", req)
	if err != nil {
		t.Fatal(err)
	}
	s.Clock = func() time.Time { return time.Now().Add(2 * time.Hour) }
	if _, err := authorize(ctx, s, db, wasteTransfer("c-1", "p-1")); !errors.Is(err, consent.ErrNoConsent) {
		t.Fatalf("expired consent authorised: %v", err)
	}
	if n, err := s.ExpireDue(ctx); err != nil || n != 1 {
		t.Fatalf("ExpireDue: %d %v", n, err)
	}
	got, _ := s.Get(ctx, "c-1", c.ID)
	if got.Status != consent.StatusExpired || got.History[len(got.History)-1].Kind != "expired" {
		t.Fatalf("after expiry: %+v", got)
	}
	if n, _ := s.ExpireDue(ctx); n != 0 {
		t.Fatalf("expired twice: %d", n)
	}
}

// TestWithdrawalRacesTransfer runs 120 withdrawals against 120 transfers on
// the same consents at once: every transfer is either logged (and its
// transaction committed before the withdrawal) or refused, never half-done.
func TestWithdrawalRacesTransfer(t *testing.T) {
	ctx := context.Background()
	s, db := newStore(t)
	const pairs = 120
	ids := make([]string, pairs)
	for i := range pairs {
		c, _, err := s.Give(ctx, fmt.Sprintf("c-%d", i), wasteConsent())
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = c.ID
	}
	var wg sync.WaitGroup
	results := make([]error, pairs)
	for i := range pairs {
		citizen := fmt.Sprintf("c-%d", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			if _, _, err := s.Withdraw(ctx, citizen, ids[i], ""); err != nil {
				t.Errorf("withdraw %d: %v", i, err)
			}
		}()
		go func() {
			defer wg.Done()
			_, results[i] = authorize(ctx, s, db, wasteTransfer(citizen, fmt.Sprintf("p-%d", i)))
		}()
	}
	wg.Wait()
	logged, refused := 0, 0
	for i, err := range results {
		citizen := fmt.Sprintf("c-%d", i)
		var n int
		_ = db.QueryRow(ctx, "SELECT count(*) FROM transfers WHERE citizen_id = $1", citizen).Scan(&n)
		switch {
		case err == nil:
			logged++
			// The transfer's row was written before the withdrawal event:
			// the withdrawal waited for the transfer's transaction.
			var before bool
			if err := db.QueryRow(ctx, `SELECT t.at < e.at FROM transfers t, consent_events e
				WHERE t.citizen_id = $1 AND e.consent_id = $2 AND e.kind = 'withdrawn'`, citizen, ids[i]).Scan(&before); err != nil || !before {
				t.Fatalf("pair %d: transfer not ordered before the withdrawal (%v)", i, err)
			}
			if n != 1 {
				t.Fatalf("pair %d: %d log rows for one transfer", i, n)
			}
		case errors.Is(err, consent.ErrNoConsent):
			refused++
			if n != 0 {
				t.Fatalf("pair %d: refused transfer left %d log rows", i, n)
			}
		default:
			t.Fatalf("pair %d: %v", i, err)
		}
	}
	if logged+refused != pairs {
		t.Fatalf("logged %d + refused %d != %d", logged, refused, pairs)
	}
	t.Logf("%d transfers won the race, %d were refused", logged, refused)
}

// TestConsentsPerCitizenAreBounded: a citizen giving consents through the
// API in parallel ends at the bound exactly, texts beyond their limit are
// refused, and the consent that accepting a proposal records still goes in.
func TestConsentsPerCitizenAreBounded(t *testing.T) {
	ctx := context.Background()
	s, _ := newStore(t)
	var wg sync.WaitGroup
	var given, refused atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				r := wasteConsent()
				r.Method = "portal"
				_, _, err := s.Give(ctx, "c-greedy", r)
				var inv *consent.InvalidError
				switch {
				case err == nil:
					given.Add(1)
				case errors.As(err, &inv) && inv.Code == "too_many_consents":
					refused.Add(1)
					return
				default:
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if given.Load() != consent.MaxActivePerCitizen || refused.Load() != 8 {
		t.Fatalf("%d given, %d refused; want %d and 8", given.Load(), refused.Load(), consent.MaxActivePerCitizen)
	}
	accept := wasteConsent()
	accept.Method = "proposal-accept"
	if _, _, err := s.Give(ctx, "c-greedy", accept); err != nil {
		t.Fatalf("accepting a proposal past the bound: %v", err)
	}
	long := wasteConsent()
	long.NoticeVersion = strings.Repeat("v", 65)
	var inv *consent.InvalidError
	if _, _, err := s.Give(ctx, "c-other", long); !errors.As(err, &inv) || inv.Code != "text_too_long" {
		t.Fatalf("a notice version of 65 characters: %v", err)
	}
}
