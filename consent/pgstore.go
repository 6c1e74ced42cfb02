package consent

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
)

// Policies is what the consent records need from the policy engine: the
// catalog (which purposes, recipients and fields exist) and the data-sharing
// decision.
type Policies interface {
	Catalog() policies.Catalog
	Sharing(ctx context.Context, in policies.SharingInput) (policies.Decision, error)
}

// Withdrawn is a proposal a withdrawal took back.
type Withdrawn = proposals.Withdrawn

// Store keeps consent records and the transfer log in Postgres.
type Store struct {
	db       *pgxpool.Pool
	policies Policies
	cfg      Config
	// Clock is the time validity is judged by; tests move it.
	Clock func() time.Time
}

// NewStore returns the store; cfg names the controller and the legal basis
// on every record (validated by the caller: see Config.Validate).
func NewStore(db *pgxpool.Pool, p Policies, cfg Config) *Store {
	return &Store{db: db, policies: p, cfg: cfg.withDefaults(), Clock: time.Now}
}

func newID(prefix string) string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// validate checks a request against the catalog and fills in what the
// record derives from it.
// Bounds of a request: the catalog's names are short, and a citizen has
// a handful of consents; anything far beyond is a mistake or an attack.
const (
	maxText             = 64
	maxFields           = 64
	MaxActivePerCitizen = 200
	// MaxRecordsPerCitizen bounds the history too: the records are kept,
	// withdrawn or not, so giving and withdrawing in a loop must end.
	MaxRecordsPerCitizen = 2000
)

func (s *Store) validate(r *Request) error {
	return validate(r, s.policies.Catalog(), s.Clock())
}

// validate is shared by both stores: the same request is valid in both.
func validate(r *Request, catalog policies.Catalog, now time.Time) error {
	if len(r.NoticeVersion) > maxText || len(r.Purpose) > maxText || len(r.Recipient) > maxText || len(r.ProposalID) > 128 {
		return invalid("text_too_long", "purpose, recipient and noticeVersion are at most 64 characters")
	}
	if len(r.Fields) > maxFields {
		return invalid("invalid_fields", "a consent covers at most 64 fields")
	}
	for _, f := range r.Fields {
		if len(f) > maxText {
			return invalid("invalid_fields", "field names are at most 64 characters")
		}
	}
	if r.ExpiresAt != nil && !r.ExpiresAt.After(now) {
		return invalid("expiry_in_past", "expiresAt must lie in the future")
	}
	if r.NoticeVersion == "" {
		r.NoticeVersion = "v1"
	}
	switch r.Kind {
	case KindOffers, KindObjection:
		if r.Purpose != PurposeOffers {
			return invalid("unknown_purpose", "offers and objections are about the purpose "+PurposeOffers)
		}
		if len(r.Fields) > 0 {
			return invalid("invalid_fields", "offers and objections cover no fields")
		}
		r.Recipient, r.Fields, r.DataCategories = "*", []string{}, []string{}
		return nil
	case KindProposal, KindStanding, KindOptionalData:
	case "":
		return invalid("invalid_kind", "kind is required: proposal, standing, optional-data, offers or objection")
	default:
		return invalid("invalid_kind", "kind must be proposal, standing, optional-data, offers or objection")
	}
	svc, ok := catalog[r.Purpose]
	if !ok {
		return invalid("unknown_purpose", "purpose must be a service of the catalog or "+PurposeOffers)
	}
	if svc.Basis.Kind == proposals.BasisLaw && r.Kind != KindOptionalData {
		return invalid("legal_basis", "this service rests on a law, not on consent: asking for consent would mislead")
	}
	recipients := []string{svc.Recipient.ID}
	for _, a := range svc.RecipientsByMunicipality {
		recipients = append(recipients, a.ID)
	}
	if !slices.Contains(recipients, r.Recipient) {
		return invalid("unknown_recipient", "recipient is not an agency of this service")
	}
	if len(r.Fields) == 0 {
		return invalid("no_fields", "a consent covers at least one field")
	}
	cats := map[string]bool{}
	for _, name := range r.Fields {
		i := slices.IndexFunc(svc.Fields, func(f policies.Field) bool { return f.Name == name })
		if i < 0 {
			return invalid("invalid_fields", "field "+name+" is not one the service uses")
		}
		if svc.Fields[i].Optional != (r.Kind == KindOptionalData) {
			if r.Kind == KindOptionalData {
				return invalid("invalid_fields", "an optional-data consent covers optional fields only")
			}
			return invalid("invalid_fields", "field "+name+" is optional and needs its own optional-data consent")
		}
		cats[svc.Fields[i].Category] = true
	}
	r.DataCategories = r.DataCategories[:0]
	for c := range cats {
		r.DataCategories = append(r.DataCategories, c)
	}
	sort.Strings(r.DataCategories)
	r.Fields = slices.Clone(r.Fields)
	sort.Strings(r.Fields)
	return nil
}

