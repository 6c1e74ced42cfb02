package policies

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// PGBundles keeps uploaded bundles in Postgres so that every process serves
// the same revision: the API stores an upload once it passed all checks, and
// each process's Sync loads it.
type PGBundles struct{ db *pgxpool.Pool }

// NewPGBundles returns the bundle store on db.
func NewPGBundles(db *pgxpool.Pool) *PGBundles { return &PGBundles{db: db} }

// Save records raw (a gzipped bundle) as the newest revision.
func (s *PGBundles) Save(ctx context.Context, revision string, raw []byte, by string) error {
	if _, err := s.db.Exec(ctx, `INSERT INTO policy_bundles (revision, bundle, uploaded_by) VALUES ($1, $2, $3)`, revision, raw, by); err != nil {
		return fmt.Errorf("policies: save bundle %s: %w", revision, err)
	}
	return nil
}

// Latest returns the newest uploaded bundle, or ok=false if none.
func (s *PGBundles) Latest(ctx context.Context) (revision string, raw []byte, ok bool, err error) {
	err = s.db.QueryRow(ctx, `SELECT revision, bundle FROM policy_bundles ORDER BY id DESC LIMIT 1`).Scan(&revision, &raw)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil, false, nil
	}
	if err != nil {
		return "", nil, false, fmt.Errorf("policies: latest bundle: %w", err)
	}
	return revision, raw, true, nil
}

// LatestRevision returns only the newest revision's name.
func (s *PGBundles) LatestRevision(ctx context.Context) (string, error) {
	var rev string
	err := s.db.QueryRow(ctx, `SELECT revision FROM policy_bundles ORDER BY id DESC LIMIT 1`).Scan(&rev)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", nil
	}
	return rev, err
}

// Sync loads the newest uploaded bundle into e whenever it changes, until
// ctx ends. A bundle that no longer passes (it did when uploaded) is logged
// and the running revision stays.
func (s *PGBundles) Sync(ctx context.Context, e *Engine, every time.Duration, log *slog.Logger) {
	var seen string
	for {
		if rev, err := s.LatestRevision(ctx); err == nil && rev != "" && rev != seen && rev != e.Revision() {
			if _, raw, ok, err := s.Latest(ctx); err == nil && ok {
				b, err := TarballBundle(bytes.NewReader(raw))
				if err == nil {
					_, err = e.Load(ctx, b)
				}
				if err != nil {
					log.Error("stored policy bundle refused", "revision", rev, "error", err)
				} else {
					log.Info("policy bundle loaded", "revision", e.Revision())
				}
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
