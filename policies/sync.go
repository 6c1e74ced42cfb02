package policies

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
)

// PGBundles keeps uploaded bundles in Postgres so that every process serves
// the same revision. An upload that passed every check is proposed; it goes
// live once enough different people approved it (four eyes), and each
// process's Sync then loads it.
type PGBundles struct{ db *pgxpool.Pool }

// NewPGBundles returns the bundle store on db.
func NewPGBundles(db *pgxpool.Pool) *PGBundles { return &PGBundles{db: db} }

// Errors callers branch on.
var (
	ErrUnknownRevision = errors.New("no such proposed revision")
	ErrAlreadyActive   = errors.New("revision already active")
	ErrSameApprover    = errors.New("already approved by this person")
	// ErrRevisionTaken: the revision names other content already; a
	// reviewer must never approve something else under a name they know.
	ErrRevisionTaken = errors.New("the revision names another bundle already")
)

// Approval is one person's yes to a revision.
type Approval struct {
	By string    `json:"by"`
	At time.Time `json:"at"`
}

// Revision is a stored upload with its approvals.
type Revision struct {
	Revision    string     `json:"revision"`
	UploadedBy  string     `json:"uploadedBy"`
	UploadedAt  time.Time  `json:"uploadedAt"`
	ActivatedAt *time.Time `json:"activatedAt,omitempty"`
	Approvals   []Approval `json:"approvals"`
}

// Propose records raw (a gzipped bundle that passed every check) as a
// proposed revision, approved by its uploader. With required ≤ 1 it is
// active at once. The same content proposed again is the same proposal;
// other content under a revision name already used is ErrRevisionTaken.
func (s *PGBundles) Propose(ctx context.Context, revision string, raw []byte, by string, required int) (Revision, error) {
	sum := sha256.Sum256(raw)
	digest := hex.EncodeToString(sum[:])
	var out Revision
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		// One proposal at a time per name: concurrent uploads of a name wait.
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext('policy_bundles:' || $1))`, revision); err != nil {
			return err
		}
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_bundles WHERE revision = $1 AND digest IS DISTINCT FROM $2)`,
			revision, digest).Scan(&taken); err != nil {
			return err
		}
		if taken {
			return ErrRevisionTaken
		}
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM policy_bundles WHERE revision = $1 AND activated_at IS NULL ORDER BY id DESC LIMIT 1`, revision).Scan(&id)
		if err == nil {
			out, err = revisionByID(ctx, tx, id)
			return err
		}
		if !errors.Is(err, pgx.ErrNoRows) {
			return err
		}
		if err := tx.QueryRow(ctx, `INSERT INTO policy_bundles (revision, bundle, uploaded_by, digest) VALUES ($1, $2, $3, $4) RETURNING id`,
			revision, raw, by, digest).Scan(&id); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `INSERT INTO policy_approvals (bundle_id, approved_by) VALUES ($1, $2)`, id, by); err != nil {
			return err
		}
		if required <= 1 {
			if _, err := tx.Exec(ctx, `UPDATE policy_bundles SET activated_at = clock_timestamp() WHERE id = $1`, id); err != nil {
				return err
			}
		}
		out, err = revisionByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return Revision{}, fmt.Errorf("policies: propose %s: %w", revision, err)
	}
	return out, nil
}

// Approve records by's approval of the proposed upload of revision. When
// this approval is the last one required, vet runs on the bundle before
// the activation commits (a bundle that no longer passes stays proposed),
// and the bundle is returned to load: the revision is active from now on.
func (s *PGBundles) Approve(ctx context.Context, revision, by string, required int, vet func(raw []byte) error) (Revision, []byte, error) {
	var out Revision
	var raw []byte
	err := pgx.BeginFunc(ctx, s.db, func(tx pgx.Tx) error {
		var id int64
		err := tx.QueryRow(ctx, `SELECT id FROM policy_bundles WHERE revision = $1 AND activated_at IS NULL
			ORDER BY id DESC LIMIT 1 FOR UPDATE`, revision).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			var active bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM policy_bundles WHERE revision = $1)`, revision).Scan(&active); err != nil {
				return err
			}
			if active {
				return ErrAlreadyActive
			}
			return ErrUnknownRevision
		}
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO policy_approvals (bundle_id, approved_by) VALUES ($1, $2) ON CONFLICT DO NOTHING`, id, by)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ErrSameApprover
		}
		var n int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM policy_approvals WHERE bundle_id = $1`, id).Scan(&n); err != nil {
			return err
		}
		if n >= required {
			var candidate []byte
			if err := tx.QueryRow(ctx, `SELECT bundle FROM policy_bundles WHERE id = $1`, id).Scan(&candidate); err != nil {
				return err
			}
			if err := vet(candidate); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE policy_bundles SET activated_at = clock_timestamp() WHERE id = $1`, id); err != nil {
				return err
			}
			raw = candidate
		}
		out, err = revisionByID(ctx, tx, id)
		return err
	})
	if err != nil {
		return Revision{}, nil, fmt.Errorf("policies: approve %s: %w", revision, err)
	}
	return out, raw, nil
}

// Proposed lists the revisions waiting for approval, newest first.
func (s *PGBundles) Proposed(ctx context.Context) ([]Revision, error) {
	rows, err := s.db.Query(ctx, `SELECT id FROM policy_bundles WHERE activated_at IS NULL ORDER BY id DESC LIMIT 50`)
	if err != nil {
		return nil, fmt.Errorf("policies: proposed revisions: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[int64])
	if err != nil {
		return nil, fmt.Errorf("policies: proposed revisions: %w", err)
	}
	out := []Revision{}
	for _, id := range ids {
		r, err := revisionByID(ctx, s.db, id)
		if err != nil {
			return nil, fmt.Errorf("policies: proposed revisions: %w", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// Active returns the newest activated upload, or ok=false if none.
func (s *PGBundles) Active(ctx context.Context) (Revision, bool, error) {
	var id int64
	err := s.db.QueryRow(ctx, `SELECT id FROM policy_bundles WHERE activated_at IS NOT NULL
		ORDER BY activated_at DESC, id DESC LIMIT 1`).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return Revision{}, false, nil
	}
	if err != nil {
		return Revision{}, false, fmt.Errorf("policies: active revision: %w", err)
	}
	r, err := revisionByID(ctx, s.db, id)
	return r, err == nil, err
}

type queryer interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
}

func revisionByID(ctx context.Context, q queryer, id int64) (Revision, error) {
	var r Revision
	if err := q.QueryRow(ctx, `SELECT revision, uploaded_by, uploaded_at, activated_at FROM policy_bundles WHERE id = $1`, id).
		Scan(&r.Revision, &r.UploadedBy, &r.UploadedAt, &r.ActivatedAt); err != nil {
		return r, err
	}
	rows, err := q.Query(ctx, `SELECT approved_by, approved_at FROM policy_approvals WHERE bundle_id = $1 ORDER BY approved_at, approved_by`, id)
	if err != nil {
		return r, err
	}
	r.Approvals, err = pgx.CollectRows(rows, func(row pgx.CollectableRow) (Approval, error) {
		var a Approval
		err := row.Scan(&a.By, &a.At)
		a.At = a.At.UTC()
		return a, err
	})
	r.UploadedAt = r.UploadedAt.UTC()
	if r.ActivatedAt != nil {
		t := r.ActivatedAt.UTC()
		r.ActivatedAt = &t
	}
	return r, err
}

// latest returns the newest activated bundle's revision and content.
func (s *PGBundles) latest(ctx context.Context) (revision string, raw []byte, ok bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT revision, bundle FROM policy_bundles WHERE activated_at IS NOT NULL
		ORDER BY activated_at DESC, id DESC LIMIT 1`).Scan(&revision, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("policies: active bundle: %w", err)
	}
	return revision, raw, true, nil
}

