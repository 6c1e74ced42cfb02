package postgres_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/internal/devpg"
	"github.com/lifeevents/lifeevents/internal/tlsfiles/tlstest"
	"github.com/lifeevents/lifeevents/postgres"
)

// TestManagedDatabase: a server that accepts TLS connections only, as a
// managed database does. The URL alone configures the client
// (sslmode=verify-full, sslrootcert); a wrong CA, a wrong host name, no TLS
// and a wrong password are refused with an error naming the setting and
// never the password; an unreachable server within the connect timeout.
func TestManagedDatabase(t *testing.T) {
	pki := tlstest.New(t, "localhost")
	ctx := context.Background()
	dir := t.TempDir()
	// As root, the server runs as postgres and must reach its folder.
	_ = os.Chmod(filepath.Dir(dir), 0o711)
	_ = os.Chmod(dir, 0o711)
	srv, err := devpg.Start(ctx, devpg.Options{Dir: filepath.Join(dir, "pg"), Fast: true, TLSCert: pki.ServerCert, TLSKey: pki.ServerKey})
	if errors.Is(err, devpg.ErrNoBinaries) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Stop() })

	pool, err := postgres.Open(ctx, strings.Replace(srv.URLWith("postgres", "sslmode=verify-full&sslrootcert="+pki.CA), "127.0.0.1", "localhost", 1))
	if err != nil {
		t.Fatal(err)
	}
	var ssl bool
	if err := pool.QueryRow(ctx, `SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()`).Scan(&ssl); err != nil || !ssl {
		t.Fatalf("connection not encrypted: %v %v", ssl, err)
	}
	pool.Close()

	good := srv.URLWith("postgres", "sslmode=disable")
	password := good[strings.Index(good, ":")+3:]
	password = password[strings.Index(password, ":")+1 : strings.Index(password, "@")]
	for name, url := range map[string]string{
		"another CA":     srv.URLWith("postgres", "sslmode=verify-full&sslrootcert="+pki.OtherCA),
		"no TLS":         srv.URLWith("postgres", "sslmode=disable"),
		"wrong password": strings.Replace(srv.URLWith("postgres", "sslmode=require"), password, "wrong-password", 1),
		"unreadable CA":  srv.URLWith("postgres", "sslmode=verify-full&sslrootcert=/nonexistent/ca.pem"),
		"unreachable":    "postgres://u:secret-pw@127.0.0.1:1/db?sslmode=require",
	} {
		began := time.Now()
		pool, err := postgres.Open(ctx, url)
		if err == nil {
			pool.Close()
			t.Errorf("%s: connected", name)
			continue
		}
		msg := err.Error()
		if !strings.HasPrefix(msg, "--database-url") || strings.Contains(msg, password) || strings.Contains(msg, "secret-pw") || time.Since(began) > 15*time.Second {
			t.Errorf("%s: %q after %s", name, msg, time.Since(began))
		}
	}
}
