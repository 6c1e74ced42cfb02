package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
}
