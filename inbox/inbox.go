// Package inbox holds the citizen's messages: new proposals, reminders,
// results, and what the system could not decide for them. A message is a
// key of the message catalogs (package texts) with its arguments, so each
// reader gets it in their language; messages written before keys existed
// keep their German subject and body.
package inbox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/texts"
)

// Kinds of messages.
const (
	KindProposal           = "proposal"
	KindEligibilityUnknown = "eligibility_unknown"
	KindOffersNotAllowed   = "offers_not_allowed"
	KindWithdrawn          = "withdrawn"
)

// Message in a citizen's inbox.
type Message struct {
	ID         string `json:"id"`
	CitizenID  string `json:"-"`
	Kind       string `json:"kind"`
	ProposalID string `json:"proposalId,omitempty"`
	// Key names the text in the catalogs ("msg.<key>.subject" and
	// ".body"); Args fill it in.
	Key  string            `json:"key,omitempty"`
	Args map[string]string `json:"args,omitempty"`
	// Subject and Body are the rendered text in the API's answers, and the
	// stored text of messages older than keys.
	Subject string `json:"subject"`
	Body    string `json:"body"`
	// CreatedAt is when the message was made available; NotifiedAt when
	// the citizen was told by e-mail; OpenedAt when they first saw it in
	// the portal (§9 OZG counts delivery from these).
	CreatedAt  time.Time  `json:"createdAt"`
	NotifiedAt *time.Time `json:"notifiedAt"`
	OpenedAt   *time.Time `json:"openedAt"`
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

// ServiceNames names a service in a language (the policy catalog's names).
type ServiceNames func(lang texts.Lang, service string) string

// Render fills in Subject and Body in lang. Arguments: "service" (an id,
// named through names, "serviceName" when names does not know it),
// "recipient", "deadline" (RFC 3339), "missing" (field names, comma
// separated), "reason".
func (m Message) Render(c *texts.Catalog, lang texts.Lang, names ServiceNames) Message {
	if m.Key == "" {
		return m
	}
	data := map[string]string{"Recipient": m.Args["recipient"], "Reason": m.Args["reason"]}
	if id := m.Args["service"]; id != "" {
		data["Service"] = m.Args["serviceName"]
		if names != nil {
			if n := names(lang, id); n != "" {
				data["Service"] = n
			}
		}
		if data["Service"] == "" {
			data["Service"] = id
		}
	}
	if d, err := time.Parse(time.RFC3339, m.Args["deadline"]); err == nil {
		data["Deadline"] = texts.Date(lang, d)
	}
	if ms := m.Args["missing"]; ms != "" {
		var labels []string
		for _, f := range strings.Split(ms, ",") {
			labels = append(labels, c.Or(lang, "field."+f, f))
		}
		data["Missing"] = strings.Join(labels, ", ")
	}
	m.Subject = c.T(lang, "msg."+m.Key+".subject", data)
	m.Body = c.T(lang, "msg."+m.Key+".body", data)
	return m
}

// PGStore keeps messages in Postgres; it is the only writer of the
// messages table.
type PGStore struct{ db *pgxpool.Pool }

// NewPGStore returns an inbox on db.
func NewPGStore(db *pgxpool.Pool) *PGStore { return &PGStore{db: db} }

type execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func send(ctx context.Context, db execer, m Message) error {
	var args any
	if m.Args != nil {
		args = m.Args
	}
	_, err := db.Exec(ctx, `INSERT INTO messages (id, citizen_id, kind, proposal_id, subject, body, text_key, args)
		VALUES ($1, $2, $3, NULLIF($4, ''), $5, $6, NULLIF($7, ''), $8) ON CONFLICT (id) DO NOTHING`,
		m.ID, m.CitizenID, m.Kind, m.ProposalID, m.Subject, m.Body, m.Key, args)
	if err != nil {
		return fmt.Errorf("inbox: send %s: %w", m.ID, err)
	}
	return nil
}

// Send stores the message unless one with its id exists.
func (s *PGStore) Send(ctx context.Context, m Message) error { return send(ctx, s.db, m) }

// SendTx stores the message in the caller's transaction, for packages that
// tell the citizen about a change they commit (a withdrawal).
func SendTx(ctx context.Context, tx pgx.Tx, m Message) error { return send(ctx, tx, m) }

// ListForCitizen returns the citizen's messages, newest first.
func (s *PGStore) ListForCitizen(ctx context.Context, citizenID string) ([]Message, error) {
	rows, err := s.db.Query(ctx, `SELECT id, citizen_id, kind, coalesce(proposal_id, ''), coalesce(text_key, ''), args,
			subject, body, created_at, notified_at, opened_at
		FROM messages WHERE citizen_id = $1 ORDER BY created_at DESC, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("inbox: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		err := r.Scan(&m.ID, &m.CitizenID, &m.Kind, &m.ProposalID, &m.Key, &m.Args, &m.Subject, &m.Body,
			&m.CreatedAt, &m.NotifiedAt, &m.OpenedAt)
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

// MarkOpened records that the citizen saw the messages now, where they had
// not seen them before; it returns how many were new to them.
func (s *PGStore) MarkOpened(ctx context.Context, citizenID string, ids []string) (int, error) {
	tag, err := s.db.Exec(ctx, `UPDATE messages SET opened_at = now()
		WHERE citizen_id = $1 AND id = ANY($2) AND opened_at IS NULL`, citizenID, ids)
	if err != nil {
		return 0, fmt.Errorf("inbox: mark opened: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// ClaimForNotice claims up to limit messages of the given kinds that wait
// for an e-mail: not yet notified, not yet opened (a citizen reading the
// Postkorb needs no e-mail about it), younger than maxAge, of a citizen with
// an address (the contacts table, read here only), tried fewer than five
// times, and not claimed by another notifier within lease. One short
// statement: no transaction stays open while e-mails go out; a claim that
// is not followed by MarkNotified expires after lease and is tried again.
func (s *PGStore) ClaimForNotice(ctx context.Context, kinds []string, limit int, lease, maxAge time.Duration) ([]Message, error) {
	rows, err := s.db.Query(ctx, `UPDATE messages SET notify_claimed_at = now(), notify_attempts = notify_attempts + 1
		WHERE id IN (
			SELECT id FROM messages
			WHERE notified_at IS NULL AND opened_at IS NULL AND kind = ANY($1) AND notify_attempts < 5
			  AND created_at > now() - make_interval(secs => $4)
			  AND (notify_claimed_at IS NULL OR notify_claimed_at < now() - make_interval(secs => $3))
			  AND citizen_id IN (SELECT citizen_id FROM contacts)
			ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED)
		RETURNING id, citizen_id, kind, created_at`, kinds, limit, lease.Seconds(), maxAge.Seconds())
	if err != nil {
		return nil, fmt.Errorf("inbox: claim for notice: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Message, error) {
		var m Message
		return m, r.Scan(&m.ID, &m.CitizenID, &m.Kind, &m.CreatedAt)
	})
	if err != nil {
		return nil, fmt.Errorf("inbox: claim for notice: %w", err)
	}
	return out, nil
}

// MarkNotified records that the citizens of the messages were told.
func (s *PGStore) MarkNotified(ctx context.Context, ids []string) error {
	if _, err := s.db.Exec(ctx, `UPDATE messages SET notified_at = now() WHERE id = ANY($1) AND notified_at IS NULL`, ids); err != nil {
		return fmt.Errorf("inbox: mark notified: %w", err)
	}
	return nil
}
