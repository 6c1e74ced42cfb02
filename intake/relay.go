package intake

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
)

const notifyChannel = "lifeevents_outbox"

// Enqueue writes a message to the outbox inside tx and wakes the relays on
// commit. Whatever else tx writes and the message go out together or not
// at all.
func Enqueue(ctx context.Context, tx pgx.Tx, eventID string, m kafka.Message) error {
	headers, err := json.Marshal(m.Headers)
	if err != nil {
		return fmt.Errorf("intake: enqueue %s: %w", eventID, err)
	}
	if headers == nil || string(headers) == "null" {
		headers = []byte("[]")
	}
	if _, err := tx.Exec(ctx, `INSERT INTO outbox (event_id, topic, key, value, headers) VALUES ($1, $2, $3, $4, $5)`,
		eventID, m.Topic, m.Key, m.Value, headers); err != nil {
		return fmt.Errorf("intake: enqueue %s: %w", eventID, err)
	}
	if _, err := tx.Exec(ctx, `SELECT pg_notify($1, '')`, notifyChannel); err != nil {
		return fmt.Errorf("intake: enqueue %s: %w", eventID, err)
	}
	return nil
}

// Writer publishes to Kafka; the message's Topic field names the topic.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Relay publishes outbox rows.
type Relay struct {
	db    *pgxpool.Pool
	w     Writer
	log   *slog.Logger
	batch int
	poll  time.Duration
}

// NewRelay returns a relay from db to w. w must not set a topic of its own.
func NewRelay(db *pgxpool.Pool, w Writer, log *slog.Logger) *Relay {
	return &Relay{db: db, w: w, log: log, batch: 256, poll: time.Second}
}

// Run relays until ctx ends. It wakes on NOTIFY from Submit and polls as a
// fallback (a lost notification, a row written by another process).
func (r *Relay) Run(ctx context.Context) error {
	wake := make(chan struct{}, 1)
	go r.listen(ctx, wake)
	backoff := 100 * time.Millisecond
	for {
		n, err := r.RelayOnce(ctx)
		if ctx.Err() != nil {
			return nil
		}
		wait := r.poll
		switch {
		case err != nil:
			r.log.Warn("outbox relay: retrying", "error", err, "backoff", backoff)
			wait, backoff = backoff, min(backoff*2, 10*time.Second)
		case n > 0:
			backoff = 100 * time.Millisecond
			continue // more may be waiting
		default:
			backoff = 100 * time.Millisecond
		}
		select {
		case <-ctx.Done():
			return nil
		case <-wake:
		case <-time.After(wait):
		}
	}
}

// listen forwards notifications on a dedicated connection, reconnecting
// when it drops.
func (r *Relay) listen(ctx context.Context, wake chan<- struct{}) {
	for ctx.Err() == nil {
		conn, err := r.db.Acquire(ctx)
		if err == nil {
			_, err = conn.Exec(ctx, "LISTEN "+notifyChannel)
			for err == nil {
				_, err = conn.Conn().WaitForNotification(ctx)
				if err == nil {
					select {
					case wake <- struct{}{}:
					default:
					}
				}
			}
			// A connection that was listening goes back closed, not pooled.
			_ = conn.Conn().Close(context.WithoutCancel(ctx))
			conn.Release()
		}
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// RelayOnce publishes one batch of unpublished rows and returns how many.
// The rows stay locked (FOR UPDATE SKIP LOCKED) until they are marked, so
// several relays never publish the same row at once; if the broker fails,
// the transaction rolls back and the rows are published on a later try.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	n := 0
	err := pgx.BeginFunc(ctx, r.db, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `SELECT id, topic, key, value, headers FROM outbox
			WHERE published_at IS NULL ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED`, r.batch)
		if err != nil {
			return err
		}
		var ids []int64
		var msgs []kafka.Message
		for rows.Next() {
			var id int64
			var m kafka.Message
			var headers []byte
			if err := rows.Scan(&id, &m.Topic, &m.Key, &m.Value, &headers); err != nil {
				rows.Close()
				return err
			}
			if err := json.Unmarshal(headers, &m.Headers); err != nil {
				rows.Close()
				return fmt.Errorf("outbox row %d: headers: %w", id, err)
			}
			ids = append(ids, id)
			msgs = append(msgs, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		if len(msgs) == 0 {
			return nil
		}
		if err := r.w.WriteMessages(ctx, msgs...); err != nil {
			return fmt.Errorf("publish %d events: %w", len(msgs), err)
		}
		if _, err := tx.Exec(ctx, `UPDATE outbox SET published_at = now() WHERE id = ANY($1)`, ids); err != nil {
			return err
		}
		n = len(ids)
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("intake: relay: %w", err)
	}
	return n, nil
}

// RegisterBacklog registers the number of applications stored but not
// yet published as a gauge (-1 while the database does not answer).
func (r *Relay) RegisterBacklog(reg prometheus.Registerer) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lifeevents_outbox_backlog",
		Help: "Applications stored but not yet published to Kafka."}, func() float64 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		n, err := r.Backlog(ctx)
		if err != nil {
			return -1
		}
		return float64(n)
	}))
}

// Backlog counts the rows not yet published.
func (r *Relay) Backlog(ctx context.Context) (int, error) {
	var n int
	err := r.db.QueryRow(ctx, `SELECT count(*) FROM outbox WHERE published_at IS NULL`).Scan(&n)
	return n, err
}
