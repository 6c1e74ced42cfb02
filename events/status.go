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

// Pending knows the events stored but not yet picked up by a journey (the
// intake's applications); it answers ErrUnknownEvent for others.
type Pending interface {
	Status(ctx context.Context, id string) (Status, error)
}

// PGStatusLog keeps event statuses in Postgres.
type PGStatusLog struct {
	db      *pgxpool.Pool
	pending Pending
}

// NewPGStatusLog returns a status log on the pool; pending may be nil
// (then only events a journey recorded are known).
func NewPGStatusLog(db *pgxpool.Pool, pending Pending) *PGStatusLog {
	return &PGStatusLog{db: db, pending: pending}
}

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

// Get returns the status of one event. An event no journey has picked up
// yet is the pending's to answer (an application posted through the API
// shows as "accepted" or "published").
func (l *PGStatusLog) Get(ctx context.Context, id string) (Status, error) {
	var s Status
	err := l.db.QueryRow(ctx, `SELECT id, type, source, workflow_id, status, received_at, updated_at
		FROM life_events WHERE id = $1`, id).Scan(&s.ID, &s.Type, &s.Source, &s.WorkflowID, &s.Status, &s.ReceivedAt, &s.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		if l.pending != nil {
			return l.pending.Status(ctx, id)
		}
		return Status{}, ErrUnknownEvent
	}
	if err != nil {
		return Status{}, fmt.Errorf("events: status of %s: %w", id, err)
	}
	s.ReceivedAt, s.UpdatedAt = s.ReceivedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}
