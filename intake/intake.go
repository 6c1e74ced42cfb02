// Package intake takes initial applications from registry offices and
// delivers them to Kafka exactly once in effect: the application and an
// outbox row are written in one Postgres transaction, and a relay publishes
// outbox rows after commit, marking them only once the broker acknowledged.
// A broker outage delays events; it never loses one.
package intake

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"go.opentelemetry.io/otel/propagation"

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
	// Offices are the municipality keys the caller is the registry office
	// of: the source and the event's municipality must be one of them.
	Offices []string `json:"-"`
}

// Receipt answers an accepted application.
type Receipt struct {
	EventID string `json:"eventId"`
	// Duplicate is true when the application had been posted before.
	Duplicate bool `json:"duplicate"`
}

// Store writes applications and their outbox rows.
type Store struct {
	db    *pgxpool.Pool
	pub   *events.Publisher
	now   func() time.Time
	trace propagation.TextMapPropagator
}

// NewStore returns a store that renders each event's message with pub.
func NewStore(db *pgxpool.Pool, pub *events.Publisher) *Store {
	return &Store{db: db, pub: pub, now: time.Now, trace: propagation.NewCompositeTextMapPropagator()}
}

// Trace makes every event's message carry the trace context of the request
// that posted it (p writes it into the message headers), so the journey's
// trace continues the registry office's.
func (s *Store) Trace(p propagation.TextMapPropagator) *Store {
	s.trace = p
	return s
}

// Errors callers branch on.
var (
	// ErrForeignOffice: the application names another registry office, or
	// an event in another municipality, than the caller's.
	ErrForeignOffice = errors.New("the application is not of the caller's registry office")
	// ErrConflict: the (source, reference) was posted before with other
	// data. The ConflictError carries the first event's id.
	ErrConflict = errors.New("the reference was posted before with other data")
)

// ConflictError is ErrConflict with the id of the first event.
type ConflictError struct{ EventID string }

func (e *ConflictError) Error() string { return ErrConflict.Error() + " (event " + e.EventID + ")" }
func (e *ConflictError) Unwrap() error { return ErrConflict }

// sourcePrefixes are the sources a registry office posts under.
var sourcePrefixes = [...]string{"urn:lifeevents:registry:", "urn:lifeevents:registry-office:"}

// office is the municipality key a source names, if it names one.
func office(source string) (string, bool) {
	for _, p := range sourcePrefixes {
		if key, ok := strings.CutPrefix(source, p); ok {
			return key, true
		}
	}
	return "", false
}

// municipalityOf is the municipality the event happened in.
func municipalityOf(e events.Event) string {
	switch {
	case e.Move != nil:
		return e.Move.To.Municipality
	case e.Birth != nil:
		return e.Birth.Municipality
	}
	return ""
}

// digest identifies an application's content: type, time as given, and
// data with insignificant white space removed.
func digest(a Application) string {
	// Canonical JSON: objects re-encoded with sorted keys, numbers as
	// written, so a retry that orders its keys differently is the same.
	var v any
	dec := json.NewDecoder(bytes.NewReader(a.Data))
	dec.UseNumber()
	var compact bytes.Buffer
	if err := dec.Decode(&v); err == nil {
		b, _ := json.Marshal(v)
		compact.Write(b)
	} else {
		compact.Write(a.Data)
	}
	h := sha256.New()
	h.Write([]byte(a.Type))
	h.Write([]byte{0})
	if a.Time != nil {
		h.Write([]byte(a.Time.UTC().Format(time.RFC3339Nano)))
	}
	h.Write([]byte{0})
	h.Write(compact.Bytes())
	return hex.EncodeToString(h.Sum(nil))
}

