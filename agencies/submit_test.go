package agencies_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/proposals"
)

// loggingGate allows every transfer and logs it in the caller's
// transaction, as consent.Store does: what the submission refuses must
// take the log row with it.
type loggingGate struct{}

func (loggingGate) Authorize(ctx context.Context, tx pgx.Tx, t consent.Transfer) (consent.Record, error) {
	_, err := tx.Exec(ctx, `INSERT INTO transfers (id, citizen_id, proposal_id, service, recipient, purpose, basis_kind, basis_reference, fields)
		VALUES ('t-'||$1, $2, $1, $3, $4, $3, 'law', 'BKGG', '[]') ON CONFLICT DO NOTHING`, t.ProposalID, t.CitizenID, t.Service, t.Recipient)
	return consent.Record{}, err
}

// TestSubmitOnlyAcceptedProposals: a transfer and a submission exist only
// for a proposal that was accepted when it was submitted; one withdrawn,
// declined, expired or still pending is refused with nothing logged.
func TestSubmitOnlyAcceptedProposals(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	ps := proposals.NewPGStore(db)
	subs := agencies.NewPGStore(db, loggingGate{})
	submit := func(id string) error {
		_, err := subs.Submit(ctx, consent.Transfer{CitizenID: "c-1", ProposalID: id, Service: "child_benefit", Recipient: "familienkasse",
			BasisKind: proposals.BasisLaw}, map[string]any{"proposalId": id})
		return err
	}
	count := func(table, id string) int {
		var n int
		if err := db.QueryRow(ctx, `SELECT count(*) FROM `+table+` WHERE proposal_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	for _, tc := range []struct {
		path []proposals.Status
		ok   bool
	}{
		{[]proposals.Status{proposals.StatusAccepted}, true},
		{[]proposals.Status{proposals.StatusAccepted, proposals.StatusWithdrawn}, false},
		{[]proposals.Status{proposals.StatusDeclined}, false},
		{[]proposals.Status{proposals.StatusExpired}, false},
		{nil, false}, // pending
	} {
		p := proposals.Proposal{ID: "p-" + string(proposals.StatusPending), LifeEventID: "ev-1", CitizenID: "c-1", Service: "child_benefit",
			Status: proposals.StatusPending, Basis: proposals.Basis{Kind: proposals.BasisLaw, Reference: "BKGG"}}
		for _, s := range tc.path {
			p.ID += "-" + string(s)
		}
		if _, err := ps.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.path {
			if now, err := ps.SetStatus(ctx, p.ID, s, ""); err != nil || now != s {
				t.Fatalf("%s: to %s: %v %v", p.ID, s, now, err)
			}
		}
		err := submit(p.ID)
		if tc.ok {
			if err != nil {
				t.Fatalf("%s: %v", p.ID, err)
			}
			if err := submit(p.ID); err != nil { // a retried step
				t.Fatalf("%s again: %v", p.ID, err)
			}
			if got, _ := ps.GetForCitizen(ctx, "c-1", p.ID); got.Status != proposals.StatusSubmitted {
				t.Fatalf("%s: status %s", p.ID, got.Status)
			}
		} else if !errors.Is(err, proposals.ErrNotAccepted) {
			t.Fatalf("%s: submitted (err %v)", p.ID, err)
		}
		want := 0
		if tc.ok {
			want = 1
		}
		if tr, sub := count("transfers", p.ID), count("submissions", p.ID); tr != want || sub != want {
			t.Fatalf("%s: %d transfers and %d submissions, want %d each", p.ID, tr, sub, want)
		}
	}
}

// TestWithdrawalRacesSubmission: a withdrawal and a submission of the same
// accepted proposal at the same moment. Whichever comes first wins, and
// the read model says which: submitted with one transfer, or withdrawn with
// none.
func TestWithdrawalRacesSubmission(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	ps := proposals.NewPGStore(db)
	subs := agencies.NewPGStore(db, loggingGate{})
	const n = 30
	for i := range n {
		p := proposals.Proposal{ID: fmt.Sprintf("p-%02d", i), LifeEventID: "ev-1", CitizenID: fmt.Sprintf("c-%02d", i), Service: "dog_tax",
			Status: proposals.StatusPending, Basis: proposals.Basis{Kind: proposals.BasisLaw, Reference: "KAG"}}
		if _, err := ps.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if _, err := ps.SetStatus(ctx, p.ID, proposals.StatusAccepted, ""); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2*n)
	for i := range n {
		id, citizen := fmt.Sprintf("p-%02d", i), fmt.Sprintf("c-%02d", i)
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, err := subs.Submit(ctx, consent.Transfer{CitizenID: citizen, ProposalID: id, Service: "dog_tax", Recipient: "tax",
				BasisKind: proposals.BasisLaw}, nil)
			if err != nil && !errors.Is(err, proposals.ErrNotAccepted) {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			errs <- pgx.BeginFunc(ctx, db, func(tx pgx.Tx) error {
				_, err := proposals.WithdrawTx(ctx, tx, citizen, "", "", proposals.ReasonConsentWithdrawn)
				return err
			})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	var bad, submitted int
	err := db.QueryRow(ctx, `SELECT
		count(*) FILTER (WHERE (p.status = 'submitted') <> (t.id IS NOT NULL) OR p.status NOT IN ('submitted', 'withdrawn')),
		count(*) FILTER (WHERE p.status = 'submitted')
		FROM proposals p LEFT JOIN transfers t ON t.proposal_id = p.id`).Scan(&bad, &submitted)
	if err != nil {
		t.Fatal(err)
	}
	if bad != 0 {
		t.Fatalf("%d of %d proposals disagree with the transfer log", bad, n)
	}
	t.Logf("%d submitted, %d withdrawn first", submitted, n-submitted)
}

// denyingGate refuses every transfer, as a policy activated meanwhile may.
type denyingGate struct{}

func (denyingGate) Authorize(context.Context, pgx.Tx, consent.Transfer) (consent.Record, error) {
	return consent.Record{}, consent.ErrPolicyDenied
}

// TestRetriedSubmissionStands: a submission that committed is returned as
// it was when the step is retried (its completion lost in a crash), even if
// the policy would now refuse the transfer: it happened already.
func TestRetriedSubmissionStands(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	ps := proposals.NewPGStore(db)
	p := proposals.Proposal{ID: "p-1", LifeEventID: "ev-1", CitizenID: "c-1", Service: "child_benefit", Status: proposals.StatusPending,
		Basis: proposals.Basis{Kind: proposals.BasisLaw, Reference: "BKGG"}}
	if _, err := ps.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := ps.SetStatus(ctx, p.ID, proposals.StatusAccepted, ""); err != nil {
		t.Fatal(err)
	}
	tr := consent.Transfer{CitizenID: "c-1", ProposalID: p.ID, Service: "child_benefit", Recipient: "familienkasse", BasisKind: proposals.BasisLaw}
	first, err := agencies.NewPGStore(db, loggingGate{}).Submit(ctx, tr, nil)
	if err != nil {
		t.Fatal(err)
	}
	again, err := agencies.NewPGStore(db, denyingGate{}).Submit(ctx, tr, nil)
	if err != nil || again.ID != first.ID {
		t.Fatalf("retried submission: %+v %v", again, err)
	}
	if _, err := agencies.NewPGStore(db, denyingGate{}).Submit(ctx, consent.Transfer{CitizenID: "c-1", ProposalID: "p-2"}, nil); !errors.Is(err, consent.ErrPolicyDenied) {
		t.Fatalf("a new submission is still gated: %v", err)
	}
}
