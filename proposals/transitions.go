package proposals

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
)

// next is the proposal's life in one place: the statuses each status may
// move to. A status without successors is final. Every write of a
// proposal's status goes through this table, whichever package asks.
var next = map[Status][]Status{
	StatusPending:   {StatusAccepted, StatusDeclined, StatusExpired, StatusWithdrawn, StatusFailed},
	StatusAccepted:  {StatusSubmitted, StatusWithdrawn, StatusFailed},
	StatusSubmitted: {StatusGranted, StatusRejected, StatusFailed},
}

// Final reports whether the status never changes again.
func (s Status) Final() bool { return s.Valid() && len(next[s]) == 0 }

// CanMove reports whether a proposal in status from may move to status to.
func CanMove(from, to Status) bool {
	for _, s := range next[from] {
		if s == to {
			return true
		}
	}
	return false
}

// from lists the statuses that may move to to.
func from(to Status) []string {
	var out []string
	for s := range next {
		if CanMove(s, to) {
			out = append(out, string(s))
		}
	}
	return out
}

// Reasons a proposal ends with, as the journeys and the stores record them
// (and as they travel in workflow histories: the strings never change).
const (
	ReasonConsentWithdrawn = "consent_withdrawn"
	ReasonSiblingAccepted  = "sibling_accepted"
	ReasonSuperseded       = "superseded"
	ReasonDeadline         = "deadline passed"
	ReasonAnswersMissing   = "answers_missing"
	ReasonSubmission       = "submission failed"
)

// Decision is the citizen's answer to a proposal.
type Decision string

const (
	Accept  Decision = "accept"
	Decline Decision = "decline"
)

// Valid reports whether d is accept or decline.
func (d Decision) Valid() bool { return d == Accept || d == Decline }

// BasisKind is the legal ground of a transfer.
type BasisKind string

const (
	// BasisLaw: a law allows the transfer; Basis.Reference names it.
	BasisLaw BasisKind = "law"
	// BasisConsent: the citizen's consent for the recipient and purpose.
	BasisConsent BasisKind = "consent"
)

// Errors callers branch on.
var (
	// ErrTransition: the move is not in the proposal's life (a bug of the
	// caller, never retried).
	ErrTransition = errors.New("proposal status change not allowed")
	// ErrNotAccepted: a transfer was asked for a proposal that is no
	// longer accepted (withdrawn, declined, expired, or never accepted).
	ErrNotAccepted = errors.New("proposal is not accepted")
	// ErrNotPending: the proposal was decided or has ended.
	ErrNotPending = errors.New("proposal is no longer pending")
	// ErrInvalidDecision: a decision other than accept or decline.
	ErrInvalidDecision = errors.New("decision must be accept or decline")
)

// SetStatusTx moves the proposal to status inside tx and returns the
// status it has now. The same status again, or any status once a final one
// is reached, changes nothing: a retried step, or a journey ending a
// proposal that a withdrawal ended first (then the withdrawal's status is
// returned, and that is the proposal's outcome). Any other move outside
// the proposal's life is ErrTransition.
func SetStatusTx(ctx context.Context, tx pgx.Tx, id string, to Status, reason string) (Status, error) {
	var cur Status
	err := tx.QueryRow(ctx, `SELECT status FROM proposals WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", fmt.Errorf("proposals: set status of %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return "", fmt.Errorf("proposals: set status of %s: %w", id, err)
	}
	switch {
	case cur == to || cur.Final():
		return cur, nil
	case !CanMove(cur, to):
		return cur, fmt.Errorf("proposals: %s from %s to %s: %w", id, cur, to, ErrTransition)
	}
	if _, err := tx.Exec(ctx, `UPDATE proposals SET status = $2, status_reason = $3, updated_at = now() WHERE id = $1`,
		id, to, reason); err != nil {
		return "", fmt.Errorf("proposals: set status of %s: %w", id, err)
	}
	return to, nil
}

// MarkSubmittedTx records, inside the transaction that carries the
// transfer, that the proposal went to its agency. Only an accepted
// proposal may be submitted: any other status is ErrNotAccepted and the
// caller's transaction (with its transfer-log row) must roll back. A
// proposal submitted before (a retried step) is left as it is. The row is
// locked until tx ends, so a withdrawal either comes first and is seen
// here, or waits and finds the proposal submitted.
func MarkSubmittedTx(ctx context.Context, tx pgx.Tx, id string) error {
	var cur Status
	err := tx.QueryRow(ctx, `SELECT status FROM proposals WHERE id = $1 FOR UPDATE`, id).Scan(&cur)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("proposals: submit %s: %w", id, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("proposals: submit %s: %w", id, err)
	}
	switch cur {
	case StatusSubmitted, StatusGranted, StatusRejected:
		return nil
	case StatusAccepted:
		_, err := tx.Exec(ctx, `UPDATE proposals SET status = 'submitted', updated_at = now() WHERE id = $1`, id)
		if err != nil {
			return fmt.Errorf("proposals: submit %s: %w", id, err)
		}
		return nil
	}
	return fmt.Errorf("proposals: submit %s (%s): %w", id, cur, ErrNotAccepted)
}

// Withdrawn is a proposal a withdrawal took back.
type Withdrawn struct {
	ProposalID string
	Service    string
}

// WithdrawTx takes back, inside tx, the citizen's proposals that may still
// be withdrawn (not yet on their way to an agency): those for one service
// and recipient, or with both empty all of them.
func WithdrawTx(ctx context.Context, tx pgx.Tx, citizenID, service, recipient, reason string) ([]Withdrawn, error) {
	rows, err := tx.Query(ctx, `UPDATE proposals SET status = 'withdrawn', status_reason = $4, updated_at = now()
		WHERE citizen_id = $1 AND status = ANY($5)
		  AND ($2 = '' OR service = $2) AND ($3 = '' OR recipient_id = $3)
		RETURNING id, service`, citizenID, service, recipient, reason, from(StatusWithdrawn))
	if err != nil {
		return nil, fmt.Errorf("proposals: withdraw: %w", err)
	}
	out, err := pgx.CollectRows(rows, pgx.RowToStructByPos[Withdrawn])
	if err != nil {
		return nil, fmt.Errorf("proposals: withdraw: %w", err)
	}
	return out, nil
}
