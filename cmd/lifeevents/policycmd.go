package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/postgres"
	"github.com/lifeevents/lifeevents/registries"
)

// bundleFrom reads the bundle in dir, or the built-in one without a dir.
func bundleFrom(args []string) (*policies.Bundle, string, error) {
	if len(args) == 0 {
		b, err := policies.DefaultBundle()
		return b, "the built-in bundle", err
	}
	if fi, err := os.Stat(args[0]); err != nil || !fi.IsDir() {
		return nil, "", fmt.Errorf("%s is not a folder", args[0])
	}
	b, err := policies.DirBundle(args[0])
	return b, args[0], err
}

func newPolicy(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Test, check and evaluate policy bundles",
		Long: `Works on a policy bundle folder (as in policies/ of this repository) or, without
a folder, on the bundle built into the binary. The folder also works with the
stock OPA tools: opa check --strict, opa test --fail-on-empty, opa fmt --list.`,
	}
	test := &cobra.Command{
		Use:   "test [DIR]",
		Short: "Run the bundle's Rego tests (fails when a test fails or none ran)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, name, err := bundleFrom(args)
			if err != nil {
				return err
			}
			r, err := policies.RunTests(cmd.Context(), b)
			for _, f := range r.Failures {
				fmt.Fprintln(g.stdout, "FAIL", f)
			}
			fmt.Fprintf(g.stdout, "%s: %d passed, %d failed\n", name, r.Passed, r.Failed)
			return err
		},
	}
	check := &cobra.Command{
		Use:   "check [DIR]",
		Short: "Compile the policies strictly, run their tests and validate the service catalog",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, name, err := bundleFrom(args)
			if err != nil {
				return err
			}
			e, err := policies.NewEngine(cmd.Context(), b)
			if err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "%s: ok, revision %s\n", name, e.Revision())
			for _, s := range e.Catalog().Sorted() {
				fmt.Fprintf(g.stdout, "  %-20s %-8s %s\n", s.ID, s.Basis.Kind, s.Name["en"])
			}
			return nil
		},
	}
	var service, inputFile string
	eval := &cobra.Command{
		Use:     "eval [DIR] --service ID --input FILE",
		Short:   "Evaluate one decision for the given input and print it",
		Example: "  lifeevents policy eval --service waste_bins --input input.json\n  lifeevents policy eval --service sharing --input transfer.json",
		Args:    cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if service == "" || inputFile == "" {
				return errors.New("--service and --input are required")
			}
			raw, err := os.ReadFile(inputFile)
			if err != nil {
				return err
			}
			var input map[string]any
			if err := json.Unmarshal(raw, &input); err != nil {
				return fmt.Errorf("%s: not a JSON object: %w", inputFile, err)
			}
			b, _, err := bundleFrom(args)
			if err != nil {
				return err
			}
			e, err := policies.NewEngine(cmd.Context(), b)
			if err != nil {
				return err
			}
			q := service
			if service == "sharing" {
				q = policies.SharingQuery
			}
			d, err := e.Eval(cmd.Context(), q, input)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(g.stdout)
			enc.SetIndent("", "  ")
			return enc.Encode(d)
		},
	}
	eval.Flags().StringVar(&service, "service", "", "service id, or \"sharing\" for the data-sharing policy")
	eval.Flags().StringVar(&inputFile, "input", "", "JSON file with the decision's input")
	cmd.AddCommand(test, check, eval)
	return cmd
}

func newRegistry(g *globals) *cobra.Command {
	var c cluster
	cmd := &cobra.Command{Use: "registry", Short: "Manage the reference registries (citizens, vehicles, zones, dogs)"}
	load := &cobra.Command{
		Use:   "load FILE",
		Short: "Load registry data from a JSON file (upserts)",
		Long: `Loads municipalities, citizens, vehicles, parking zones and dogs from a JSON file
of the shape of registries/sample.json. Existing records with the same keys are
replaced; nothing is deleted.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := required("--database-url", c.databaseURL); err != nil {
				return err
			}
			f, err := os.Open(args[0])
			if err != nil {
				return err
			}
			defer f.Close()
			d, err := registries.Parse(f)
			if err != nil {
				return err
			}
			pool, err := postgres.Open(cmd.Context(), c.databaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			if err := registries.NewPG(pool).Load(cmd.Context(), d); err != nil {
				return err
			}
			fmt.Fprintf(g.stdout, "loaded %d municipalities, %d citizens, %d vehicles, %d parking zones, %d dogs\n",
				len(d.Municipalities), len(d.Citizens), len(d.Vehicles), len(d.ParkingZones), len(d.Dogs))
			return nil
		},
	}
	c.bindDatabase(load.Flags())
	cmd.AddCommand(load)
	return cmd
}
