package e2e

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/jackc/pgx/v5"
	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/codec"
)

// querier is a connection or a pool.
type querier interface {
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// checkOutcomes holds the read model to the journeys: every proposal of
// the events whose id starts with prefix shows the status its Proposal
// workflow ended with, and no transfer or submission exists for one that
// ended declined, expired or withdrawn. It returns the number checked.
func (p *devProc) checkOutcomes(t *testing.T, conn *pgx.Conn, prefix string) int {
	t.Helper()
	keyHex, err := os.ReadFile(filepath.Join(p.dir, "payload-codec-key"))
	if err != nil {
		t.Fatal(err)
	}
	return checkOutcomes(t, conn, p.temporal, string(keyHex), "life_event_id LIKE '"+prefix+"%'")
}

// checkOutcomes is devProc.checkOutcomes for the proposals that match
// where, on any Temporal server whose payloads keyHex decrypts.
func checkOutcomes(t testing.TB, conn querier, temporal, keyHex, where string) int {
	t.Helper()
	ctx := context.Background()
	key, err := codec.ParseKey(keyHex)
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: temporal, Namespace: "default", DataConverter: c.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	rows, err := conn.Query(ctx, `SELECT id, service, status FROM proposals WHERE `+where+` ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ ID, Service, Status string }
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	mismatched := 0
	for _, r := range all {
		var outcome string
		if err := tc.GetWorkflow(ctx, "proposal/"+r.ID, "").Get(ctx, &outcome); err != nil {
			t.Errorf("journey of %s (%s): %v", r.ID, r.Service, err)
			continue
		}
		if outcome != r.Status {
			mismatched++
			if mismatched <= 10 {
				t.Errorf("%s (%s): the read model says %s, its journey ended %s", r.ID, r.Service, r.Status, outcome)
			}
		}
	}
	if mismatched > 10 {
		t.Errorf("… %d proposals in all whose read model disagrees with their journey", mismatched)
	}
	var stray int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM proposals p WHERE `+where+`
		AND p.status IN ('declined', 'expired', 'withdrawn')
		AND (EXISTS (SELECT 1 FROM transfers t WHERE t.proposal_id = p.id) OR EXISTS (SELECT 1 FROM submissions s WHERE s.proposal_id = p.id))`).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Errorf("%d proposals that ended declined, expired or withdrawn have a transfer or a submission", stray)
	}
	return len(all)
}
