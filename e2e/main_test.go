// Package e2e drives the lifeevents binary as a user does: it builds it once,
// runs `lifeevents dev` as a subprocess on private ports and data dirs, and
// talks to it over HTTP, Kafka and the Temporal API.
package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/internal/pgtest"
)

var binary string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "lifeevents-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "lifeevents")
	// -race shares the compiled dependencies with the race-enabled unit tests.
	build := exec.Command("go", "build", "-race", "-o", binary, "../cmd/lifeevents")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build lifeevents:", err)
		return 1
	}
	return pgtest.Main(m)
}

// dataDir returns a fresh data dir that the postgres account can reach
// (the tests may run as root, and the private server then runs as postgres).
func dataDir(t testing.TB) string {
	t.Helper()
	d := t.TempDir()
	for p := d; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755)
	}
	return filepath.Join(d, "data")
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// syncBuffer collects a subprocess's output while it runs.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devProc is a running `lifeevents dev`.
type devProc struct {
	t        testing.TB
	cmd      *exec.Cmd
	dir      string
	http     string
	temporal string
	kafka    string
	out, err *syncBuffer
	done     chan struct{}
}

type devPorts struct{ http, temporal, kafka int }

func newPorts(t *testing.T) devPorts {
	return devPorts{http: freePort(t), temporal: freePort(t), kafka: freePort(t)}
}

// startDev starts dev on dir and waits until /readyz answers 200.
func startDev(t *testing.T, dir string, ports devPorts, env ...string) *devProc {
	t.Helper()
	p := &devProc{
		t: t, dir: dir,
		http:     fmt.Sprintf("127.0.0.1:%d", ports.http),
		temporal: fmt.Sprintf("127.0.0.1:%d", ports.temporal),
		kafka:    fmt.Sprintf("127.0.0.1:%d", ports.kafka),
		out:      &syncBuffer{}, err: &syncBuffer{}, done: make(chan struct{}),
	}
	p.cmd = exec.Command(binary, "dev", "--data-dir", dir, "--http-addr", p.http,
		"--temporal-addr", p.temporal, "--kafka-port", fmt.Sprint(ports.kafka))
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.err
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() { p.kill(syscall.SIGKILL) })
	deadline := time.Now().Add(2 * time.Minute)
	for {
		select {
		case <-p.done:
			t.Fatalf("dev exited during start:\n%s\n%s", p.out, p.err)
		default:
		}
		if res, err := http.Get("http://" + p.http + "/readyz"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("dev not ready:\n%s\n%s", p.out, p.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// signalAndWait sends sig to a process that has not ended (done not
// closed) and waits for it; after limit it kills it and reports false.
func signalAndWait(proc *os.Process, done <-chan struct{}, sig syscall.Signal, limit time.Duration) bool {
	select {
	case <-done:
		return true
	default:
	}
	_ = proc.Signal(sig)
	select {
	case <-done:
		return true
	case <-time.After(limit):
		_ = proc.Kill()
		<-done
		return false
	}
}

// kill sends sig and waits for the process to end.
func (p *devProc) kill(sig syscall.Signal) {
	if !signalAndWait(p.cmd.Process, p.done, sig, 60*time.Second) {
		p.t.Errorf("dev did not stop on %v:\n%s", sig, p.err)
	}
}

// cli runs the binary with args and returns stdout; it fails the test on a
// non-zero exit.
func cli(t testing.TB, stdin io.Reader, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = stdin
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("lifeevents %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// cliFails runs the binary expecting a non-zero exit and returns stderr.
func cliFails(t *testing.T, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if err == nil {
		t.Fatalf("lifeevents %s succeeded, want failure\n%s", strings.Join(args, " "), out.String())
	}
	return errb.String()
}

func (p *devProc) token(sub, role string) string {
	return strings.TrimSpace(cli(p.t, nil, "token", "--data-dir", p.dir, "--sub", sub, "--role", role))
}

func (p *devProc) emit(event []byte) string {
	return strings.TrimSpace(cli(p.t, bytes.NewReader(event), "emit", "--data-dir", p.dir, "--kafka-brokers", p.kafka, "-"))
}

// get calls the API and decodes the JSON answer into v (when not nil).
func (p *devProc) get(path, token string, v any) int {
	p.t.Helper()
	return p.do(http.MethodGet, path, token, "", nil, v)
}

// do sends one API request and decodes the JSON answer into v (when not
// nil); it returns the status code.
func (p *devProc) do(method, path, token, contentType string, body []byte, v any) int {
	p.t.Helper()
	req, _ := http.NewRequest(method, "http://"+p.http+path, bytes.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		p.t.Fatal(err)
	}
	defer res.Body.Close()
	if v != nil {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			p.t.Fatalf("%s %s: %v", method, path, err)
		}
	}
	return res.StatusCode
}

type proposalList struct {
	Items []struct {
		ID          string `json:"id"`
		LifeEventID string `json:"lifeEventId"`
		Service     string `json:"service"`
		Status      string `json:"status"`
		Reason      string `json:"reason"`
	} `json:"items"`
}

// waitProposals polls the citizen's proposals until there are n.
func (p *devProc) waitProposals(token string, n int) proposalList {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l proposalList
		if code := p.get("/api/v1/me/proposals", token, &l); code != http.StatusOK {
			p.t.Fatalf("list proposals: %d", code)
		}
		if len(l.Items) >= n {
			return l
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d proposals after 60s, want %d\n%s", len(l.Items), n, p.err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// event returns an example event with a fresh id and today's dates, so the
// date checks pass whenever the tests run.
func event(t *testing.T, name, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	m["id"] = id
	data := m["data"].(map[string]any)
	today := time.Now().UTC().Format("2006-01-02")
	if _, ok := data["movedOn"]; ok {
		data["movedOn"] = today
	}
	if _, ok := data["birthDate"]; ok {
		data["birthDate"] = today
	}
	b, _ := json.Marshal(m)
	return b
}
