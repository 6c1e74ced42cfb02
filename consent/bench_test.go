package consent_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/lifeevents/lifeevents/policies"
)

func percentiles(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(d[len(d)*99/100].Microseconds()), "p99-µs")
}

// BenchmarkAuthorize measures the transfer gate on a table of 1M consents
// over 100k citizens, next to a raw indexed point query on the same table
// and a raw prepared eval of the data-sharing policy, in the same run.
func BenchmarkAuthorize(b *testing.B) {
	ctx := context.Background()
	s, db := newStore(b)
	const citizens, perCitizen = 100_000, 10
	load := time.Now()
	purposes := []string{"waste_bins", "parking_permit", "dog_tax", "birth_certificate", "child_benefit", "parental_allowance"}
	consents := make([][]any, 0, citizens*perCitizen)
	events := make([][]any, 0, citizens*perCitizen)
	states := make([][]any, 0, citizens*perCitizen)
	for c := range citizens {
		for k := range perCitizen {
			id := fmt.Sprintf("cs-%d-%d", c, k)
			purpose, recipient := purposes[k%len(purposes)], "abfallwirtschaft-landkreis"
			if k >= len(purposes) {
				purpose = fmt.Sprintf("other-%d", k)
			}
			consents = append(consents, []any{id, fmt.Sprintf("c-%d", c), "proposal", purpose, "LK", recipient,
				[]byte(`["address","identity"]`), []byte(`["applicantId","newAddress"]`), "consent", "portal", "v1"})
			events = append(events, []any{id, "given", "portal"})
			states = append(states, []any{id, "active"})
		}
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"consents"}, []string{"id", "citizen_id", "kind", "purpose", "controller", "recipient",
		"data_categories", "fields", "legal_basis", "collection_method", "notice_version"}, pgx.CopyFromRows(consents)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"consent_events"}, []string{"consent_id", "kind", "method"}, pgx.CopyFromRows(events)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.CopyFrom(ctx, pgx.Identifier{"consent_state"}, []string{"consent_id", "status"}, pgx.CopyFromRows(states)); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Exec(ctx, "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded %d consents in %s", len(consents), time.Since(load).Round(time.Millisecond))

	rnd := rand.New(rand.NewPCG(1, 2))
	seq := 0
	b.Run("authorize", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			seq++
			t := wasteTransfer(fmt.Sprintf("c-%d", rnd.IntN(citizens)), fmt.Sprintf("bench-%d", seq))
			t0 := time.Now()
			tx, err := db.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Authorize(ctx, tx, t); err != nil {
				b.Fatal(err)
			}
			_ = tx.Rollback(ctx)
			lat = append(lat, time.Since(t0))
		}
		percentiles(b, lat)
	})
	b.Run("raw-point-query", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			citizen := fmt.Sprintf("c-%d", rnd.IntN(citizens))
			t0 := time.Now()
			tx, err := db.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			var id string
			var fields []byte
			if err := tx.QueryRow(ctx, `SELECT id, fields FROM consents WHERE citizen_id = $1 AND purpose = $2 AND recipient = $3`,
				citizen, "waste_bins", "abfallwirtschaft-landkreis").Scan(&id, &fields); err != nil {
				b.Fatal(err)
			}
			_ = tx.Rollback(ctx)
			lat = append(lat, time.Since(t0))
		}
		percentiles(b, lat)
	})
	// The log row Authorize writes, alone: what a transfer costs beyond the
	// read even when nothing is checked.
	b.Run("raw-log-insert", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			seq++
			t0 := time.Now()
			tx, err := db.Begin(ctx)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO transfers (id, citizen_id, proposal_id, service, recipient, purpose, basis_kind, basis_reference, fields)
				VALUES ($1, $2, $3, 'waste_bins', 'abfallwirtschaft-landkreis', 'waste_bins', 'consent', 'cs-x', '["applicantId","newAddress"]')`,
				fmt.Sprintf("t-raw-%d", seq), fmt.Sprintf("c-%d", rnd.IntN(citizens)), fmt.Sprintf("bench-%d", seq)); err != nil {
				b.Fatal(err)
			}
			_ = tx.Rollback(ctx)
			lat = append(lat, time.Since(t0))
		}
		percentiles(b, lat)
	})
	b.Run("raw-policy-eval", func(b *testing.B) {
		bundle, _ := policies.DefaultBundle()
		modules := map[string]*ast.Module{}
		for _, m := range bundle.Modules {
			modules[m.Path] = m.Parsed
		}
		compiler := ast.NewCompiler()
		compiler.Compile(modules)
		pq, err := rego.New(rego.Query(policies.SharingQuery), rego.Compiler(compiler),
			rego.Store(inmem.NewFromObject(bundle.Data))).PrepareForEval(ctx)
		if err != nil {
			b.Fatal(err)
		}
		input := map[string]any{"service": "waste_bins", "municipality": "03353022", "recipient": "abfallwirtschaft-landkreis",
			"basis": "consent", "fields": []any{"applicantId", "newAddress"}, "optionalConsent": true}
		lat := make([]time.Duration, 0, b.N)
		for range b.N {
			t0 := time.Now()
			if _, err := pq.Eval(ctx, rego.EvalInput(input)); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(t0))
		}
		percentiles(b, lat)
	})
}
