package ingest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/intake"
)

// DeadLetter is a rejected message as operators see it.
type DeadLetter struct {
	ID         string     `json:"id"`
	Reason     string     `json:"reason"`
	Error      string     `json:"error"`
	Stage      string     `json:"stage"`
	Size       int        `json:"size"`
	ReceivedAt time.Time  `json:"receivedAt"`
	ReplayedAt *time.Time `json:"replayedAt"`
}

// ErrNoDeadLetter is returned for an unknown dead-letter id.
var ErrNoDeadLetter = errors.New("no such dead letter")

// DeadLetters indexes the dead-letter topic in Postgres so operators can
// list and replay dead letters. The topic stays the source of truth: the
// index is rebuilt from it by its own consumer group.
type DeadLetters struct {
	db  *pgxpool.Pool
	log *slog.Logger
}

// NewDeadLetters returns the index on db.
func NewDeadLetters(db *pgxpool.Pool, log *slog.Logger) *DeadLetters {
	return &DeadLetters{db: db, log: log}
}

// IndexGroup is the consumer group that reads the dead-letter topic.
const IndexGroup = "lifeevents-dlq-index"

// Index consumes the dead-letter topic with r until ctx ends.
func (d *DeadLetters) Index(ctx context.Context, r Reader) error {
	for {
		var m kafka.Message
		if retry(ctx, d.log, "read dead letters", func() {}, func() (err error) {
			m, err = r.FetchMessage(ctx)
			return err
		}) != nil {
			return nil // only ctx ends a retry
		}
		if retry(ctx, d.log, "index dead letter", func() {}, func() error { return d.record(ctx, m) }) != nil {
			return nil
		}
		// As in the consumer: a failed commit brings the letter again, and
		// indexing it again is a no-op.
		if err := r.CommitMessages(ctx, m); err != nil && ctx.Err() == nil {
			d.log.Warn("dead-letter index: commit failed; the letter may come again", "error", err)
		}
	}
}

func (d *DeadLetters) record(ctx context.Context, m kafka.Message) error {
	h := headerMap(m.Headers)
	headers, _ := json.Marshal(m.Headers)
	_, err := d.db.Exec(ctx, `INSERT INTO dead_letters (id, key, value, headers, error, stage, received_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (id) DO NOTHING`,
		fmt.Sprintf("%d-%d", m.Partition, m.Offset), m.Key, m.Value, headers, h[HeaderError], h[HeaderErrorStage], m.Time.UTC())
	if err != nil {
		return fmt.Errorf("ingest: index dead letter: %w", err)
	}
	return nil
}

// List returns the dead letters, newest first, at most limit.
func (d *DeadLetters) List(ctx context.Context, limit int) ([]DeadLetter, error) {
	rows, err := d.db.Query(ctx, `SELECT id, error, stage, length(value), received_at, replayed_at
		FROM dead_letters ORDER BY received_at DESC, id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("ingest: list dead letters: %w", err)
	}
	defer rows.Close()
	out := []DeadLetter{}
	for rows.Next() {
		var l DeadLetter
		if err := rows.Scan(&l.ID, &l.Error, &l.Stage, &l.Size, &l.ReceivedAt, &l.ReplayedAt); err != nil {
			return nil, fmt.Errorf("ingest: list dead letters: %w", err)
		}
		l.Reason, _, _ = strings.Cut(l.Error, ":")
		l.ReceivedAt = l.ReceivedAt.UTC()
		out = append(out, l)
	}
	return out, rows.Err()
}

// Replay queues the dead letter for publishing again to the life-events
// topic through the outbox, as it first arrived (without the error
// headers), and marks it replayed in the same transaction.
func (d *DeadLetters) Replay(ctx context.Context, id string) error {
	err := pgx.BeginFunc(ctx, d.db, func(tx pgx.Tx) error {
		var key, value, raw []byte
		err := tx.QueryRow(ctx, `SELECT key, value, headers FROM dead_letters WHERE id = $1 FOR UPDATE`, id).Scan(&key, &value, &raw)
		if err != nil {
			return err
		}
		var headers, keep []kafka.Header
		_ = json.Unmarshal(raw, &headers)
		for _, h := range headers {
			if h.Key != HeaderError && h.Key != HeaderErrorStage {
				keep = append(keep, h)
			}
		}
		if err := intake.Enqueue(ctx, tx, "dlq:"+id, kafka.Message{Topic: events.Topic, Key: key, Value: value, Headers: keep}); err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE dead_letters SET replayed_at = now() WHERE id = $1`, id)
		return err
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return ErrNoDeadLetter
	}
	if err != nil {
		return fmt.Errorf("ingest: replay %s: %w", id, err)
	}
	return nil
}
