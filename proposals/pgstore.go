package proposals

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGStore keeps proposals in Postgres.
type PGStore struct {
	db *pgxpool.Pool
}

// NewPGStore returns a store on the pool.
func NewPGStore(db *pgxpool.Pool) *PGStore { return &PGStore{db: db} }

// Create inserts the proposal unless one with its id exists, and reports
// whether it was new.
func (s *PGStore) Create(ctx context.Context, p Proposal) (bool, error) {
	fields, err := json.Marshal(p.Fields)
	if err != nil {
		return false, fmt.Errorf("proposals: create %s: %w", p.ID, err)
	}
	tag, err := s.db.Exec(ctx, `INSERT INTO proposals
		(id, life_event_id, citizen_id, service, status, recipient_id, recipient_name, purpose,
		 basis_kind, basis_reference, fields, deadline)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12)
		ON CONFLICT (id) DO NOTHING`,
		p.ID, p.LifeEventID, p.CitizenID, p.Service, p.Status, p.Recipient.ID, p.Recipient.Name, p.Purpose,
		p.Basis.Kind, p.Basis.Reference, fields, p.Deadline)
	if err != nil {
		return false, fmt.Errorf("proposals: create %s: %w", p.ID, err)
	}
	return tag.RowsAffected() == 1, nil
}

const columns = `id, life_event_id, citizen_id, service, status, status_reason, recipient_id, recipient_name,
	purpose, basis_kind, basis_reference, fields, deadline, created_at, updated_at`

func scan(row pgx.Row) (Proposal, error) {
	var p Proposal
	var fields []byte
	err := row.Scan(&p.ID, &p.LifeEventID, &p.CitizenID, &p.Service, &p.Status, &p.Reason, &p.Recipient.ID,
		&p.Recipient.Name, &p.Purpose, &p.Basis.Kind, &p.Basis.Reference, &fields, &p.Deadline, &p.CreatedAt, &p.UpdatedAt)
	if err != nil {
		return p, err
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	if p.Deadline != nil {
		d := p.Deadline.UTC()
		p.Deadline = &d
	}
	if err := json.Unmarshal(fields, &p.Fields); err != nil {
		return p, err
	}
	return p, nil
}

// ListForCitizen returns the citizen's proposals, newest first, optionally
// only those with the status.
func (s *PGStore) ListForCitizen(ctx context.Context, citizenID string, status Status) ([]Proposal, error) {
	return s.list(ctx, `WHERE citizen_id = $1 AND ($2 = '' OR status = $2) ORDER BY created_at DESC, id`, citizenID, string(status))
}

func (s *PGStore) list(ctx context.Context, where string, args ...any) ([]Proposal, error) {
	rows, err := s.db.Query(ctx, `SELECT `+columns+` FROM proposals `+where, args...)
	if err != nil {
		return nil, fmt.Errorf("proposals: list: %w", err)
	}
	defer rows.Close()
	out := []Proposal{}
	for rows.Next() {
		p, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("proposals: list: %w", err)
		}
		out = append(out, p)
	}
	return out, rows.Err()
}

// GetForCitizen returns one of the citizen's proposals, or ErrNotFound if
// it does not exist or belongs to someone else.
func (s *PGStore) GetForCitizen(ctx context.Context, citizenID, id string) (Proposal, error) {
	p, err := scan(s.db.QueryRow(ctx, `SELECT `+columns+` FROM proposals WHERE id = $1 AND citizen_id = $2`, id, citizenID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Proposal{}, ErrNotFound
	}
	if err != nil {
		return Proposal{}, fmt.Errorf("proposals: get %s: %w", id, err)
	}
	return p, nil
}

// ListForLifeEvent returns the proposals one life event produced.
func (s *PGStore) ListForLifeEvent(ctx context.Context, lifeEventID string) ([]Proposal, error) {
	return s.list(ctx, `WHERE life_event_id = $1 ORDER BY created_at, id`, lifeEventID)
}

// SetStatus moves the proposal to status in a transaction of its own; see
// SetStatusTx.
func (s *PGStore) SetStatus(ctx context.Context, id string, status Status, reason string) (now Status, err error) {
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		now, err = SetStatusTx(ctx, tx, id, status, reason)
		return err
	})
	return now, err
}

// ClaimExclusive claims an exclusive service of a life event for one
// proposal: the first claim wins, and claiming again for the same proposal
// still wins (a retried step).
func (s *PGStore) ClaimExclusive(ctx context.Context, lifeEventID, service, proposalID string) (bool, error) {
	var holder string
	err := s.db.QueryRow(ctx, `WITH ins AS (
			INSERT INTO exclusive_claims (life_event_id, service, proposal_id) VALUES ($1, $2, $3)
			ON CONFLICT DO NOTHING RETURNING proposal_id)
		SELECT proposal_id FROM ins UNION ALL
		SELECT proposal_id FROM exclusive_claims WHERE life_event_id = $1 AND service = $2 LIMIT 1`,
		lifeEventID, service, proposalID).Scan(&holder)
	if errors.Is(err, pgx.ErrNoRows) {
		// A sibling's claim committed while this one waited on it: the
		// insert then does nothing, and the statement's snapshot, taken
		// before, does not see the sibling's row. A new statement does.
		err = s.db.QueryRow(ctx, `SELECT proposal_id FROM exclusive_claims WHERE life_event_id = $1 AND service = $2`,
			lifeEventID, service).Scan(&holder)
	}
	if err != nil {
		return false, fmt.Errorf("proposals: claim %s: %w", service, err)
	}
	return holder == proposalID, nil
}

// Superseded returns the citizens' pending proposals from earlier moves,
// which a newer move supersedes. Their journeys decide: one that has not
// been accepted meanwhile ends as withdrawn.
func (s *PGStore) Superseded(ctx context.Context, lifeEventID string, citizens []string) ([]string, error) {
	rows, err := s.db.Query(ctx, `SELECT p.id FROM proposals p JOIN life_events e ON p.life_event_id = e.id
		WHERE e.type = 'lifeevents.move.registered.v1' AND p.life_event_id <> $1
		  AND p.citizen_id = ANY($2) AND p.status = 'pending' ORDER BY p.id`, lifeEventID, citizens)
	if err != nil {
		return nil, fmt.Errorf("proposals: supersede: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("proposals: supersede: %w", err)
	}
	return ids, nil
}
