package proposals_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/proposals"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func sample(event, citizen string) proposals.Proposal {
	d := time.Date(2026, 12, 6, 0, 0, 0, 0, time.UTC)
	return proposals.Proposal{
		ID: proposals.ID(event, "waste-bins", citizen), LifeEventID: event, CitizenID: citizen,
		Service: "waste-bins", Status: proposals.StatusPending,
		Recipient: proposals.Recipient{ID: "waste-03353022", Name: "Abfallwirtschaft Winsen"},
		Purpose:   "order waste bins", Basis: proposals.Basis{Kind: "consent", Reference: "proactive-offers"},
		Fields:   []proposals.Field{{Name: "address", Category: "address", Value: "Am Markt 12"}},
		Deadline: &d,
	}
}

func TestCreateIsIdempotentAndScopedToCitizen(t *testing.T) {
	ctx := context.Background()
	s := proposals.NewPGStore(pgtest.New(t))
	p := sample("ev-1", "c-1001")
	if created, err := s.Create(ctx, p); err != nil || !created {
		t.Fatalf("first create: %v %v", created, err)
	}
	if created, err := s.Create(ctx, p); err != nil || created {
		t.Fatalf("second create: created=%v err=%v", created, err)
	}
	if _, err := s.Create(ctx, sample("ev-2", "c-2002")); err != nil {
		t.Fatal(err)
	}

	mine, err := s.ListForCitizen(ctx, "c-1001", "")
	if err != nil {
		t.Fatal(err)
	}
	if len(mine) != 1 || mine[0].ID != p.ID || mine[0].Fields[0].Value != "Am Markt 12" || !mine[0].Deadline.Equal(*p.Deadline) {
		t.Fatalf("list = %+v", mine)
	}
	if none, _ := s.ListForCitizen(ctx, "c-1001", proposals.StatusGranted); len(none) != 0 {
		t.Fatalf("status filter returned %d", len(none))
	}
	if _, err := s.GetForCitizen(ctx, "c-2002", p.ID); !errors.Is(err, proposals.ErrNotFound) {
		t.Fatalf("another citizen's proposal: err = %v", err)
	}
	got, err := s.GetForCitizen(ctx, "c-1001", p.ID)
	if err != nil || got.Recipient.Name != "Abfallwirtschaft Winsen" {
		t.Fatalf("get: %+v %v", got, err)
	}
}

func TestSupersedeAndClaims(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	s := proposals.NewPGStore(db)
	for _, ev := range []string{"move-1", "move-2"} {
		if _, err := db.Exec(ctx, `INSERT INTO life_events (id, type, source, workflow_id) VALUES ($1, 'lifeevents.move.registered.v1', 's', 'w')`, ev); err != nil {
			t.Fatal(err)
		}
	}
	old := sample("move-1", "c-1001")
	done := sample("move-1", "c-1001")
	done.ID, done.Service = "p-done", "dog_tax"
	done.Status = proposals.StatusGranted
	for _, p := range []proposals.Proposal{old, done, sample("move-2", "c-1001"), sample("move-1", "c-9")} {
		if _, err := s.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	ids, err := s.Superseded(ctx, "move-2", []string{"c-1001"})
	if err != nil || len(ids) != 1 || ids[0] != old.ID {
		t.Fatalf("superseded %v %v", ids, err)
	}
	if now, _ := s.SetStatus(ctx, old.ID, proposals.StatusWithdrawn, "superseded"); now != proposals.StatusWithdrawn {
		t.Fatal("pending proposal not withdrawn")
	}
	if now, _ := s.SetStatus(ctx, old.ID, proposals.StatusGranted, ""); now != proposals.StatusWithdrawn {
		t.Fatal("a final status changed")
	}
	for i, want := range []bool{true, true, false} {
		id := "p-a"
		if i == 2 {
			id = "p-b"
		}
		if won, err := s.ClaimExclusive(ctx, "birth-1", "child_benefit", id); err != nil || won != want {
			t.Fatalf("claim %d by %s: %v %v", i, id, won, err)
		}
	}
}

// TestClaimExclusiveRace: parents accepting at the same moment each get an
// answer at the first try, and exactly one of them wins.
func TestClaimExclusiveRace(t *testing.T) {
	ctx := context.Background()
	s := proposals.NewPGStore(pgtest.New(t))
	for round := range 20 {
		event := fmt.Sprintf("birth-%d", round)
		var wg sync.WaitGroup
		won := make([]bool, 4)
		errs := make([]error, 4)
		for i := range won {
			wg.Add(1)
			go func() {
				defer wg.Done()
				won[i], errs[i] = s.ClaimExclusive(ctx, event, "child_benefit", fmt.Sprintf("p-%d", i))
			}()
		}
		wg.Wait()
		winners := 0
		for i := range won {
			if errs[i] != nil {
				t.Fatalf("round %d, claim %d: %v", round, i, errs[i])
			}
			if won[i] {
				winners++
			}
		}
		if winners != 1 {
			t.Fatalf("round %d: %d winners, want 1", round, winners)
		}
	}
}

// TestTransitions: the proposal's life is one table; a move outside it is
// refused, a final status never changes, the same status again is a no-op.
func TestTransitions(t *testing.T) {
	ctx := context.Background()
	s := proposals.NewPGStore(pgtest.New(t))
	p := sample("ev-1", "c-1")
	if _, err := s.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetStatus(ctx, p.ID, proposals.StatusGranted, ""); !errors.Is(err, proposals.ErrTransition) {
		t.Fatalf("pending to granted: %v", err)
	}
	if _, err := s.SetStatus(ctx, "p-none", proposals.StatusAccepted, ""); !errors.Is(err, proposals.ErrNotFound) {
		t.Fatalf("unknown proposal: %v", err)
	}
	// The journey asks, the proposal answers with its status afterwards:
	// a final one stays whatever is asked later.
	for _, step := range []struct{ to, now proposals.Status }{
		{proposals.StatusAccepted, proposals.StatusAccepted}, {proposals.StatusAccepted, proposals.StatusAccepted},
		{proposals.StatusWithdrawn, proposals.StatusWithdrawn}, {proposals.StatusSubmitted, proposals.StatusWithdrawn},
		{proposals.StatusExpired, proposals.StatusWithdrawn}} {
		now, err := s.SetStatus(ctx, p.ID, step.to, proposals.ReasonConsentWithdrawn)
		if err != nil || now != step.now {
			t.Fatalf("to %s: now %s, err %v; want %s", step.to, now, err, step.now)
		}
	}
	got, _ := s.GetForCitizen(ctx, "c-1", p.ID)
	if got.Status != proposals.StatusWithdrawn || got.Reason != proposals.ReasonConsentWithdrawn {
		t.Fatalf("after a final status: %s %q", got.Status, got.Reason)
	}
	for from, tos := range map[proposals.Status][]proposals.Status{
		proposals.StatusSubmitted: {proposals.StatusGranted, proposals.StatusRejected, proposals.StatusFailed},
		proposals.StatusGranted:   {},
	} {
		for _, to := range tos {
			if !proposals.CanMove(from, to) {
				t.Errorf("%s to %s refused", from, to)
			}
		}
		if proposals.CanMove(from, proposals.StatusWithdrawn) {
			t.Errorf("%s may be withdrawn", from)
		}
	}
	if !proposals.StatusExpired.Final() || proposals.StatusAccepted.Final() || proposals.Status("x").Final() {
		t.Error("Final")
	}
}
