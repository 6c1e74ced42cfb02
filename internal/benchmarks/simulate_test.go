package benchmarks

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/internal/devtemporal"
	"github.com/lifeevents/lifeevents/internal/pgtest"
)

// BenchmarkFullEngine runs a scenario through the full engine
// (`simulate run --engine full`: a private lifeevents dev, Kafka, Temporal,
// Postgres, citizens and agencies through the API) and, in the same run,
// bare Temporal trees of the journey's shape on an embedded server of the
// same kind. By default the 200-event scenario of the full-against-what-if
// test on a calendar faster than the system (a day in a quarter second),
// so that journeys per second are the system's pace;
// LIFEEVENTS_BENCH_MONTH=1 runs one month of the sample district instead,
// and LIFEEVENTS_BENCH_SCALE sets the calendar. Run with -benchtime 1x.
func BenchmarkFullEngine(b *testing.B) {
	dir := b.TempDir()
	for p := dir; p != os.TempDir() && p != "/"; p = filepath.Dir(p) {
		_ = os.Chmod(p, 0o755) // the private Postgres's account passes through
	}
	bin := filepath.Join(dir, "lifeevents")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/lifeevents").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	scenario, scale := "../../e2e/testdata/full-vs-whatif.yaml", "1/345600"
	if os.Getenv("LIFEEVENTS_BENCH_MONTH") != "" {
		text, err := os.ReadFile("../../simulations/scenarios/sample-district.yaml")
		if err != nil {
			b.Fatal(err)
		}
		month := strings.Replace(string(text), "start: \"2027-01-01\"\n  end: \"2027-12-31\"",
			"start: \"2027-03-01\"\n  end: \"2027-03-31\"", 1)
		if month == string(text) {
			b.Fatal("sample-district.yaml: the period line changed; adapt the benchmark")
		}
		scenario, scale = filepath.Join(dir, "month.yaml"), "1/86400"
		if err := os.WriteFile(scenario, []byte(month), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if s := os.Getenv("LIFEEVENTS_BENCH_SCALE"); s != "" {
		scale = s
	}

	// The bare tree first, on its own server, which is stopped before the
	// full run begins.
	var treeRate float64
	b.Run("bare-tree", func(b *testing.B) {
		s := newStack(b)
		defer bareWorker(b, s.c)()
		start, visible := bareTrees(s.c, fmt.Sprintf("fm-%d", runSeq.Add(1)), time.Minute)
		m := drive(b, 200, 16, 0, start, visible)
		treeRate = float64(len(m.lat)) / m.total.Seconds()
		b.ReportMetric(treeRate, "trees/s")
	})

	b.Run("full-engine", func(b *testing.B) {
		out := filepath.Join(dir, "report")
		began := time.Now()
		cmd := exec.Command(bin, "simulate", "run", scenario, "--engine", "full", "--time-scale", scale, "--out", out, "--quiet")
		cmd.Env = append(os.Environ(), "TMPDIR="+dir)
		if msg, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("full engine: %v\n%s", err, msg)
		}
		took := time.Since(began)
		var s struct {
			Population struct{ Events int }     `json:"population"`
			Services   []struct{ Proposed int } `json:"services"`
		}
		raw, err := os.ReadFile(filepath.Join(out, "summary.json"))
		if err != nil || json.Unmarshal(raw, &s) != nil {
			b.Fatalf("summary: %v", err)
		}
		proposals := 0
		for _, x := range s.Services {
			proposals += x.Proposed
		}
		rate := float64(s.Population.Events) / took.Seconds()
		b.ReportMetric(took.Seconds(), "wall-s")
		b.ReportMetric(float64(s.Population.Events), "events")
		b.ReportMetric(float64(proposals), "proposals")
		b.ReportMetric(rate, "journeys/s")
		if treeRate > 0 {
			b.ReportMetric(rate/treeRate, "ratio-vs-bare")
		}
	})
}

// BenchmarkTemporalStore measures the bare journey tree on the embedded
// server with its state in SQLite (one history shard, as dev mode runs)
// and in Postgres (the private server's kind, one and four shards), in the
// same run: which store should dev mode keep.
func BenchmarkTemporalStore(b *testing.B) {
	pg := func(b *testing.B, shards int32) *devtemporal.Postgres {
		main, vis := parsePG(b, pgtest.URL(b)), parsePG(b, pgtest.URL(b))
		main.Visibility, main.Shards = vis.Database, shards
		return main
	}
	for _, c := range []struct {
		name  string
		store func(b *testing.B) devtemporal.Options
	}{
		{"sqlite-1-shard", func(b *testing.B) devtemporal.Options {
			return devtemporal.Options{DatabaseFile: filepath.Join(b.TempDir(), "temporal.db")}
		}},
		{"postgres-1-shard", func(b *testing.B) devtemporal.Options { return devtemporal.Options{Postgres: pg(b, 1)} }},
		{"postgres-4-shards", func(b *testing.B) devtemporal.Options { return devtemporal.Options{Postgres: pg(b, 4)} }},
	} {
		b.Run(c.name, func(b *testing.B) {
			srv, err := devtemporal.Start(c.store(b))
			if err != nil {
				b.Fatal(err)
			}
			defer srv.Stop()
			tc, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: "default", Logger: quietLogger()})
			if err != nil {
				b.Fatal(err)
			}
			defer tc.Close()
			defer bareWorker(b, tc)()
			start, visible := bareTrees(tc, fmt.Sprintf("ts-%d", runSeq.Add(1)), 2*time.Minute)
			m := drive(b, 200, 16, 0, start, visible)
			report(b, m, "trees/s")
		})
	}
}

// parsePG reads a database URL into the embedded server's Postgres settings.
func parsePG(b *testing.B, raw string) *devtemporal.Postgres {
	u, err := url.Parse(raw)
	if err != nil {
		b.Fatal(err)
	}
	pw, _ := u.User.Password()
	return &devtemporal.Postgres{Addr: u.Host, User: u.User.Username(), Password: pw, Database: strings.TrimPrefix(u.Path, "/")}
}
