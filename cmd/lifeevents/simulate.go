package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/postgres"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/simulations"
)

// simulateFlags are the flags the simulate commands share.
type simulateFlags struct {
	out         string
	force       bool
	seed        string
	workers     int
	quiet       bool
	registers   string
	databaseURL string
}

func (s *simulateFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&s.out, "out", "", "folder for the results (refused if it exists and is not empty, unless --force)")
	f.BoolVar(&s.force, "force", false, "write into a non-empty --out folder")
	f.StringVar(&s.seed, "seed", "", "replace the scenario's seed (a whole number)")
	f.IntVar(&s.workers, "workers", 0, "events simulated in parallel (0: one per core); the results do not depend on it")
	f.BoolVar(&s.quiet, "quiet", false, "no progress bar or progress log lines")
	f.StringVar(&s.registers, "registers", "generated", "where the people come from: generated (the scenario's district) or postgres (the registers at --database-url, read only)")
	f.StringVar(&s.databaseURL, "database-url", "", "Postgres holding the registers, for --registers postgres")
	bindEnv(f, "database-url", "DATABASE_URL")
}

func (s *simulateFlags) job(g *globals, scenario string) (simulations.Job, error) {
	j := simulations.Job{Scenario: scenario, Out: s.out, Force: s.force, Workers: s.workers}
	if s.out == "" {
		return j, fmt.Errorf("--out is required: the folder for the results")
	}
	if s.seed != "" {
		v, err := strconv.ParseUint(s.seed, 10, 64)
		if err != nil {
			return j, fmt.Errorf("--seed %q: a whole number from 0 to 18446744073709551615", s.seed)
		}
		j.Seed = &v
	}
	if s.workers < 0 {
		return j, fmt.Errorf("--workers %d: 0 (one per core) or more", s.workers)
	}
	switch s.registers {
	case "generated":
	case "postgres":
		if s.databaseURL == "" {
			return j, errors.New("--registers postgres needs --database-url (DATABASE_URL): the Postgres holding the registers")
		}
		url := s.databaseURL
		j.Registers = func(ctx context.Context) (registries.Data, error) {
			pool, err := postgres.Open(ctx, url)
			if err != nil {
				return registries.Data{}, err
			}
			defer pool.Close()
			d, err := registries.NewPG(pool).Dump(ctx)
			if err != nil {
				return d, fmt.Errorf("--registers postgres at %s: %w (is the schema migrated? lifeevents migrate)", redactURL(url), err)
			}
			return d, nil
		}
	default:
		return j, fmt.Errorf("--registers %q: generated (the scenario's district) or postgres (the live registers, read only)", s.registers)
	}
	if !s.quiet {
		log, err := g.logger()
		if err != nil {
			return j, err
		}
		terminal := false
		if f, ok := g.stderr.(*os.File); ok {
			if st, err := f.Stat(); err == nil {
				terminal = st.Mode()&os.ModeCharDevice != 0
			}
		}
		j.Progress = &simulations.Progress{W: g.stderr, Terminal: terminal, Log: log}
	}
	return j, nil
}