// Give records a new consent (or objection) of the citizen.
func (s *Store) Give(ctx context.Context, citizenID string, r Request) (Consent, []Withdrawn, error) {
	if err := s.validate(&r); err != nil {
		return Consent{}, nil, err
	}
	if r.Method == "" {
		r.Method = "portal"
	}
	id := newID("cs-")
	var withdrawn []Withdrawn
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// The bounds are for what a citizen gives through the API; a
		// consent that accepting a proposal records is bounded by the
		// proposals themselves and must not fail the journey.
		if r.Method != "proposal-accept" {
			if err := withinBounds(ctx, tx, citizenID); err != nil {
				return err
			}
		}
		fields, _ := json.Marshal(r.Fields)
		cats, _ := json.Marshal(r.DataCategories)
		if _, err := tx.Exec(ctx, `INSERT INTO consents (id, citizen_id, kind, purpose, controller, recipient, data_categories,
			fields, legal_basis, collection_method, notice_version, proposal_id)
			VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,NULLIF($12,''))`,
			id, citizenID, r.Kind, r.Purpose, s.cfg.Controller, r.Recipient, cats, fields,
			s.cfg.LegalBasis, r.Method, r.NoticeVersion, r.ProposalID); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consent_events (consent_id, kind, valid_until, method) VALUES ($1, 'given', $2, $3)`,
			id, r.ExpiresAt, r.Method); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consent_state (consent_id, status, valid_until) VALUES ($1, 'active', $2)`,
			id, r.ExpiresAt); err != nil {
			return err
		}
		if r.Kind == KindObjection {
			var err error
			withdrawn, err = withdrawProposals(ctx, tx, citizenID, "", "", "objection")
			return err
		}
		return nil
	})
	var inv *InvalidError
	if errors.As(err, &inv) {
		return Consent{}, nil, err
	}
	if err != nil {
		return Consent{}, nil, fmt.Errorf("consent: give: %w", err)
	}
	c, err := s.Get(ctx, citizenID, id)
	return c, withdrawn, err
}

