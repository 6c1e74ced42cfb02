// Package agencies carries accepted applications to the agencies and their
// answers back. A submission is written in the same transaction as the
// transfer it authorises; agencies pull their own submissions over the API
// (or receive them by webhook) and report granted or rejected.
package agencies

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/proposals"
)

// Submission is one application addressed to an agency.
type Submission struct {
	ID          string          `json:"id"`
	ProposalID  string          `json:"proposalId"`
	Agency      string          `json:"agency"`
	Service     string          `json:"service"`
	Application json.RawMessage `json:"application"`
	Status      string          `json:"status"`
	Note        string          `json:"note,omitempty"`
	CreatedAt   time.Time       `json:"createdAt"`
	DecidedAt   *time.Time      `json:"decidedAt"`
}

// Gate authorises and logs a transfer inside a transaction.
type Gate interface {
	Authorize(ctx context.Context, tx pgx.Tx, t consent.Transfer) (consent.Record, error)
}

// Errors callers branch on.
var (
	ErrNotFound  = errors.New("submission not found")
	ErrDecided   = errors.New("submission already decided")
	ErrBadResult = errors.New("result must be granted or rejected")
)

// PGStore keeps submissions in Postgres.
type PGStore struct {
	db   *pgxpool.Pool
	gate Gate
}

// NewPGStore returns the store; every submission passes gate first.
func NewPGStore(db *pgxpool.Pool, gate Gate) *PGStore { return &PGStore{db: db, gate: gate} }

// SubmissionID derives the submission id from the proposal id.
func SubmissionID(proposalID string) string {
	h := sha256.Sum256([]byte("submission\x00" + proposalID))
	return "s-" + hex.EncodeToString(h[:12])
}

// Submit authorises the transfer, logs it, records the submission and marks
// the proposal submitted, all in one transaction. A proposal submitted
// before is not submitted again; one that is no longer accepted (a
// withdrawal came first) is refused with proposals.ErrNotAccepted and
// nothing is logged or recorded.
func (s *PGStore) Submit(ctx context.Context, t consent.Transfer, application any) (Submission, error) {
	app, err := json.Marshal(application)
	if err != nil {
		return Submission{}, fmt.Errorf("agencies: application: %w", err)
	}
	// A retried step after a submission that committed: it stands, whatever
	// policy or consent say now (asking them again could refuse a transfer
	// that already happened).
	if prev, err := s.ForProposal(ctx, t.ProposalID); err == nil {
		return prev, nil
	}
	sub := Submission{ID: SubmissionID(t.ProposalID), ProposalID: t.ProposalID, Agency: t.Recipient, Service: t.Service, Application: app, Status: "open"}
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		if _, err := s.gate.Authorize(ctx, tx, t); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO submissions (id, proposal_id, agency, service, application) VALUES ($1,$2,$3,$4,$5)
			ON CONFLICT (proposal_id) DO NOTHING`, sub.ID, sub.ProposalID, sub.Agency, sub.Service, app); err != nil {
			return err
		}
		return proposals.MarkSubmittedTx(ctx, tx, t.ProposalID)
	})
	if err != nil {
		return Submission{}, fmt.Errorf("agencies: submit %s: %w", t.ProposalID, err)
	}
	return sub, nil
}

// ForProposal returns the submission of a proposal.
func (s *PGStore) ForProposal(ctx context.Context, proposalID string) (Submission, error) {
	var x Submission
	err := s.db.QueryRow(ctx, `SELECT id, proposal_id, agency, service, application, status, note, created_at, decided_at
		FROM submissions WHERE proposal_id = $1`, proposalID).Scan(&x.ID, &x.ProposalID, &x.Agency, &x.Service,
		&x.Application, &x.Status, &x.Note, &x.CreatedAt, &x.DecidedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Submission{}, ErrNotFound
	}
	if err != nil {
		return Submission{}, fmt.Errorf("agencies: submission of %s: %w", proposalID, err)
	}
	return x, nil
}

// ListForAgency returns the agency's submissions, oldest first, at most
// 1000, optionally only those with the status and those made at or after
// since (an agency with a long queue pages with the newest it has seen).
func (s *PGStore) ListForAgency(ctx context.Context, agency, status string, since *time.Time) ([]Submission, error) {
	rows, err := s.db.Query(ctx, `SELECT id, proposal_id, agency, service, application, status, note, created_at, decided_at
		FROM submissions WHERE agency = $1 AND ($2 = '' OR status = $2) AND ($3::timestamptz IS NULL OR created_at >= $3)
		ORDER BY created_at, id LIMIT 1000`, agency, status, since)
	if err != nil {
		return nil, fmt.Errorf("agencies: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Submission, error) {
		var x Submission
		err := r.Scan(&x.ID, &x.ProposalID, &x.Agency, &x.Service, &x.Application, &x.Status, &x.Note, &x.CreatedAt, &x.DecidedAt)
		x.CreatedAt = x.CreatedAt.UTC()
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("agencies: list: %w", err)
	}
	if out == nil {
		out = []Submission{}
	}
	return out, nil
}

// Result records the agency's answer to one of its own submissions and
// returns the submission, whose proposal's journey is then told.
func (s *PGStore) Result(ctx context.Context, agency, id, status, note string) (Submission, error) {
	if status != "granted" && status != "rejected" {
		return Submission{}, ErrBadResult
	}
	var x Submission
	err := s.db.QueryRow(ctx, `UPDATE submissions SET status = $3, note = $4, decided_at = now()
		WHERE id = $1 AND agency = $2 AND status = 'open' RETURNING id, proposal_id, agency, service, status`,
		id, agency, status, note).Scan(&x.ID, &x.ProposalID, &x.Agency, &x.Service, &x.Status)
	if errors.Is(err, pgx.ErrNoRows) {
		var cur string
		err := s.db.QueryRow(ctx, `SELECT status FROM submissions WHERE id = $1 AND agency = $2`, id, agency).Scan(&cur)
		if errors.Is(err, pgx.ErrNoRows) {
			return Submission{}, ErrNotFound
		}
		return Submission{}, ErrDecided
	}
	if err != nil {
		return Submission{}, fmt.Errorf("agencies: result %s: %w", id, err)
	}
	return x, nil
}

// Due returns open submissions older than age, for the sample agencies.
func (s *PGStore) Due(ctx context.Context, age time.Duration) ([]Submission, error) {
	rows, err := s.db.Query(ctx, `SELECT id, proposal_id, agency, service FROM submissions
		WHERE status = 'open' AND created_at <= now() - $1::interval ORDER BY created_at LIMIT 100`, fmt.Sprintf("%d milliseconds", age.Milliseconds()))
	if err != nil {
		return nil, fmt.Errorf("agencies: due: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Submission, error) {
		var x Submission
		return x, r.Scan(&x.ID, &x.ProposalID, &x.Agency, &x.Service)
	})
}
