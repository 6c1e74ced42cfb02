// Package inbox holds the citizen's messages: new proposals, reminders,
// results, and what the system could not decide for them.
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Kinds of messages.
const (
	KindProposal           = "proposal"
	KindEligibilityUnknown = "eligibility_unknown"
	KindOffersNotAllowed   = "offers_not_allowed"
)

// Message in a citizen's inbox.
type Message struct {
	ID         string    `json:"id"`
	CitizenID  string    `json:"-"`
	Kind       string    `json:"kind"`
	ProposalID string    `json:"proposalId,omitempty"`
	Subject    string    `json:"subject"`
	Body       string    `json:"body"`
	CreatedAt  time.Time `json:"createdAt"`
}

// ID derives a message id from what it is about, so that sending the same
// message again (a retried activity) finds the first.
func ID(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0})
	}
	return "m-" + hex.EncodeToString(h.Sum(nil))[:24]
}

// PGStore keeps messages in Postgres.
type PGStore struct{ db *pgxpool.Pool }

// NewPGStore returns an inbox on db.
func NewPGStore(db *pgxpool.Pool) *PGStore { return &PGStore{db: db} }

// Send stores the message unless one with its id exists.
func (s *PGStore) Send(ctx context.Context, m Message) error {
	_, err := s.db.Exec(ctx, `INSERT INTO messages (id, citizen_id, kind, proposal_id, subject, body)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6) ON CONFLICT (id) DO NOTHING`,
		m.ID, m.CitizenID, m.Kind, m.ProposalID, m.Subject, m.Body)
	if err != nil {
		return fmt.Errorf("inbox: send %s: %w", m.ID, err)
	}
	return nil
}

// ListForCitizen returns the citizen's messages, newest first.
func (s *PGStore) ListForCitizen(ctx context.Context, citizenID string) ([]Message, error) {
	rows, err := s.db.Query(ctx, `SELECT id, citizen_id, kind, coalesce(proposal_id, ''), subject, body, created_at
		FROM messages WHERE citizen_id = $1 ORDER BY created_at DESC, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("inbox: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		err := r.Scan(&m.ID, &m.CitizenID, &m.Kind, &m.ProposalID, &m.Subject, &m.Body, &m.CreatedAt)
		m.CreatedAt = m.CreatedAt.UTC()
		return m, err
	})
	if err != nil {
		return nil, fmt.Errorf("inbox: list: %w", err)
	}
	if out == nil {
		out = []Message{}
	}
	return out, nil
}