// SyncMetrics tell operators what each process made of the approved
// bundle.
type SyncMetrics struct {
	// Refused is 1 while this process refuses the newest approved bundle
	// (it passed when approved; this version's checks do not) and serves
	// an older revision instead.
	Refused prometheus.Gauge
	Loaded  prometheus.Counter
}

// NewSyncMetrics registers the sync's metrics.
func NewSyncMetrics(reg prometheus.Registerer) *SyncMetrics {
	m := &SyncMetrics{
		Refused: prometheus.NewGauge(prometheus.GaugeOpts{Name: "lifeevents_policy_bundle_refused",
			Help: "1 while this process refuses the newest approved policy bundle and serves an older revision."}),
		Loaded: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeevents_policy_bundles_loaded_total",
			Help: "Approved policy bundles this process loaded."}),
	}
	reg.MustRegister(m.Refused, m.Loaded)
	return m
}

// Sync loads the newest activated bundle into e whenever it changes, until
// ctx ends. A bundle that no longer passes (it did when uploaded) is logged,
// shown in m.Refused, and the running revision stays. m may be nil.
func (s *PGBundles) Sync(ctx context.Context, e *Engine, every time.Duration, log *slog.Logger, m *SyncMetrics) {
	if m == nil {
		m = NewSyncMetrics(prometheus.NewRegistry())
	}
	var seen string
	for {
		if rev, raw, ok, err := s.latest(ctx); err == nil && ok && rev != seen && rev != e.Revision() {
			b, err := TarballBundle(bytes.NewReader(raw))
			if err == nil {
				_, err = e.Load(ctx, b)
			}
			if err != nil {
				m.Refused.Set(1)
				log.Error("stored policy bundle refused", "revision", rev, "error", err)
			} else {
				m.Refused.Set(0)
				m.Loaded.Inc()
				log.Info("policy bundle loaded", "revision", e.Revision())
			}
			seen = rev
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}