// withinBounds counts the citizen's consents under a lock per citizen, so
// parallel requests cannot all slip under the bounds.
func withinBounds(ctx context.Context, tx pgx.Tx, citizenID string) error {
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('consents:' || $1))`, citizenID); err != nil {
		return err
	}
	var active, all int
	if err := tx.QueryRow(ctx, `SELECT count(*) FILTER (WHERE st.status = 'active'), count(*)
		FROM consents c JOIN consent_state st ON st.consent_id = c.id WHERE c.citizen_id = $1`, citizenID).Scan(&active, &all); err != nil {
		return err
	}
	return checkBounds(active, all)
}

// checkBounds is the rule both stores apply to a citizen's counts.
func checkBounds(active, all int) error {
	if active >= MaxActivePerCitizen {
		return invalid("too_many_consents", fmt.Sprintf("you have %d active consents, the most there can be; withdraw some first", active))
	}
	if all >= MaxRecordsPerCitizen {
		return invalid("too_many_consents", fmt.Sprintf("you have given %d consents, the most one person can record here; ask the controller", all))
	}
	return nil
}

const consentColumns = `id, citizen_id, kind, purpose, controller, recipient, data_categories, fields, legal_basis,
	collection_method, notice_version, coalesce(proposal_id, '')`

func scanConsent(row pgx.Row) (Consent, error) {
	var c Consent
	var cats, fields []byte
	err := row.Scan(&c.ID, &c.CitizenID, &c.Kind, &c.Purpose, &c.Controller, &c.Recipient, &cats, &fields,
		&c.LegalBasis, &c.CollectionMethod, &c.NoticeVersion, &c.ProposalID)
	if err != nil {
		return c, err
	}
	_ = json.Unmarshal(cats, &c.DataCategories)
	_ = json.Unmarshal(fields, &c.Fields)
	return c, nil
}

func history(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, ids []string) (map[string][]Event, error) {
	rows, err := q.Query(ctx, `SELECT consent_id, kind, at, valid_until, method FROM consent_events
		WHERE consent_id = ANY($1) ORDER BY id`, ids)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]Event{}
	for rows.Next() {
		var id string
		var e Event
		if err := rows.Scan(&id, &e.Kind, &e.At, &e.ValidUntil, &e.Method); err != nil {
			return nil, err
		}
		e.At = e.At.UTC()
		if e.ValidUntil != nil {
			v := e.ValidUntil.UTC()
			e.ValidUntil = &v
		}
		out[id] = append(out[id], e)
	}
	return out, rows.Err()
}

// List returns the citizen's consents with their derived state.
func (s *Store) List(ctx context.Context, citizenID string) ([]Consent, error) {
	rows, err := s.db.Query(ctx, `SELECT `+consentColumns+` FROM consents WHERE citizen_id = $1 ORDER BY created_at DESC, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("consent: list: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Consent, error) { return scanConsent(r) })
	if err != nil {
		return nil, fmt.Errorf("consent: list: %w", err)
	}
	ids := make([]string, len(out))
	for i := range out {
		ids[i] = out[i].ID
	}
	h, err := history(ctx, s.db, ids)
	if err != nil {
		return nil, fmt.Errorf("consent: list: %w", err)
	}
	now := s.Clock()
	for i := range out {
		out[i].History = h[out[i].ID]
		out[i].derive(now)
	}
	if out == nil {
		out = []Consent{}
	}
	return out, nil
}

// Get returns one of the citizen's consents with its history, or
// ErrNotFound (also for another citizen's consent).
func (s *Store) Get(ctx context.Context, citizenID, id string) (Consent, error) {
	c, err := scanConsent(s.db.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = $1 AND citizen_id = $2`, id, citizenID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Consent{}, ErrNotFound
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: get %s: %w", id, err)
	}
	h, err := history(ctx, s.db, []string{id})
	if err != nil {
		return Consent{}, fmt.Errorf("consent: get %s: %w", id, err)
	}
	c.History = h[id]
	c.derive(s.Clock())
	return c, nil
}

// Withdraw withdraws the citizen's consent at once, and with it the pending
// proposals that depend on it. It returns those proposals so their
// journeys can be told.
func (s *Store) Withdraw(ctx context.Context, citizenID, id, method string) (Consent, []Withdrawn, error) {
	if method == "" {
		method = "portal"
	}
	var withdrawn []Withdrawn
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		c, err := scanConsent(tx.QueryRow(ctx, `SELECT `+consentColumns+` FROM consents WHERE id = $1 AND citizen_id = $2`, id, citizenID))
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		// The lock on the state row orders this withdrawal against every
		// transfer that relies on the consent (they take it FOR SHARE).
		if _, err := tx.Exec(ctx, `SELECT 1 FROM consent_state WHERE consent_id = $1 FOR UPDATE`, id); err != nil {
			return err
		}
		h, err := history(ctx, tx, []string{id})
		if err != nil {
			return err
		}
		c.History = h[id]
		c.derive(s.Clock())
		switch c.Status {
		case StatusWithdrawn:
			return ErrAlreadyWithdrawn
		case StatusExpired:
			return ErrExpired
		}
		if _, err := tx.Exec(ctx, `INSERT INTO consent_events (consent_id, kind, method) VALUES ($1, 'withdrawn', $2)`, id, method); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE consent_state SET status = 'withdrawn' WHERE consent_id = $1`, id); err != nil {
			return err
		}
		switch c.Kind {
		case KindProposal, KindStanding:
			withdrawn, err = withdrawProposals(ctx, tx, citizenID, c.Purpose, c.Recipient, "consent")
		case KindOffers:
			withdrawn, err = withdrawProposals(ctx, tx, citizenID, "", "", "offers")
		}
		return err
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrAlreadyWithdrawn) || errors.Is(err, ErrExpired) {
			return Consent{}, nil, err
		}
		return Consent{}, nil, fmt.Errorf("consent: withdraw %s: %w", id, err)
	}
	c, err := s.Get(ctx, citizenID, id)
	return c, withdrawn, err
}

