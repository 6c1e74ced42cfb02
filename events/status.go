package events

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Status is where one life event stands, as operators see it.
type Status struct {
	ID         string    `json:"id"`
	Type       string    `json:"type"`
	Source     string    `json:"source"`
	WorkflowID string    `json:"workflowId"`
	Status     string    `json:"status"`
	ReceivedAt time.Time `json:"receivedAt"`
	UpdatedAt  time.Time `json:"updatedAt"`
}

// ErrUnknownEvent is returned for an event id the system has not seen.
var ErrUnknownEvent = errors.New("unknown life event")

// PGStatusLog keeps event statuses in Postgres.
type PGStatusLog struct{ db *pgxpool.Pool }

// NewPGStatusLog returns a status log on the pool.
func NewPGStatusLog(db *pgxpool.Pool) *PGStatusLog { return &PGStatusLog{db: db} }

// Record inserts or updates the status of the event.
func (l *PGStatusLog) Record(ctx context.Context, s Status) error {
	_, err := l.db.Exec(ctx, `INSERT INTO life_events (id, type, source, workflow_id, status)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, updated_at = now()`,
		s.ID, s.Type, s.Source, s.WorkflowID, s.Status)
	if err != nil {
		return fmt.Errorf("events: record status of %s: %w", s.ID, err)
	}
	return nil
}

// Get returns the status of one event. An application posted through the
// API that no journey has picked up yet shows as "accepted" (stored, not yet
// on Kafka) or "published".
func (l *PGStatusLog) Get(ctx context.Context, id string) (Status, error) {
	var s Status
	err := l.db.QueryRow(ctx, `SELECT id, type, source, workflow_id, status, received_at, updated_at
		FROM life_events WHERE id = $1
		UNION ALL
		SELECT a.event_id, a.type, a.source, '',
		       CASE WHEN o.published_at IS NULL THEN 'accepted' ELSE 'published' END,
		       a.received_at, coalesce(o.published_at, a.received_at)
		FROM applications a LEFT JOIN outbox o ON o.event_id = a.event_id
		WHERE a.event_id = $1 AND NOT EXISTS (SELECT 1 FROM life_events WHERE id = $1)
		LIMIT 1`, id).Scan(&s.ID, &s.Type, &s.Source, &s.WorkflowID, &s.Status, &s.ReceivedAt, &s.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return Status{}, ErrUnknownEvent
	}
	if err != nil {
		return Status{}, fmt.Errorf("events: status of %s: %w", id, err)
	}
	s.ReceivedAt, s.UpdatedAt = s.ReceivedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}
