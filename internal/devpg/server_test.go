package devpg_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/lifeevents/lifeevents/internal/devpg"
)

func tempDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir()
	// The server may run as another account when the tests run as root.
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755)
	}
	return d
}

func queryOne(t *testing.T, url, sql string) string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer conn.Close(ctx)
	var s string
	if err := conn.QueryRow(ctx, sql).Scan(&s); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return s
}

func TestStartKeepsDataAcrossRestarts(t *testing.T) {
	dir := tempDir(t) + "/pg"
	ctx := context.Background()
	s, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.CreateDatabase(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL("app"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('still here')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}

	s2, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Stop()
	if got := queryOne(t, s2.URL("app"), "SELECT v FROM kept"); got != "still here" {
		t.Fatalf("after restart: got %q", got)
	}
}

// TestSurvivesKilledParent starts the server from a child process, kills that
// process with SIGKILL, and checks that the next start on the same directory
// comes up with the data intact.
func TestSurvivesKilledParent(t *testing.T) {
	if os.Getenv("DEVPG_CHILD_DIR") != "" {
		return // the helper body runs in TestMain-less child mode below
	}
	dir := tempDir(t) + "/pg"
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperServer$", "-test.v")
	cmd.Env = append(os.Environ(), "DEVPG_CHILD_DIR="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	deadline := time.Now().Add(60 * time.Second)
	var got string
	for time.Now().Before(deadline) {
		n, _ := out.Read(buf)
		got += string(buf[:n])
		if n == 0 || containsReady(got) {
			break
		}
	}
	if !containsReady(got) {
		t.Fatalf("child did not start postgres: %s", got)
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()

	ctx := context.Background()
	s, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatalf("restart after kill -9: %v", err)
	}
	defer s.Stop()
	if got := queryOne(t, s.URL("postgres"), "SELECT v FROM kept"); got != "before the kill" {
		t.Fatalf("after kill -9: got %q", got)
	}
}

func containsReady(s string) bool {
	for i := 0; i+len("READY") <= len(s); i++ {
		if s[i:i+5] == "READY" {
			return true
		}
	}
	return false
}

// TestHelperServer is the child of TestSurvivesKilledParent: it starts a
// server, writes a row, prints READY and blocks until it is killed.
func TestHelperServer(t *testing.T) {
	dir := os.Getenv("DEVPG_CHILD_DIR")
	if dir == "" {
		t.Skip("helper for TestSurvivesKilledParent")
	}
	ctx := context.Background()
	s, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('before the kill')"); err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("READY pid=" + strconv.Itoa(s.PID()) + "\n")
	select {}
}

func TestPortInUse(t *testing.T) {
	dir := tempDir(t) + "/pg"
	ctx := context.Background()
	s, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	_, err = devpg.Start(ctx, devpg.Options{Dir: tempDir(t) + "/other", Port: s.Port()})
	if err == nil {
		t.Fatal("second server on a used port started")
	}
}

// TestPasswordOnLoopback: the private server refuses a connection without
// its password, also for a cluster an earlier version made with trust.
func TestPasswordOnLoopback(t *testing.T) {
	dir := tempDir(t) + "/pg"
	ctx := context.Background()
	s, err := devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	noPassword := func(s *devpg.Server) string {
		return "postgres://lifeevents@127.0.0.1:" + strconv.Itoa(s.Port()) + "/postgres?sslmode=disable"
	}
	if conn, err := pgx.Connect(ctx, noPassword(s)); err == nil {
		conn.Close(ctx)
		t.Fatal("connected without the password")
	}
	if got := queryOne(t, s.URL("postgres"), "SELECT 'in'"); got != "in" {
		t.Fatal(got)
	}
	fi, err := os.Stat(dir + ".password")
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("password file: %v %v", fi, err)
	}
	_ = s.Stop()

	// An old cluster: trust in pg_hba.conf and no password file. The next
	// start gives it a password and takes trust away.
	if err := os.WriteFile(filepath.Join(dir, "pg_hba.conf"), []byte("host all all 127.0.0.1/32 trust\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_ = os.Remove(dir + ".password")
	s, err = devpg.Start(ctx, devpg.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	if got := queryOne(t, s.URL("postgres"), "SELECT 'in'"); got != "in" {
		t.Fatal(got)
	}
	if conn, err := pgx.Connect(ctx, noPassword(s)); err == nil {
		conn.Close(ctx)
		t.Fatal("an upgraded cluster still lets connections in without the password")
	}
}
