package policies

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/jackc/pgx/v5/pgxpool"
)

// PGDecisionLog records decisions for audit: which revision decided what on
// which input (by hash: the input itself holds personal data).
type PGDecisionLog struct{ db *pgxpool.Pool }

// NewPGDecisionLog returns a decision log on db.
func NewPGDecisionLog(db *pgxpool.Pool) *PGDecisionLog { return &PGDecisionLog{db: db} }

// Record stores one decision.
func (l *PGDecisionLog) Record(ctx context.Context, query string, d Decision) error {
	reasons, _ := json.Marshal(d.Reasons)
	if _, err := l.db.Exec(ctx, `INSERT INTO policy_decisions (revision, query, input_hash, allow, reasons) VALUES ($1,$2,$3,$4,$5)`,
		d.Revision, query, d.InputHash, d.Allow, reasons); err != nil {
		return fmt.Errorf("policies: record decision: %w", err)
	}
	return nil
}
