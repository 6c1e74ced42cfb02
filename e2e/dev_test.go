package e2e

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/internal/pgtest"
)

// TestWalkingSkeleton follows one move event from `lifeevents emit` through
// the embedded broker, the ingest consumer and a Temporal workflow to a
// proposal the citizen lists over the API; then kills the process with
// SIGKILL and checks that a restart on the same data dir keeps everything
// and carries on.
func TestWalkingSkeleton(t *testing.T) {
	dir := dataDir(t)
	ports := newPorts(t)
	dev := startDev(t, dir, ports)

	if !strings.Contains(dev.out.String(), "lifeevents dev is running") || !strings.Contains(dev.out.String(), "http://"+dev.http) {
		t.Fatalf("no ready banner with the URLs:\n%s", dev.out)
	}
	var ready struct {
		Ready  bool              `json:"ready"`
		Checks map[string]string `json:"checks"`
	}
	if code := dev.get("/readyz", "", &ready); code != http.StatusOK || len(ready.Checks) != 5 {
		t.Fatalf("readyz %d %+v", code, ready)
	}

	if id := dev.emit(event(t, "move.json", "e2e-move-1")); id != "e2e-move-1" {
		t.Fatalf("emit printed %q", id)
	}
	// Erika moves into Winsen's old town with her car and her dog: parking
	// permit, waste bins, vehicle address and dog tax.
	citizen := dev.token("c-1001", "citizen")
	list := dev.waitProposals(citizen, 4)
	if len(list.Items) != 4 {
		t.Fatalf("proposals: %+v", list)
	}
	for _, p := range list.Items {
		if p.LifeEventID != "e2e-move-1" || p.Status != "pending" {
			t.Fatalf("proposal %+v", p)
		}
	}
	proposalID := list.Items[0].ID

	// Denials: no token, a forged token, the wrong role, another citizen.
	if code := dev.get("/api/v1/me/proposals", "", nil); code != http.StatusUnauthorized {
		t.Fatalf("without token: %d", code)
	}
	if code := dev.get("/api/v1/me/proposals", citizen[:len(citizen)-6]+"AAAAAA", nil); code != http.StatusUnauthorized {
		t.Fatalf("forged token: %d", code)
	}
	if code := dev.get("/api/v1/me/proposals", dev.token("reg-1", "registry:03353022"), nil); code != http.StatusForbidden {
		t.Fatalf("registry role on citizen route: %d", code)
	}
	other := dev.token("c-9999", "citizen")
	var empty proposalList
	if code := dev.get("/api/v1/me/proposals", other, &empty); code != http.StatusOK || len(empty.Items) != 0 {
		t.Fatalf("another citizen sees %d proposals (%d)", len(empty.Items), code)
	}
	if code := dev.get("/api/v1/me/proposals/"+proposalID, other, nil); code != http.StatusNotFound {
		t.Fatalf("another citizen's proposal: %d, want 404", code)
	}
	if code := dev.get("/api/v1/me/proposals/"+proposalID, citizen, nil); code != http.StatusOK {
		t.Fatalf("own proposal: %d", code)
	}
	if code := dev.get("/api/v1/ops/events/e2e-move-1", citizen, nil); code != http.StatusForbidden {
		t.Fatalf("citizen on operator route: %d", code)
	}

	// The stock Temporal API answers on the embedded frontend, and the
	// journey's workflow has completed.
	tc, err := client.Dial(client.Options{HostPort: dev.temporal, Namespace: "default"})
	if err != nil {
		t.Fatal(err)
	}
	nc, _ := client.NewNamespaceClient(client.Options{HostPort: dev.temporal})
	if ns, err := nc.Describe(context.Background(), "default"); err != nil || ns.NamespaceInfo.GetName() != "default" {
		t.Fatalf("describe namespace: %v", err)
	}
	nc.Close()
	// The journey runs on: one Proposal workflow per proposal awaits the
	// citizen's decision.
	for _, id := range []string{"lifeevent/e2e-move-1", "proposal/" + proposalID} {
		desc, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if st := desc.WorkflowExecutionInfo.GetStatus(); st != enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING {
			t.Fatalf("%s: status %v", id, st)
		}
	}
	// Its history holds no personal data in plaintext: payloads are
	// encrypted by the codec.
	for _, id := range []string{"lifeevent/e2e-move-1", "proposal/" + proposalID} {
		it := tc.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		var raw []byte
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				t.Fatal(err)
			}
			b, _ := ev.Marshal()
			raw = append(raw, b...)
		}
		for _, secret := range []string{"c-1001", "c-1002", "Am Markt", "Lindenweg", "Erika", "Mustermann", "WL-EM"} {
			if strings.Contains(string(raw), secret) {
				t.Fatalf("history of %s holds %q in plaintext", id, secret)
			}
		}
	}
	tc.Close()

	// A third-party Kafka client sees both topics.
	if _, err := exec.LookPath("kcat"); err == nil {
		out, err := exec.Command("kcat", "-b", dev.kafka, "-L").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"life-events"`) || !strings.Contains(string(out), `"life-events.dlq"`) {
			t.Fatalf("kcat -L: %v\n%s", err, out)
		}
	}

	// A second dev on the same data dir is refused while this one runs.
	msg := cliFails(t, nil, "dev", "--data-dir", dir, "--http-addr", "127.0.0.1:0", "--kafka-port", "0", "--temporal-addr", "127.0.0.1:0")
	if !strings.Contains(msg, "in use by another lifeevents dev") || strings.Count(strings.TrimSpace(msg), "\n") != 0 {
		t.Fatalf("second dev: %q", msg)
	}

	// kill -9, restart on the same data dir: the proposal is still there and
	// new events still flow.
	dev.kill(syscall.SIGKILL)
	dev = startDev(t, dir, ports)
	if code := dev.get("/api/v1/me/proposals/"+proposalID, citizen, nil); code != http.StatusOK {
		t.Fatalf("after restart the proposal is gone: %d", code)
	}
	dev.emit(event(t, "birth.json", "e2e-birth-1"))
	if l := dev.waitProposals(citizen, 7); len(l.Items) != 7 {
		t.Fatalf("after restart and a birth (the ELFE trio): %+v", l)
	}
	// Re-emitting the same event starts nothing new.
	dev.emit(event(t, "move.json", "e2e-move-1"))
	time.Sleep(2 * time.Second)
	if l := dev.waitProposals(citizen, 7); len(l.Items) != 7 {
		t.Fatalf("duplicate event added proposals: %+v", l)
	}

	// SIGTERM stops everything cleanly, the private Postgres included.
	dev.kill(syscall.SIGTERM)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM:\n%s", code, dev.err)
	}
	if _, err := os.Stat(filepath.Join(dir, "postgres", "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postgres still running after shutdown (postmaster.pid: %v)", err)
	}
}

// TestDatabaseURLOverridesPrivatePostgres runs dev against an existing
// database: no private server is started and the proposals land there.
func TestDatabaseURLOverridesPrivatePostgres(t *testing.T) {
	url := pgtest.URL(t)
	dir := dataDir(t)
	dev := startDev(t, dir, newPorts(t), "DATABASE_URL="+url)
	dev.emit(event(t, "move.json", "e2e-dburl-1"))
	dev.waitProposals(dev.token("c-1001", "citizen"), 4)
	if _, err := os.Stat(filepath.Join(dir, "postgres")); !os.IsNotExist(err) {
		t.Fatalf("a private postgres was created despite DATABASE_URL")
	}
	conn, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	if err := conn.QueryRow(context.Background(), "SELECT count(*) FROM proposals WHERE life_event_id = 'e2e-dburl-1'").Scan(&n); err != nil || n != 4 {
		t.Fatalf("proposals in DATABASE_URL: %d, %v", n, err)
	}
	dev.kill(syscall.SIGTERM)
}

// TestBadInput checks that each mistake gets one line naming it and a
// non-zero exit, with nothing left running.
func TestBadInput(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	file := filepath.Join(t.TempDir(), "a-file")
	_ = os.WriteFile(file, nil, 0o600)
	ports := func() []string {
		return []string{"--temporal-addr", "127.0.0.1:0", "--kafka-port", "0"}
	}
	missing := filepath.Join(t.TempDir(), "no-such-data-dir")
	codecKey := "LIFEEVENTS_CODEC_KEY=" + strings.Repeat("0f", 32)

	cases := []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"unknown flag", nil, []string{"dev", "--no-such-flag"}, "unknown flag: --no-such-flag"},
		{"unknown command", nil, []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"bad env value", []string{"LIFEEVENTS_DEV_KAFKA_PORT=abc"}, []string{"dev"}, "LIFEEVENTS_DEV_KAFKA_PORT"},
		{"bad log level", nil, []string{"dev", "--log-level", "loud"}, "log level"},
		{"data dir is a file", nil, append([]string{"dev", "--data-dir", file + "/sub"}, ports()...), "data dir"},
		{"http port in use", nil, append([]string{"dev", "--data-dir", dataDir(t), "--http-addr", busy.Addr().String()}, ports()...), "is in use"},
		{"emit invalid event", nil, []string{"emit", "../events/decode_test.go"}, "malformed_json"},
		{"token without role", nil, []string{"token", "--sub", "x"}, "--role is required"},
		{"token unknown role", nil, []string{"token", "--sub", "x", "--role", "root"}, "unknown role"},
		{"serve without config", []string{"DATABASE_URL="}, []string{"serve"}, "--database-url (DATABASE_URL) is required"},
		{"serve without controller", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "TEMPORAL_ADDRESS=127.0.0.1:1", "LIFEEVENTS_KEY_SECRET=" + strings.Repeat("ab", 16), "LIFEEVENTS_CONTROLLER="},
			[]string{"serve", "--jwt-issuer", "https://idp.example", "--jwt-audience", "lifeevents-api"}, "--controller (LIFEEVENTS_CONTROLLER) is required"},
		{"worker with an unreadable certificate", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "TEMPORAL_ADDRESS=temporal.example:7233", "LIFEEVENTS_CONTROLLER=Landkreis"},
			[]string{"worker", "--temporal-tls-ca", missing + "/ca.pem"}, "--temporal-tls-ca " + missing + "/ca.pem: no such file or directory"},
		{"worker with an unreachable database", []string{"DATABASE_URL=postgres://u:secret-pw@127.0.0.1:1/x", "TEMPORAL_ADDRESS=127.0.0.1:1", "LIFEEVENTS_CONTROLLER=Landkreis", codecKey},
			[]string{"worker"}, "--database-url: postgres at 127.0.0.1:1"},
		{"worker with an unreachable temporal", []string{"DATABASE_URL=" + pgtest.URL(t), "TEMPORAL_ADDRESS=127.0.0.1:1", "LIFEEVENTS_CONTROLLER=Landkreis", codecKey},
			[]string{"worker"}, "temporal at 127.0.0.1:1 (namespace default)"},
		{"ingest with a clear-text password", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "TEMPORAL_ADDRESS=127.0.0.1:1", "KAFKA_BROKERS=kafka.example:9093",
			"KAFKA_SASL_MECHANISM=PLAIN", "KAFKA_USERNAME=district", "KAFKA_PASSWORD=secret-pw"}, []string{"ingest"}, "without --kafka-tls would send the password in clear text"},
		{"worker with a trace protocol it does not speak", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "TEMPORAL_ADDRESS=127.0.0.1:1", "LIFEEVENTS_CONTROLLER=Landkreis", codecKey,
			"OTEL_EXPORTER_OTLP_ENDPOINT=http://collector.example:4318", "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"}, []string{"worker"}, "OTEL_EXPORTER_OTLP_PROTOCOL=http/json: use http/protobuf"},
		{"dev with a webhook that is no URL", nil, append([]string{"dev", "--data-dir", dataDir(t), "--agency-webhook", "abfallwirtschaft-landkreis=ftp://x", "--webhook-secret", "s"}, ports()...), "--agency-webhook"},
		{"serve without token issuer", []string{"DATABASE_URL=postgres://127.0.0.1:1/x", "TEMPORAL_ADDRESS=127.0.0.1:1", "LIFEEVENTS_KEY_SECRET=" + strings.Repeat("ab", 16)},
			[]string{"serve", "--jwt-audience", "lifeevents-api"}, "LIFEEVENTS_JWT_ISSUER"},
		{"token for a bare registry", nil, []string{"token", "--sub", "x", "--role", "registry"}, "registry:<8-digit municipality key>"},
		{"token for two days", nil, []string{"token", "--sub", "x", "--role", "citizen", "--ttl", "48h"}, "at most 24h"},
		{"token without a dev data dir", nil, []string{"token", "--sub", "x", "--role", "citizen", "--data-dir", missing}, "no dev data dir at " + missing},
		{"emit without a dev data dir", nil, []string{"emit", "--data-dir", missing, "../examples/move.json"}, "--data-dir (LIFEEVENTS_DATA_DIR)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			began := time.Now()
			msg := strings.TrimSpace(cliFails(t, c.env, c.args...))
			if !strings.Contains(msg, c.want) {
				t.Fatalf("stderr %q does not name %q", msg, c.want)
			}
			if took := time.Since(began); took > 30*time.Second {
				t.Fatalf("refused after %s, not within 30 s", took)
			}
			if strings.Contains(msg, "secret-pw") {
				t.Fatalf("the password is in the message: %q", msg)
			}
			if lines := strings.Split(msg, "\n"); !strings.HasPrefix(lines[len(lines)-1], "lifeevents: ") {
				t.Fatalf("last line is not the one-line reason: %q", msg)
			}
		})
	}
	// The tools made no data dir of their own on the way.
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a tool created %s: %v", missing, err)
	}
}

func TestHelpEverywhere(t *testing.T) {
	for _, cmd := range []string{"", "dev", "serve", "worker", "ingest", "migrate", "emit", "token",
		"policy", "policy test", "policy check", "policy eval", "policy upload", "policy approve", "policy list", "registry", "registry load",
		"simulate", "simulate run", "simulate compare", "simulate generate"} {
		args := strings.Fields(cmd + " --help")
		out := cli(t, nil, args...)
		if !strings.Contains(out, "Usage:") {
			t.Fatalf("lifeevents %s --help: %s", cmd, out)
		}
	}
}