func newSimulate(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run a district's life events through the real rules before switching a service on",
		Long: `Simulations take a scenario (simulations/scenarios/*.yaml: the district, its
people, their behaviour, the agencies, the offers mode, the policies and a seed),
generate a synthetic population and a period of life events from it, and run
every event through the same candidate resolution, consent rules and transfer
gate as the running system, on a virtual clock: no Temporal, Kafka or Postgres
needed. The same scenario and seed give the same results, byte for byte.`,
	}
	var runFlags, cmpFlags, genFlags simulateFlags
	var policyDir, policyB, scenarioB string
	var engine, timeScale string
	run := &cobra.Command{
		Use:   "run SCENARIO --out DIR [--engine whatif|full]",
		Short: "Simulate a scenario and write report.html, summary.json and CSV tables",
		Long: `Simulates the scenario and writes to --out:
  report.html   one self-contained page with tables and plots
  summary.json  the figures, with stable keys (see docs/simulations.md)
  *.csv         services, weeks, transfers, manual (reasons), agencies, agency_weeks

--engine whatif (the default) runs the rules on a virtual clock in seconds.
--engine full runs the same scenario through the real system: a private
lifeevents dev (Temporal, Kafka, Postgres, the HTTP API) in a temporary
folder, loaded with the scenario's registers; the events go to Kafka, the
synthetic citizens decide through the API with their own tokens and the
agencies answer through the agency API, with the calendar compressed by
--time-scale (1/86400: a day of the scenario takes a second).`,
		Example: `  lifeevents simulate run simulations/scenarios/sample-district.yaml --out report/
  lifeevents simulate run simulations/scenarios/small-district.yaml --engine full --out full/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := runFlags.job(g, args[0])
			if err != nil {
				return err
			}
			j.Policies = policyDir
			if j.Engine = engine; engine != simulations.EngineWhatIf && engine != simulations.EngineFull {
				return fmt.Errorf("--engine %q: whatif (the rules on a virtual clock) or full (through a private lifeevents dev)", engine)
			}
			if cmd.Flags().Changed("time-scale") && engine != simulations.EngineFull {
				return errors.New("--time-scale applies to --engine full only")
			}
			if j.TimeScale, err = parseScale(timeScale); err != nil {
				return err
			}
			j.Stack = fullStack(g)
			s, err := j.Run(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d life events, %d proposals; report in %s\n", s.Population.Events, proposed(s), j.Out)
			return nil
		},
	}
	runFlags.bind(run.Flags())
	run.Flags().StringVar(&policyDir, "policies", "", "policy folder to run on instead of the scenario's")
	run.Flags().StringVar(&engine, "engine", simulations.EngineWhatIf, "whatif (the rules on a virtual clock) or full (through a private lifeevents dev)")
	run.Flags().StringVar(&timeScale, "time-scale", "1/86400", "full engine: factor for the scenario's durations, as a number or a fraction (1/86400: a day takes a second)")

	compare := &cobra.Command{
		Use:   "compare SCENARIO --out DIR (--policies-b DIR | --scenario-b FILE)",
		Short: "Run two variants on the same people and events and show what changes",
		Long: `Runs variant A (the scenario on its policies, or --policies) and variant B (the
same scenario on --policies-b, or --scenario-b: a scenario that changes zones,
behaviour, agencies or the offers mode, not the people) with the same seed, and
writes both reports, their difference per service and week, and flips.csv: every
synthetic citizen whose outcome differs, with the rule's reason on each side.`,
		Example: `  lifeevents simulate compare scenario.yaml --policies policies/ --policies-b changed/ --out diff/
  lifeevents simulate compare scenario.yaml --scenario-b scenario-zone3.yaml --out diff/`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := cmpFlags.job(g, args[0])
			if err != nil {
				return err
			}
			j.Policies, j.PoliciesB, j.ScenarioB = policyDir, policyB, scenarioB
			c, err := j.Compare(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "A: %d proposals, B: %d proposals, %d outcomes flip; report in %s\n",
				proposed(c.A), proposed(c.B), c.FlipCount, j.Out)
			return nil
		},
	}
	cmpFlags.bind(compare.Flags())
	compare.Flags().StringVar(&policyDir, "policies", "", "policy folder of variant A instead of the scenario's")
	compare.Flags().StringVar(&policyB, "policies-b", "", "policy folder of variant B")
	compare.Flags().StringVar(&scenarioB, "scenario-b", "", "scenario file of variant B (same people: district, households and rates unchanged)")

	generate := &cobra.Command{
		Use:   "generate SCENARIO --out DIR",
		Short: "Write the scenario's synthetic registers and life events",
		Long: `Writes registers.json (the shape 'lifeevents registry load' reads, so a generated
district can be loaded into an installation) and events.jsonl (one CloudEvent a
line, in time order, ready for 'lifeevents emit' or kcat).`,
		Example: "  lifeevents simulate generate simulations/scenarios/small-district.yaml --out district/",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := genFlags.job(g, args[0])
			if err != nil {
				return err
			}
			p, err := j.Generate(cmd.Context())
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%d citizens, %d life events in %s\n", p.Citizens, p.Events, j.Out)
			return nil
		},
	}
	genFlags.bind(generate.Flags())
	cmd.AddCommand(run, compare, generate)
	return cmd
}

