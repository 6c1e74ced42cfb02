package agencies_test

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// TestListSince: an agency with a long queue reads on from the newest
// submission it has seen; it sees only its own, oldest first.
func TestListSince(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	for i, agency := range []string{"familienkasse", "familienkasse", "standesamt", "familienkasse"} {
		// Seeded directly: the store's Submit needs a whole consent trail.
		if _, err := db.Exec(ctx, `INSERT INTO submissions (id, proposal_id, agency, service, application, created_at)
			VALUES ($1, $2, $3, 'child_benefit', '{}', $4)`, fmt.Sprintf("s-%d", i), fmt.Sprintf("p-%d", i), agency,
			t0.Add(time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	s := agencies.NewPGStore(db, nil)
	ids := func(since *time.Time) string {
		got, err := s.ListForAgency(ctx, "familienkasse", "open", since)
		if err != nil {
			t.Fatal(err)
		}
		out := ""
		for _, x := range got {
			out += x.ID + " "
		}
		return out
	}
	if got := ids(nil); got != "s-0 s-1 s-3 " {
		t.Fatalf("all open: %q", got)
	}
	since := t0.Add(time.Minute)
	if got := ids(&since); got != "s-1 s-3 " {
		t.Fatalf("since the second: %q", got)
	}
	later := t0.Add(time.Hour)
	if got := ids(&later); got != "" {
		t.Fatalf("since an hour later: %q", got)
	}
}
