package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/simulations"
)

// simulateFlags are the flags the simulate commands share.
type simulateFlags struct {
	out     string
	force   bool
	seed    string
	workers int
	quiet   bool
}

func (s *simulateFlags) bind(f *pflag.FlagSet) {
	f.StringVar(&s.out, "out", "", "folder for the results (refused if it exists and is not empty, unless --force)")
	f.BoolVar(&s.force, "force", false, "write into a non-empty --out folder")
	f.StringVar(&s.seed, "seed", "", "replace the scenario's seed (a whole number)")
	f.IntVar(&s.workers, "workers", 0, "events simulated in parallel (0: one per core); the results do not depend on it")
	f.BoolVar(&s.quiet, "quiet", false, "no progress bar or progress log lines")
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
	run := &cobra.Command{
		Use:   "run SCENARIO --out DIR",
		Short: "Simulate a scenario and write report.html, summary.json and CSV tables",
		Long: `Simulates the scenario and writes to --out:
  report.html   one self-contained page with tables and plots
  summary.json  the figures, with stable keys (see docs/simulations.md)
  *.csv         services, weeks, transfers, manual (reasons), agencies, agency_weeks`,
		Example: "  lifeevents simulate run simulations/scenarios/sample-district.yaml --out report/",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			j, err := runFlags.job(g, args[0])
			if err != nil {
				return err
			}
			j.Policies = policyDir
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

func proposed(s simulations.Summary) int {
	n := 0
	for _, x := range s.Services {
		n += x.Proposed
	}
	return n
}
