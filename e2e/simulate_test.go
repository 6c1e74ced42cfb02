package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/lifeevents/lifeevents/internal/pgtest"
)

// TestSimulateThroughTheBinary: an operator's commands as typed; a bad
// scenario is one line naming file, line and field, and writes nothing.
func TestSimulateThroughTheBinary(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join("..", "simulations", "scenarios", "small-district.yaml")
	out := filepath.Join(dir, "report")
	if msg := cli(t, nil, "simulate", "run", scenario, "--out", out, "--quiet"); !strings.Contains(msg, "report in") {
		t.Fatalf("run: %s", msg)
	}
	var s struct {
		Population struct{ Events int }     `json:"population"`
		Services   []struct{ Proposed int } `json:"services"`
	}
	raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
	if err != nil || json.Unmarshal(raw, &s) != nil || s.Population.Events == 0 || len(s.Services) == 0 {
		t.Fatalf("summary.json: %v %s", err, raw)
	}
	if msg := cliFails(t, nil, "simulate", "run", scenario, "--out", out, "--quiet"); !strings.Contains(msg, "not empty") {
		t.Fatalf("a non-empty --out: %s", msg)
	}
	gen := filepath.Join(dir, "district")
	cli(t, nil, "simulate", "generate", scenario, "--out", gen, "--quiet")
	for _, name := range []string{"registers.json", "events.jsonl"} {
		if st, err := os.Stat(filepath.Join(gen, name)); err != nil || st.Size() == 0 {
			t.Fatalf("generate %s: %v", name, err)
		}
	}

	// The same scenario over live registers: the generated district loaded
	// into Postgres as an operator loads theirs, then read back (read
	// only) instead of generated.
	db := pgtest.URL(t)
	if msg := cli(t, nil, "registry", "load", filepath.Join(gen, "registers.json"), "--database-url", db); !strings.Contains(msg, "loaded") {
		t.Fatalf("registry load: %s", msg)
	}
	live := filepath.Join(dir, "live")
	cli(t, nil, "simulate", "run", scenario, "--registers", "postgres", "--database-url", db, "--out", live, "--quiet")
	var l struct {
		Population struct {
			Residents int `json:"residentsAtStart"`
			Events    int `json:"events"`
		} `json:"population"`
	}
	raw, err = os.ReadFile(filepath.Join(live, "summary.json"))
	if err != nil || json.Unmarshal(raw, &l) != nil || l.Population.Events == 0 || l.Population.Residents <= s.Population.Events {
		t.Fatalf("over the live registers: %v %s", err, raw)
	}

	text, err := os.ReadFile(scenario)
	if err != nil {
		t.Fatal(err)
	}
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte(strings.Replace(string(text), "movesWithin: 60", "movesWithin: -5", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	badOut := filepath.Join(dir, "bad-report")
	msg := strings.TrimSpace(cliFails(t, nil, "simulate", "run", bad, "--out", badOut, "--quiet"))
	if !strings.Contains(msg, "bad.yaml:15: rates.movesWithin: -5") || strings.Count(msg, "\n") > 0 {
		t.Fatalf("bad scenario: %q", msg)
	}
	if _, err := os.Stat(badOut); !os.IsNotExist(err) {
		t.Fatalf("a refused run wrote %s", badOut)
	}
	if msg := cliFails(t, nil, "simulate", "compare", scenario, "--out", filepath.Join(dir, "c"), "--quiet"); !strings.Contains(msg, "--policies-b") {
		t.Fatalf("compare without B: %s", msg)
	}
	for args, want := range map[string]string{
		"--engine fast":                    `--engine "fast": whatif`,
		"--time-scale 0.5":                 "--time-scale applies to --engine full only",
		"--engine full --time-scale 1/0":   `--time-scale "1/0": a factor above 0`,
		"--engine full --time-scale -1e-5": `--time-scale "-1e-5": a factor above 0`,
		"--engine full --time-scale 2":     `--time-scale "2": a factor above 0 and at most 1`,
		"--registers postgres":             "--registers postgres needs --database-url",
		"--registers ldap":                 `--registers "ldap": generated`,
	} {
		a := append([]string{"simulate", "run", scenario, "--out", filepath.Join(dir, "flags"), "--quiet"}, strings.Fields(args)...)
		if msg := cliFails(t, []string{"DATABASE_URL="}, a...); !strings.Contains(msg, want) {
			t.Errorf("%s: %q, want %q", args, msg, want)
		}
	}
}

// TestFullMatchesWhatIf runs about 200 life events through the real stack
// (Kafka, Temporal, Postgres, the HTTP API, citizens and agencies as API
// clients) and through the what-if engine: with behaviour whose outcome
// does not hang on timing, every service ends with the same counts and
// every recipient receives the same transfers.
func TestFullMatchesWhatIf(t *testing.T) {
	dir := t.TempDir()
	scenario := filepath.Join("testdata", "full-vs-whatif.yaml")
	whatif, full := filepath.Join(dir, "whatif"), filepath.Join(dir, "full")
	cli(t, nil, "simulate", "run", scenario, "--out", whatif, "--quiet")
	// Without the race detector: it slows the embedded Temporal server
	// several times over, and the system would fall behind the calendar.
	cmd := exec.Command(fastBinary(t), "simulate", "run", scenario, "--engine", "full", "--time-scale", "1/86400", "--out", full, "--quiet")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("full engine: %v\n%s", err, out)
	}

	type service struct {
		Service                                           string
		Eligible, NotEligible, Manual, Proposed, Reminded int
		Accepted, Automatic, Declined, Expired, Withdrawn int
		WithdrawnBy                                       map[string]int
		Transferred, Granted, Rejected, Failed            int
	}
	type summary struct {
		Scenario   struct{ Engine string }
		Population struct{ Events int }
		Services   []service
		Transfers  []struct {
			Recipient, Service, Basis, Fields string
			Count                             int
		}
		Agencies []struct {
			Recipient                                         string
			Submissions, Granted, Rejected, Escalated, Failed int
		}
	}
	read := func(d string) summary {
		var s summary
		raw, err := os.ReadFile(filepath.Join(d, "summary.json"))
		if err != nil || json.Unmarshal(raw, &s) != nil {
			t.Fatalf("%s/summary.json: %v", d, err)
		}
		return s
	}
	w, f := read(whatif), read(full)
	if w.Scenario.Engine != "whatif" || f.Scenario.Engine != "full" {
		t.Fatalf("engines: %q and %q", w.Scenario.Engine, f.Scenario.Engine)
	}
	if w.Population.Events < 150 || w.Population.Events != f.Population.Events {
		t.Fatalf("events: what-if %d, full %d", w.Population.Events, f.Population.Events)
	}
	// The scenario reaches every outcome, so a difference anywhere shows.
	var total service
	for _, s := range w.Services {
		total.Manual += s.Manual
		total.Automatic += s.Automatic
		total.Declined += s.Declined
		total.Expired += s.Expired
		total.Withdrawn += s.WithdrawnBy["sibling_accepted"]
		total.Granted += s.Granted
		total.Rejected += s.Rejected
	}
	if total.Manual == 0 || total.Automatic == 0 || total.Declined == 0 || total.Expired == 0 || total.Withdrawn == 0 ||
		total.Granted == 0 || total.Rejected == 0 {
		t.Fatalf("the scenario misses an outcome: %+v", total)
	}
	if len(w.Services) != len(f.Services) {
		t.Fatalf("services: %d and %d", len(w.Services), len(f.Services))
	}
	for i := range w.Services {
		if !reflect.DeepEqual(w.Services[i], f.Services[i]) {
			t.Errorf("%s:\n what-if %+v\n full    %+v", w.Services[i].Service, w.Services[i], f.Services[i])
		}
	}
	if !reflect.DeepEqual(w.Transfers, f.Transfers) {
		t.Errorf("transfers:\n what-if %+v\n full    %+v", w.Transfers, f.Transfers)
	}
	if !reflect.DeepEqual(w.Agencies, f.Agencies) {
		t.Errorf("agencies:\n what-if %+v\n full    %+v", w.Agencies, f.Agencies)
	}
	html, err := os.ReadFile(filepath.Join(full, "report.html"))
	if err != nil || !strings.Contains(string(html), "a running lifeevents") {
		t.Errorf("the full report does not say which engine made it: %v", err)
	}
}

var fast struct {
	once sync.Once
	path string
	err  error
}

// fastBinary builds lifeevents without the race detector, once, for the
// tests that measure the system against a clock.
func fastBinary(t testing.TB) string {
	t.Helper()
	fast.once.Do(func() {
		fast.path = filepath.Join(filepath.Dir(binary), "lifeevents-fast")
		out, err := exec.Command("go", "build", "-o", fast.path, "../cmd/lifeevents").CombinedOutput()
		if err != nil {
			fast.err = fmt.Errorf("build lifeevents: %v\n%s", err, out)
		}
	})
	if fast.err != nil {
		t.Fatal(fast.err)
	}
	return fast.path
}