// Submit validates the application and records it with its outbox row in
// one transaction. An application posted before returns its first event id.
// A validation failure is an *events.Rejection.
func (s *Store) Submit(ctx context.Context, a Application) (Receipt, error) {
	if strings.TrimSpace(a.Reference) == "" || len(a.Reference) > 200 {
		return Receipt{}, &events.Rejection{Code: "missing_reference", Message: "reference (the registration number) is required, at most 200 characters"}
	}
	if key, ok := office(a.Source); !ok || !slices.Contains(a.Offices, key) {
		return Receipt{}, fmt.Errorf("intake: source %q: %w", a.Source, ErrForeignOffice)
	}
	sum := digest(a)
	if r, err := s.existing(ctx, s.db, a, sum); err == nil || !errors.Is(err, pgx.ErrNoRows) {
		return r, err
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
	if !slices.Contains(a.Offices, municipalityOf(e)) {
		return Receipt{}, fmt.Errorf("intake: municipality %s: %w", municipalityOf(e), ErrForeignOffice)
	}
	msg, err := s.pub.Message(e)
	if err != nil {
		return Receipt{}, fmt.Errorf("intake: encode %s: %w", id, err)
	}
	msg.Topic = events.Topic
	s.trace.Inject(ctx, events.TraceHeaders{Headers: &msg.Headers})
	var receipt Receipt
	key, _ := office(a.Source)
	err = pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// Both spellings of the office's source are one office: a lock on
		// (office, reference) keeps two of them from both inserting.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('applications:' || $1 || ':' || $2))`, key, a.Reference); err != nil {
			return err
		}
		if r, err := s.existing(ctx, tx, a, sum); err == nil || !errors.Is(err, pgx.ErrNoRows) {
			receipt = r
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO applications (event_id, source, reference, type, digest)
			VALUES ($1, $2, $3, $4, $5) ON CONFLICT (source, reference) DO NOTHING`, id, a.Source, a.Reference, a.Type, sum)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 { // posted concurrently by another request
			receipt, err = s.existing(ctx, tx, a, sum)
			return err
		}
		receipt = Receipt{EventID: id}
		return Enqueue(ctx, tx, id, msg)
	})
	if err != nil {
		if errors.Is(err, ErrConflict) {
			return Receipt{}, err
		}
		return Receipt{}, fmt.Errorf("intake: store application: %w", err)
	}
	return receipt, nil
}

// Status answers for an application no journey has picked up yet:
// "accepted" (stored, not yet on Kafka) or "published"; any other id is
// events.ErrUnknownEvent.
func (s *Store) Status(ctx context.Context, id string) (events.Status, error) {
	var st events.Status
	err := s.db.QueryRow(ctx, `SELECT a.event_id, a.type, a.source,
		       CASE WHEN o.published_at IS NULL THEN 'accepted' ELSE 'published' END,
		       a.received_at, coalesce(o.published_at, a.received_at)
		FROM applications a LEFT JOIN outbox o ON o.event_id = a.event_id
		WHERE a.event_id = $1`, id).Scan(&st.ID, &st.Type, &st.Source, &st.Status, &st.ReceivedAt, &st.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return events.Status{}, events.ErrUnknownEvent
	}
	if err != nil {
		return events.Status{}, fmt.Errorf("intake: status of %s: %w", id, err)
	}
	st.ReceivedAt, st.UpdatedAt = st.ReceivedAt.UTC(), st.UpdatedAt.UTC()
	return st, nil
}

type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// existing answers an application posted before: the same receipt for the
// same content, a conflict for other content. pgx.ErrNoRows if new.
func (s *Store) existing(ctx context.Context, q querier, a Application, sum string) (Receipt, error) {
	var id string
	var prev *string
	// Either spelling of the office's source is the same office.
	var sources []string
	if key, ok := office(a.Source); ok {
		for _, p := range sourcePrefixes {
			sources = append(sources, p+key)
		}
	}
	err := q.QueryRow(ctx, `SELECT event_id, digest FROM applications WHERE source = ANY($1) AND reference = $2
		ORDER BY received_at LIMIT 1`, sources, a.Reference).Scan(&id, &prev)
	if err != nil {
		return Receipt{}, err
	}
	if prev != nil && *prev != sum {
		return Receipt{}, &ConflictError{EventID: id}
	}
	return Receipt{EventID: id, Duplicate: true}, nil
}

// newEventID returns a random UUID (version 4).
func newEventID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