// parseScale reads a factor given as a number (0.0000116) or a fraction
// (1/86400).
func parseScale(s string) (float64, error) {
	bad := fmt.Errorf("--time-scale %q: a factor above 0 and at most 1, as a number or a fraction (1/86400: a day takes a second)", s)
	num, den, frac := strings.Cut(s, "/")
	v, err := strconv.ParseFloat(strings.TrimSpace(num), 64)
	if err != nil {
		return 0, bad
	}
	if frac {
		d, err := strconv.ParseFloat(strings.TrimSpace(den), 64)
		if err != nil || d <= 0 {
			return 0, bad
		}
		v /= d
	}
	if !(v > 0) || v > 1 {
		return 0, bad
	}
	return v, nil
}

// fullStack starts a private lifeevents dev for a full simulation: a
// temporary data dir, free ports, the scenario's registers, policies,
// offers mode and agency timeout, no sample agencies (the simulation's
// agencies answer through the API), logs at warnings only.
func fullStack(g *globals) simulations.Stack {
	return func(ctx context.Context, sc *simulations.Scenario, pop *simulations.Population, policyDir string, timeScale float64) (simulations.System, func(), error) {
		dir, err := os.MkdirTemp("", "lifeevents-simulation-")
		if err != nil {
			return simulations.System{}, nil, fmt.Errorf("full engine: temporary data dir: %w", err)
		}
		// Traversable (not readable) by others: as root, the private
		// Postgres runs as its own account and must reach its folder in
		// the data dir, which stays private.
		_ = os.Chmod(dir, 0o711)
		log := slog.New(slog.NewTextHandler(g.stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		a := newApp(log)
		d := district{offers: sc.Offers, timeScale: 1, agencyTimeout: time.Duration(sc.Agencies.TimeoutDays * 24 * float64(time.Hour)),
			consent: consent.Config{Controller: "simulation: " + sc.Name}}
		if err := d.apply(a); err != nil {
			_ = os.RemoveAll(dir)
			return simulations.System{}, nil, err
		}
		a.timeScale = timeScale
		// startDev makes everything it writes private; the report that
		// follows is the operator's to share as they see fit.
		umask := syscall.Umask(0o077)
		st, err := startDev(ctx, devOptions{dataDir: filepath.Join(dir, "data"), httpAddr: "127.0.0.1:0", temporalAddr: "127.0.0.1:0",
			policiesDir: policyDir, registers: &pop.Registers, noSampleAgencies: true}, a)
		syscall.Umask(umask)
		if err != nil {
			_ = os.RemoveAll(dir)
			return simulations.System{}, nil, fmt.Errorf("full engine: %w", err)
		}
		w := ingest.NewWriter(ingest.Plain(st.brokers...), events.Topic)
		pub := events.NewPublisher(w, st.keySecret)
		sys := simulations.System{
			API: st.api, Publish: pub.Publish, TimeScale: timeScale, Log: log, Failed: a.fail,
			Token: func(sub, role string) (string, error) { return st.signer.Sign(sub, []string{role}, 24*time.Hour) },
		}
		stop := func() {
			_ = w.Close()
			a.stop()
			_ = os.RemoveAll(dir)
		}
		return sys, stop, nil
	}
}

func proposed(s simulations.Summary) int {
	n := 0
	for _, x := range s.Services {
		n += x.Proposed
	}
	return n
}
