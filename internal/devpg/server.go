// Package devpg runs a private PostgreSQL server from the machine's own
// binaries (initdb, postgres), for dev mode and for tests. Production points
// DATABASE_URL at a managed server instead.
package devpg

import (
	"context"
	"crypto/rand"
	"encoding/hex"
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
	// PasswordFile holds the superuser's password (created at first start,
	// mode 0600). Default: the cluster folder's name + ".password" beside it.
	PasswordFile string
	// Log receives the server's own output; nil discards it.
	Log    io.Writer
	Logger *slog.Logger
	// TLSCert and TLSKey, PEM files, make the server accept TLS
	// connections only, as a managed database does (for the clients' TLS
	// tests).
	TLSCert, TLSKey string
}

// Server is a running private PostgreSQL server.
type Server struct {
	opts     Options
	cmd      *exec.Cmd
	port     int
	password string
	done     chan struct{}
	err      error
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
	if opts.PasswordFile == "" {
		opts.PasswordFile = dir + ".password"
	}
	password, fresh, err := readPassword(opts.PasswordFile)
	if err != nil {
		return nil, err
	}
	_, statErr := os.Stat(filepath.Join(dir, "PG_VERSION"))
	newCluster := errors.Is(statErr, os.ErrNotExist)
	if newCluster && fresh {
		if err := writePassword(opts.PasswordFile, password); err != nil {
			return nil, err
		}
	}
	if newCluster {
		opts.Logger.Info("initialising private postgres cluster", "dir", dir)
		if err := initCluster(ctx, bin, dir, password, cred); err != nil {
			return nil, err
		}
	}
	// A cluster made before passwords were set trusts every local user:
	// start it once more on trust to set the password, then never again.
	upgrade := !newCluster && fresh
	if err := writeHBA(dir, upgrade, opts.TLSCert != "", cred); err != nil {
		return nil, err
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
	if opts.TLSCert != "" {
		cert, key, err := installTLS(dir, opts.TLSCert, opts.TLSKey, cred)
		if err != nil {
			return nil, err
		}
		args = append(args, "-c", "ssl=on", "-c", "ssl_cert_file="+cert, "-c", "ssl_key_file="+key)
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
	s := &Server{opts: opts, cmd: cmd, port: port, password: password, done: make(chan struct{})}
	go func() { s.err = cmd.Wait(); close(s.done) }()
	if err := s.waitReady(ctx, 60*time.Second); err != nil {
		_ = s.Stop()
		return nil, err
	}
	if upgrade {
		// The file is written only once the role has the password: a
		// failure here leaves the cluster as it was, on trust.
		if err := s.setPassword(ctx, cred); err != nil {
			_ = writeHBA(dir, true, false, cred)
			_ = s.Stop()
			return nil, err
		}
		if err := writePassword(opts.PasswordFile, password); err != nil {
			_ = s.Stop()
			return nil, err
		}
	}
	opts.Logger.Info("private postgres ready", "port", port, "dir", dir)
	return s, nil
}

// URL is a connection string for the given database on this server.
func (s *Server) URL(database string) string {
	if s.opts.TLSCert != "" {
		return s.URLWith(database, "sslmode=require")
	}
	return s.URLWith(database, "sslmode=disable")
}

// URLWith is URL with other connection parameters (sslmode=verify-full&…).
func (s *Server) URLWith(database, params string) string {
	return fmt.Sprintf("postgres://%s:%s@127.0.0.1:%d/%s?%s", superuser, s.password, s.port, database, params)
}

// readPassword reads the password in file, or makes a random one (fresh)
// for the caller to write once it is in use.
func readPassword(file string) (password string, fresh bool, err error) {
	b, err := os.ReadFile(file)
	if err == nil && len(strings.TrimSpace(string(b))) >= 16 {
		return strings.TrimSpace(string(b)), false, nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", false, fmt.Errorf("devpg: read %s: %w", file, err)
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", false, fmt.Errorf("devpg: %w", err)
	}
	return hex.EncodeToString(raw), true, nil
}

// writePassword keeps the password readable by this account alone.
func writePassword(file, password string) error {
	if err := os.WriteFile(file, []byte(password+"\n"), 0o600); err != nil {
		return fmt.Errorf("devpg: write %s: %w", file, err)
	}
	return nil
}

// initCluster runs initdb with password authentication; the password goes
// through a file only the server account can read, never the command line.
func initCluster(ctx context.Context, bin, dir, password string, cred *syscall.Credential) error {
	pw, err := os.CreateTemp("", "lifeevents-pg-pw-")
	if err != nil {
		return fmt.Errorf("devpg: %w", err)
	}
	defer os.Remove(pw.Name())
	_, err = pw.WriteString(password + "\n")
	if cerr := pw.Close(); err == nil {
		err = cerr
	}
	if err == nil && cred != nil {
		err = os.Chown(pw.Name(), int(cred.Uid), int(cred.Gid))
	}
	if err != nil {
		return fmt.Errorf("devpg: password file: %w", err)
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", dir, "-U", superuser,
		"--auth=scram-sha-256", "--pwfile="+pw.Name(), "--encoding=UTF8", "--locale=C", "--no-instructions")
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fmt.Errorf("devpg: initdb in %s: %v: %s", dir, err, lastLine(out))
	}
	return nil
}

// writeHBA allows connections over loopback TCP only, with the password
// (trust only while an old cluster is given its password).
func writeHBA(dir string, trust, tlsOnly bool, cred *syscall.Credential) error {
	method, conn := "scram-sha-256", "host"
	if trust {
		method = "trust"
	}
	if tlsOnly {
		conn = "hostssl"
	}
	hba := "# Written by lifeevents at every start: loopback TCP only, with the password.\n" +
		conn + " all all 127.0.0.1/32 " + method + "\n"
	file := filepath.Join(dir, "pg_hba.conf")
	if err := os.WriteFile(file, []byte(hba), 0o600); err != nil {
		return fmt.Errorf("devpg: write %s: %w", file, err)
	}
	if cred != nil {
		if err := os.Chown(file, int(cred.Uid), int(cred.Gid)); err != nil {
			return fmt.Errorf("devpg: %w", err)
		}
	}
	return nil
}

// installTLS copies the certificate and key into the cluster's folder,
// readable by the server's account only (postgres refuses a key others
// can read).
func installTLS(dir, certFile, keyFile string, cred *syscall.Credential) (string, string, error) {
	var out []string
	for _, f := range []struct{ from, to string }{{certFile, "server.crt"}, {keyFile, "server.key"}} {
		b, err := os.ReadFile(f.from)
		if err != nil {
			return "", "", fmt.Errorf("devpg: TLS: %w", err)
		}
		to := filepath.Join(dir, f.to)
		if err := os.WriteFile(to, b, 0o600); err != nil {
			return "", "", fmt.Errorf("devpg: TLS: %w", err)
		}
		if cred != nil {
			if err := os.Chown(to, int(cred.Uid), int(cred.Gid)); err != nil {
				return "", "", fmt.Errorf("devpg: TLS: %w", err)
			}
		}
		out = append(out, to)
	}
	return out[0], out[1], nil
}

// setPassword gives an old trust cluster its password and switches it to
// password authentication.
func (s *Server) setPassword(ctx context.Context, cred *syscall.Credential) error {
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		return fmt.Errorf("devpg: connect: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "ALTER ROLE "+superuser+" PASSWORD "+quoteLiteral(s.password)); err != nil {
		return fmt.Errorf("devpg: set password: %w", err)
	}
	if err := writeHBA(s.opts.Dir, false, s.opts.TLSCert != "", cred); err != nil {
		return err
	}
	if _, err := conn.Exec(ctx, "SELECT pg_reload_conf()"); err != nil {
		return fmt.Errorf("devpg: reload: %w", err)
	}
	s.opts.Logger.Info("private postgres now requires its password", "dir", s.opts.Dir)
	return nil
}

func quoteLiteral(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

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
	// A private parent (mode 0700, ours) lets the server account pass
	// through by its group alone: it may traverse, not list or read.
	if parent := filepath.Dir(dir); parent != "/" {
		if fi, err := os.Stat(parent); err == nil && fi.Mode().Perm()&0o011 == 0 &&
			fi.Sys().(*syscall.Stat_t).Uid == uint32(os.Geteuid()) {
			if err := os.Chown(parent, -1, int(cred.Gid)); err != nil {
				return fmt.Errorf("devpg: %w", err)
			}
			if err := os.Chmod(parent, fi.Mode().Perm()|0o010); err != nil {
				return fmt.Errorf("devpg: %w", err)
			}
		}
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
