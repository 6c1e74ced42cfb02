package postgres_test

import (
	"context"
	"os"
	"testing"

	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/postgres"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestMigrateIsIdempotent(t *testing.T) {
	pool := pgtest.New(t) // already migrated from the template
	applied, err := postgres.Migrate(context.Background(), pool)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 {
		t.Fatalf("re-applied %v", applied)
	}
	ms, _ := postgres.Migrations()
	var n int
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM schema_migrations").Scan(&n); err != nil || n != len(ms) {
		t.Fatalf("schema_migrations has %d rows, want %d (%v)", n, len(ms), err)
	}
	for _, table := range []string{"life_events", "proposals", "messages"} {
		if _, err := pool.Exec(context.Background(), "SELECT 1 FROM "+table+" LIMIT 1"); err != nil {
			t.Fatalf("table %s: %v", table, err)
		}
	}
}
