// Package intake takes initial applications from registry offices and
// delivers them to Kafka exactly once in effect: the application and an
// outbox row are written in one Postgres transaction, and a relay publishes
// outbox rows after commit, marking them only once the broker acknowledged.
// A broker outage delays events; it never loses one.
package intake

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/events"
)

// Application is what a registry office posts.
type Application struct {
	// Type is an event type, e.g. lifeevents.move.registered.v1.
	Type string `json:"type"`
	// Source names the registry office, e.g. urn:lifeevents:registry:03353022.
	Source string `json:"source"`
	// Reference is the office's own registration number. Source and
	// Reference together identify the application.
	Reference string `json:"reference"`
	// Time the life event was registered; default now.
	Time *time.Time      `json:"time,omitempty"`
	Data json.RawMessage `json:"data"`
}

// Receipt answers an accepted application.
type Receipt struct {
	EventID string `json:"eventId"`
	// Duplicate is true when the application had been posted before.
	Duplicate bool `json:"duplicate"`
}

// Store writes applications and their outbox rows.
type Store struct {
	db  *pgxpool.Pool
	pub *events.Publisher
	now func() time.Time
}

// NewStore returns a store that renders each event's message with pub.
func NewStore(db *pgxpool.Pool, pub *events.Publisher) *Store {
	return &Store{db: db, pub: pub, now: time.Now}
}

// ErrMissingReference is returned for an application without a reference.
var ErrMissingReference = errors.New("reference is required")

// Submit validates the application and records it with its outbox row in
// one transaction. An application posted before returns its first event id.
// A validation failure is an *events.Rejection.
func (s *Store) Submit(ctx context.Context, a Application) (Receipt, error) {
	if strings.TrimSpace(a.Reference) == "" || len(a.Reference) > 200 {
		return Receipt{}, &events.Rejection{Code: "missing_reference", Message: "reference (the registration number) is required, at most 200 characters"}
	}
	if id, err := s.existing(ctx, s.db, a); err == nil {
		return Receipt{EventID: id, Duplicate: true}, nil
	} else if !errors.Is(err, pgx.ErrNoRows) {
		return Receipt{}, err
	}
	t := s.now().UTC()
	if a.Time != nil {
		t = a.Time.UTC()
	}
	id := newEventID()
	env, err := json.Marshal(map[string]any{
		"specversion": "1.0", "id": id, "source": a.Source, "type": a.Type,
		"time": t.Format(time.RFC3339), "datacontenttype": "application/json", "data": a.Data,
	})
	if err != nil {
		return Receipt{}, &events.Rejection{Code: events.ReasonMalformedData, Message: "data is not JSON"}
	}
	e, err := events.Decode(env, nil, s.now())
	if err != nil {
		return Receipt{}, err
	}
	msg, err := s.pub.Message(e)
	if err != nil {
		return Receipt{}, fmt.Errorf("intake: encode %s: %w", id, err)
	}
	msg.Topic = events.Topic
	var receipt Receipt
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO applications (event_id, source, reference, type)
			VALUES ($1, $2, $3, $4) ON CONFLICT (source, reference) DO NOTHING`, id, a.Source, a.Reference, a.Type)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // posted concurrently by another request
			prev, err := s.existing(ctx, tx, a)
			receipt = Receipt{EventID: prev, Duplicate: true}
			return err
		}
		receipt = Receipt{EventID: id}
		return Enqueue(ctx, tx, id, msg)
	})
	if err != nil {
		return Receipt{}, fmt.Errorf("intake: store application: %w", err)
	}
	return receipt, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

func (s *Store) existing(ctx context.Context, q querier, a Application) (string, error) {
	var id string
	err := q.QueryRow(ctx, `SELECT event_id FROM applications WHERE source = $1 AND reference = $2`, a.Source, a.Reference).Scan(&id)
	return id, err
}

// newEventID returns a random UUID (version 4).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
