package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// TestDevDataIsPrivate holds class 6 of the security review: what dev
// mode keeps (Kafka's log, Temporal's database, keys, Postgres) is
// readable by its own account alone, and the private Postgres asks for
// its password even on loopback.
func TestDevDataIsPrivate(t *testing.T) {
	dir := dataDir(t)
	dev := startDev(t, dir, newPorts(t))
	dev.emit(event(t, "move.json", "private-move-1"))
	dev.waitEvent(dev.token("ops-1", "operator"), "private-move-1")

	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	// Others get nothing; the group only passes through, where the
	// private Postgres runs under its own account (as root).
	if perm := fi.Mode().Perm(); perm&0o067 != 0 {
		t.Fatalf("data dir mode %o: group or others may read it", perm)
	}
	var open []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || p == dir {
			return nil
		}
		if d.IsDir() && p == filepath.Join(dir, "postgres") {
			return filepath.SkipDir // postgres keeps its own files 0600/0700
		}
		if info, err := d.Info(); err == nil && d.Type()&fs.ModeSymlink == 0 && info.Mode().Perm()&0o077 != 0 {
			open = append(open, strings.TrimPrefix(p, dir)+" "+info.Mode().Perm().String())
		}
		return nil
	})
	if len(open) > 0 {
		t.Fatalf("files readable beyond their owner: %v", open)
	}
	kafka, _ := filepath.Glob(filepath.Join(dir, "kafka", "*"))
	if len(kafka) == 0 {
		t.Fatal("no Kafka files: the check above saw nothing of the broker")
	}

	port := regexp.MustCompile(`127\.0\.0\.1:(\d+)/lifeevents`).FindStringSubmatch(dev.out.String())
	if port == nil {
		t.Fatalf("no Postgres address in the banner:\n%s", dev.out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if conn, err := pgx.Connect(ctx, "postgres://lifeevents@127.0.0.1:"+port[1]+"/lifeevents?sslmode=disable"); err == nil {
		conn.Close(ctx)
		t.Fatal("the private Postgres let a connection without password in")
	} else if !strings.Contains(err.Error(), "password") {
		t.Fatalf("without password: %v", err)
	}
	pw, err := os.ReadFile(filepath.Join(dir, "postgres.password"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, "postgres://lifeevents:"+strings.TrimSpace(string(pw))+"@127.0.0.1:"+port[1]+"/lifeevents?sslmode=disable")
	if err != nil {
		t.Fatalf("with the password: %v", err)
	}
	conn.Close(ctx)
	if strings.Contains(dev.out.String()+dev.err.String(), strings.TrimSpace(string(pw))) {
		t.Fatal("the Postgres password appears in dev's output")
	}
	dev.kill(syscall.SIGTERM)
}

// gz packs files into a gzipped tarball.
func gz(t *testing.T, files map[string][]byte, claims map[string]int64) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for name, b := range files {
		size := int64(len(b))
		if c, ok := claims[name]; ok {
			size = c
		}
		_ = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size})
		_, _ = tw.Write(b)
	}
	_ = tw.Flush()
	_ = zw.Close()
	return buf.Bytes()
}

// uploadRefused checks a refused upload's answer and that nothing changed.
func uploadRefused(t *testing.T, dev *devProc, team string, body []byte, code int, errCode, field, value string) {
	t.Helper()
	var refused map[string]any
	if got := dev.put("/api/v1/policies", team, body, &refused); got != code {
		t.Fatalf("upload answered %d %v, want %d", got, refused, code)
	}
	e, _ := refused["error"].(map[string]any)
	if e == nil || e["code"] != errCode || (field != "" && refused[field] != value) {
		t.Fatalf("upload answer %v, want %s with %s=%s", refused, errCode, field, value)
	}
	if code := dev.get("/readyz", "", nil); code != http.StatusOK {
		t.Fatalf("after the upload the process is not ready: %d", code)
	}
}