// withdrawProposals takes back the citizen's proposals that are not yet on
// their way to an agency (for one service and recipient, or all of them)
// and tells the citizen. The message has the id of the journey's own
// "withdrawn" message, so the journey, ending the proposal afterwards,
// tells the citizen nothing twice.
func withdrawProposals(ctx context.Context, tx pgx.Tx, citizenID, service, recipient, why string) ([]Withdrawn, error) {
	out, err := proposals.WithdrawTx(ctx, tx, citizenID, service, recipient, proposals.ReasonConsentWithdrawn)
	if err != nil {
		return nil, err
	}
	for _, w := range out {
		if err := inbox.SendTx(ctx, tx, inbox.Message{ID: inbox.ID(w.ProposalID, string(proposals.StatusWithdrawn)), CitizenID: citizenID,
			Kind: inbox.KindWithdrawn, ProposalID: w.ProposalID, Key: "withdrawn." + why,
			Args: map[string]string{"service": w.Service}}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// OffersAllowed reports whether the citizen may receive proactive offers:
// in an opt-out district unless they objected, in an opt-in district only
// with their consent.
func (s *Store) OffersAllowed(ctx context.Context, citizenID string, optIn bool) (bool, error) {
	held, err := heldBy(ctx, s.db, `WHERE c.citizen_id = $1 AND c.kind IN ('offers', 'objection') AND st.status = 'active'`, citizenID)
	if err != nil {
		return false, fmt.Errorf("consent: offers allowed: %w", err)
	}
	return OffersAllowed(held, optIn, s.Clock()), nil
}

// ExpireDue appends an expired event to every consent whose validity has
// passed, so the expiry shows in its history. It returns how many.
func (s *Store) ExpireDue(ctx context.Context) (int, error) {
	tag, err := s.db.Exec(ctx, `WITH due AS (
			UPDATE consent_state SET status = 'expired'
			WHERE status = 'active' AND valid_until IS NOT NULL AND valid_until <= $1
			RETURNING consent_id)
		INSERT INTO consent_events (consent_id, kind, method) SELECT consent_id, 'expired', 'validity' FROM due`, s.Clock())
	if err != nil {
		return 0, fmt.Errorf("consent: expire: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Authorize is the one gate of every transfer: inside tx, the transaction
// that will carry the transfer, it asks the data-sharing policy, then
// requires the legal basis or active consents that cover every field for
// that recipient and purpose, and writes the transfer-log row. A transfer
// already logged for the same proposal is returned as it was (a retried
// step transfers once).
func (s *Store) Authorize(ctx context.Context, tx pgx.Tx, t Transfer) (Record, error) {
	if err := sharingAllows(ctx, s.policies, t); err != nil {
		return Record{}, err
	}
	id := transferID(t)
	fields, _ := json.Marshal(t.Fields)
	rec := Record{ID: id, CitizenID: t.CitizenID, ProposalID: t.ProposalID, Service: t.Service,
		Recipient: t.Recipient, Purpose: t.Purpose, BasisKind: t.BasisKind, Fields: t.Fields}
	var at time.Time
	var err error
	if t.BasisKind == proposals.BasisLaw {
		rec.Basis = t.BasisReference
		err = tx.QueryRow(ctx, `INSERT INTO transfers (id, citizen_id, proposal_id, service, recipient, purpose, basis_kind, basis_reference, fields)
			VALUES ($1,$2,NULLIF($3,''),$4,$5,$6,'law',$7,$8) ON CONFLICT (id) DO NOTHING RETURNING at`,
			id, t.CitizenID, t.ProposalID, t.Service, t.Recipient, t.Purpose, t.BasisReference, fields).Scan(&at)
	} else {
		// The consents' state rows are locked FOR SHARE before the rules
		// look at them: a withdrawal waits for this transfer, or this
		// transfer sees the withdrawal.
		var ids []string
		ids, err = s.covering(ctx, tx, t)
		if errors.Is(err, ErrNoConsent) {
			if prev, perr := getTransfer(ctx, tx, id); perr == nil {
				return prev, nil // logged before: the proposal's transfer happened once already
			}
		}
		if err != nil {
			return Record{}, err
		}
		rec.Basis = strings.Join(ids, ",")
		err = tx.QueryRow(ctx, `INSERT INTO transfers (id, citizen_id, proposal_id, service, recipient, purpose, basis_kind, basis_reference, fields)
			VALUES ($1,$2,NULLIF($3,''),$4,$5,$6,'consent',$7,$8) ON CONFLICT (id) DO NOTHING RETURNING at`,
			id, t.CitizenID, t.ProposalID, t.Service, t.Recipient, t.Purpose, rec.Basis, fields).Scan(&at)
	}
	if errors.Is(err, pgx.ErrNoRows) { // logged before: a retried step transfers once
		prev, perr := getTransfer(ctx, tx, id)
		if perr != nil {
			return Record{}, fmt.Errorf("consent: authorize: %w", perr)
		}
		return prev, nil
	}
	if err != nil {
		return Record{}, fmt.Errorf("consent: log transfer: %w", err)
	}
	rec.At = at.UTC()
	return rec, nil
}

// sharingAllows asks the data-sharing policy; optional fields are checked
// against their own consent by Cover.
func sharingAllows(ctx context.Context, p Policies, t Transfer) error {
	d, err := p.Sharing(ctx, policies.SharingInput{
		Service: t.Service, Municipality: t.Municipality, Recipient: t.Recipient, Basis: t.BasisKind,
		Fields: t.Fields, OptionalConsent: true,
	})
	if err != nil {
		return fmt.Errorf("consent: authorize: %w", err)
	}
	if !d.Allow {
		return fmt.Errorf("%w: %s", ErrPolicyDenied, strings.Join(d.Reasons, ", "))
	}
	return nil
}

// covering locks the state of the citizen's consents for the service and
// recipient and lets Cover pick those that carry the transfer.
func (s *Store) covering(ctx context.Context, tx pgx.Tx, t Transfer) ([]string, error) {
	held, err := heldBy(ctx, tx, `WHERE c.citizen_id = $1 AND c.purpose = $2 AND c.recipient = $3
		AND c.kind IN ('proposal', 'standing', 'optional-data') AND st.status = 'active' FOR SHARE OF st`,
		t.CitizenID, t.Service, t.Recipient)
	if err != nil {
		return nil, fmt.Errorf("consent: authorize: %w", err)
	}
	return Cover(t, held, s.Clock())
}

// heldBy reads the records the rules in coverage.go judge; where narrows
// them down (the rules decide, the query only saves reading the rest).
func heldBy(ctx context.Context, q interface {
	Query(context.Context, string, ...any) (pgx.Rows, error)
}, where string, args ...any) ([]Held, error) {
	rows, err := q.Query(ctx, `SELECT c.id, c.kind, c.purpose, c.recipient, c.fields, st.status, st.valid_until
		FROM consents c JOIN consent_state st ON st.consent_id = c.id `+where, args...)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Held, error) {
		var h Held
		var fields []byte
		err := r.Scan(&h.ID, &h.Kind, &h.Purpose, &h.Recipient, &fields, &h.Status, &h.ValidUntil)
		if err == nil {
			err = json.Unmarshal(fields, &h.Fields)
		}
		return h, err
	})
}

func transferID(t Transfer) string {
	key := t.ProposalID
	if key == "" {
		key = newID("")
	}
	h := sha256.Sum256([]byte("transfer\x00" + key))
	return "t-" + hex.EncodeToString(h[:12])
}

func getTransfer(ctx context.Context, q interface {
	QueryRow(context.Context, string, ...any) pgx.Row
}, id string) (Record, error) {
	var r Record
	var fields []byte
	var proposal *string
	err := q.QueryRow(ctx, `SELECT id, citizen_id, proposal_id, service, at, recipient, purpose, basis_kind, basis_reference, fields
		FROM transfers WHERE id = $1`, id).Scan(&r.ID, &r.CitizenID, &proposal, &r.Service, &r.At, &r.Recipient, &r.Purpose, &r.BasisKind, &r.Basis, &fields)
	if err != nil {
		return r, err
	}
	if proposal != nil {
		r.ProposalID = *proposal
	}
	r.At = r.At.UTC()
	_ = json.Unmarshal(fields, &r.Fields)
	return r, nil
}

// Transfers returns the citizen's transparency log, newest first.
func (s *Store) Transfers(ctx context.Context, citizenID string) ([]Record, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM transfers WHERE citizen_id = $1 ORDER BY at DESC, id`, citizenID)
	if err != nil {
		return nil, fmt.Errorf("consent: transfers: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("consent: transfers: %w", err)
	}
	out := make([]Record, 0, len(ids))
	for _, id := range ids {
		r, err := getTransfer(ctx, s.db, id)
		if err != nil {
			return nil, fmt.Errorf("consent: transfers: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Sweep records expired consents and purges transfer-log entries older
// than retention every interval until ctx ends.
func (s *Store) Sweep(ctx context.Context, interval, retention time.Duration, log *slog.Logger) {
	for {
		if n, err := s.ExpireDue(ctx); err != nil && ctx.Err() == nil {
			log.Warn("consent expiry sweep failed", "error", err)
		} else if n > 0 {
			log.Info("consents expired", "count", n)
		}
		if _, err := s.PurgeTransfers(ctx, retention); err != nil && ctx.Err() == nil {
			log.Warn("transfer retention sweep failed", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(interval):
		}
	}
}

// PurgeTransfers deletes log entries older than the retention period
// (two years by default, as the Datenschutzcockpit keeps them).
func (s *Store) PurgeTransfers(ctx context.Context, retention time.Duration) (int, error) {
	tag, err := s.db.Exec(ctx, `DELETE FROM transfers WHERE at < $1`, s.Clock().Add(-retention))
	if err != nil {
		return 0, fmt.Errorf("consent: purge transfers: %w", err)
	}
	return int(tag.RowsAffected()), nil
}

// Receipt is the downloadable proof of a consent: the record, its history
// and a hash of both.
type Receipt struct {
	Consent     Consent `json:"consent"`
	IssuedAt    string  `json:"issuedAt"`
	ContentHash string  `json:"contentHash"`
}

// Receipt returns the citizen's receipt for a consent.
func (s *Store) Receipt(ctx context.Context, citizenID, id string) (Receipt, error) {
	c, err := s.Get(ctx, citizenID, id)
	if err != nil {
		return Receipt{}, err
	}
	body, _ := json.Marshal(c)
	sum := sha256.Sum256(body)
	return Receipt{Consent: c, IssuedAt: s.Clock().UTC().Format(time.RFC3339), ContentHash: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

// ForProposal returns the per-proposal consent given for a proposal, if any.
func (s *Store) ForProposal(ctx context.Context, citizenID, proposalID string) (string, bool, error) {
	var id string
	err := s.db.QueryRow(ctx, `SELECT id FROM consents WHERE citizen_id = $1 AND proposal_id = $2 AND kind = 'proposal'`,
		citizenID, proposalID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("consent: for proposal: %w", err)
	}
	return id, true, nil
}

// StandingCovers reports whether an active standing consent lets the
// service be applied for automatically with these fields.
func (s *Store) StandingCovers(ctx context.Context, citizenID, service, recipient string, fields []string) (bool, error) {
	held, err := heldBy(ctx, s.db, `WHERE c.citizen_id = $1 AND c.purpose = $2 AND c.recipient = $3 AND c.kind = 'standing'
		AND st.status = 'active'`, citizenID, service, recipient)
	if err != nil {
		return false, fmt.Errorf("consent: standing: %w", err)
	}
	return StandingCovers(held, service, recipient, fields, s.Clock()), nil
}
