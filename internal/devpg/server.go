// Package devpg runs a private PostgreSQL server from the machine's own
// binaries (initdb, postgres), for dev mode and for tests. Production points
// DATABASE_URL at a managed server instead.
package devpg

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// ErrNoBinaries is returned when neither PATH nor the usual Debian location
// holds initdb and postgres.
var ErrNoBinaries = errors.New("no PostgreSQL binaries (initdb, postgres) found on PATH or in /usr/lib/postgresql/*/bin: install PostgreSQL or set DATABASE_URL")

// Options configure a private server.
type Options struct {
	// Dir holds the cluster. It is created (initdb) when it holds none yet.
	Dir string
	// Port on 127.0.0.1; 0 picks a free one.
	Port int
	// User is the OS account the server runs as when this process is root
	// (initdb refuses to run as root). Default "postgres".
	User string
	// Fast trades durability for speed (fsync off): for tests only.
	Fast bool
	// Log receives the server's own output; nil discards it.
	Log    io.Writer
	Logger *slog.Logger
}

// Server is a running private PostgreSQL server.
type Server struct {
	opts Options
	cmd  *exec.Cmd
	port int
	done chan struct{}
	err  error
}

const superuser = "lifeevents"

// Start initialises the cluster if needed and starts the server, waiting
// until it accepts connections.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Log == nil {
		opts.Log = io.Discard
	}
	bin, err := findBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("devpg: %w", err)
	}
	opts.Dir = dir
	cred, err := credentialFor(opts.User)
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		opts.Logger.Info("initialising private postgres cluster", "dir", dir)
		initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", superuser,
			"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-instructions")
		initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
		if out, err := initdb.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("devpg: initdb in %s: %v: %s", dir, err, lastLine(out))
		}
	}
	if err := stopOrphan(dir, opts.Logger); err != nil {
		return nil, err
	}
	port := opts.Port
	if port == 0 {
		if port, err = freePort(); err != nil {
			return nil, fmt.Errorf("devpg: %w", err)
		}
	} else if err := portFree(port); err != nil {
		return nil, err
	}
	args := []string{"-D", dir, "-p", strconv.Itoa(port), "-h", "127.0.0.1",
		"-c", "unix_socket_directories=", "-c", "max_connections=200"}
	if opts.Fast {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = opts.Log, opts.Log
	// SIGQUIT is postgres' immediate shutdown: if this process dies without
	// stopping the server (kill -9), the server goes with it rather than
	// lingering on the port and holding the data directory.
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGQUIT, Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("devpg: start postgres: %w", err)
	}
	s := &Server{opts: opts, cmd: cmd, port: port, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	opts.Logger.Info("private postgres ready", "port", port, "dir", dir)
	return s, nil
}

// URL is a connection string for the given database on this server.
func (s *Server) URL(database string) string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, database)
}

// Port the server listens on.
func (s *Server) Port() int { return s.port }

// PID of the postmaster.
func (s *Server) PID() int { return s.cmd.Process.Pid }

// Stop asks for a fast shutdown and waits for it.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		_ = s.cmd.Process.Signal(syscall.SIGQUIT)
		<-s.done
	}
	return nil
}

func (s *Server) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		select {
		case <-s.done:
			return fmt.Errorf("devpg: postgres exited during start (%v); its log is in %s", s.err, s.opts.Dir)
		default:
		}
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgx.Connect(cctx, s.URL("postgres"))
		cancel()
		if err == nil {
			_ = conn.Close(ctx)
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("devpg: postgres not ready after %s: %w", limit, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// CreateDatabase creates a database unless it exists.
func (s *Server) CreateDatabase(ctx context.Context, name string) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("devpg: connect: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("devpg: look up database %s: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("devpg: create database %s: %w", name, err)
	}
	return nil
}

func findBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		dir := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(dir, "postgres")); err == nil {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return versionOf(dirs[i]) > versionOf(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d, nil
		}
	}
	return "", ErrNoBinaries
}

func versionOf(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// credentialFor returns nil when this process is not root: the server then
// runs as the current user. As root it runs as an unprivileged account.
func credentialFor(name string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	if name == "" {
		name = "postgres"
	}
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("devpg: running as root, and PostgreSQL refuses to run as root: create the account %q (or run as another user, or set DATABASE_URL)", name)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("devpg: create %s: %w", dir, err)
	}
	if cred == nil {
		return nil
	}
	// Only a directory not yet owned by the server account needs handing
	// over; a running server's files come and go while we would walk them.
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	if st := fi.Sys().(*syscall.Stat_t); st.Uid == cred.Uid {
		return checkReachable(dir, cred)
	}
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(p, int(cred.Uid), int(cred.Gid))
	}); err != nil {
		return fmt.Errorf("devpg: hand %s to the server account: %w", dir, err)
	}
	return checkReachable(dir, cred)
}

// checkReachable fails with a clear message when the server account cannot
// traverse the folders above its directory.
func checkReachable(dir string, cred *syscall.Credential) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("devpg: %w", err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		ok := mode&0o001 != 0 || (st.Uid == cred.Uid && mode&0o100 != 0) || (st.Gid == cred.Gid && mode&0o010 != 0)
		if !ok {
			return fmt.Errorf("devpg: the postgres account cannot reach %s (folder %s is mode %o): choose a data dir under a readable path, or set DATABASE_URL", dir, p, mode)
		}
		if p == "/" || p == "." {
			return nil
		}
	}
}

// stopOrphan stops a server that a killed earlier run left behind on this
// directory, so the new one can start cleanly. Postgres itself removes a
// postmaster.pid whose process is gone.
func stopOrphan(dir string, logger *slog.Logger) error {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return nil
	}
	pid, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil || pid <= 0 {
		return nil
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmdline), "postgres") {
		return nil
	}
	logger.Warn("stopping a postgres left running by an earlier run", "pid", pid)
	_ = syscall.Kill(pid, syscall.SIGQUIT)
	for range 200 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("devpg: postgres pid %d from an earlier run on %s does not stop", pid, dir)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) error {
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		return fmt.Errorf("devpg: port 127.0.0.1:%d is in use", port)
	}
	return l.Close()
}

func lastLine(b []byte) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	return lines[len(lines)-1]
}
