// Package pgtest gives each test its own real PostgreSQL database: one private
// server per test binary (started on first use), one database per test,
// cloned from a migrated template in milliseconds.
//
// A test binary that uses it calls Main from TestMain so the server stops
// when the tests end. LIFEEVENTS_TEST_DATABASE_URL points the harness at an
// existing server instead (it needs the right to create databases).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/lifeevents/lifeevents/internal/devpg"
	"github.com/lifeevents/lifeevents/postgres"
)

const template = "lifeevents_template"

var (
	once    sync.Once
	server  *devpg.Server
	tmpDir  string
	adminDB string // URL of a maintenance database on the server
	initErr error
	seq     atomic.Int64
)

// Main runs the tests and then stops the private server.
func Main(m *testing.M) int {
	code := m.Run()
	if server != nil {
		_ = server.Stop()
	}
	if tmpDir != "" {
		_ = os.RemoveAll(tmpDir)
	}
	return code
}

func setup() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if ext := os.Getenv("LIFEEVENTS_TEST_DATABASE_URL"); ext != "" {
		adminDB = ext
	} else {
		tmpDir, initErr = os.MkdirTemp("", "lifeevents-pgtest-")
		if initErr != nil {
			return
		}
		// The server may run as another account (when tests run as root).
		if initErr = os.Chmod(tmpDir, 0o755); initErr != nil {
			return
		}
		server, initErr = devpg.Start(ctx, devpg.Options{Dir: tmpDir + "/data", Fast: true})
		if initErr != nil {
			return
		}
		adminDB = server.URL("postgres")
	}
	conn, err := pgx.Connect(ctx, adminDB)
	if err != nil {
		initErr = err
		return
	}
	defer conn.Close(ctx)
	_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+template+" WITH (FORCE)")
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+template); err != nil {
		initErr = err
		return
	}
	pool, err := postgres.Open(ctx, withDatabase(adminDB, template))
	if err != nil {
		initErr = err
		return
	}
	_, initErr = postgres.Migrate(ctx, pool)
	pool.Close()
}

// URL creates a fresh migrated database for this test and returns its URL.
// The database is dropped when the test ends.
func URL(t testing.TB) string {
	t.Helper()
	once.Do(setup)
	if initErr != nil {
		t.Fatalf("pgtest: %v", initErr)
	}
	name := fmt.Sprintf("t_%d_%d", os.Getpid(), seq.Add(1))
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, adminDB)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+template); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, adminDB)
		if err != nil {
			return
		}
		defer conn.Close(ctx)
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(adminDB, name)
}

// New returns a pool on a fresh migrated database of its own.
func New(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := postgres.Open(context.Background(), URL(t))
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func withDatabase(raw, db string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + db
	return u.String()
}
