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

// checkOutcomes holds the read model to the journeys: every proposal of
// the events whose id starts with prefix shows the status its Proposal
// workflow ended with, and no transfer or submission exists for one that
// ended declined, expired or withdrawn. It returns the number checked.
func (p *devProc) checkOutcomes(t *testing.T, conn *pgx.Conn, prefix string) int {
	t.Helper()
	ctx := context.Background()
	keyHex, err := os.ReadFile(filepath.Join(p.dir, "payload-codec-key"))
	if err != nil {
		t.Fatal(err)
	}
	key, err := codec.ParseKey(string(keyHex))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	tc, err := client.Dial(client.Options{HostPort: p.temporal, Namespace: "default", DataConverter: c.DataConverter()})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	rows, err := conn.Query(ctx, `SELECT id, service, status FROM proposals WHERE life_event_id LIKE $1 || '%' ORDER BY id`, prefix)
	if err != nil {
		t.Fatal(err)
	}
	type row struct{ id, service, status string }
	all, err := pgx.CollectRows(rows, pgx.RowToStructByPos[row])
	if err != nil {
		t.Fatal(err)
	}
	mismatched := 0
	for _, r := range all {
		var outcome string
		if err := tc.GetWorkflow(ctx, "proposal/"+r.id, "").Get(ctx, &outcome); err != nil {
			t.Errorf("journey of %s (%s): %v", r.id, r.service, err)
			continue
		}
		if outcome != r.status {
			mismatched++
			if mismatched <= 10 {
				t.Errorf("%s (%s): the read model says %s, its journey ended %s", r.id, r.service, r.status, outcome)
			}
		}
	}
	if mismatched > 10 {
		t.Errorf("… %d proposals in all whose read model disagrees with their journey", mismatched)
	}
	var stray int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM proposals p WHERE p.life_event_id LIKE $1 || '%'
		AND p.status IN ('declined', 'expired', 'withdrawn')
		AND (EXISTS (SELECT 1 FROM transfers t WHERE t.proposal_id = p.id) OR EXISTS (SELECT 1 FROM submissions s WHERE s.proposal_id = p.id))`,
		prefix).Scan(&stray); err != nil {
		t.Fatal(err)
	}
	if stray != 0 {
		t.Errorf("%d proposals that ended declined, expired or withdrawn have a transfer or a submission", stray)
	}
	return len(all)
}
