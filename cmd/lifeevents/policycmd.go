package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/internal/apiclient"
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
	cmd.AddCommand(test, check, eval, newPolicyUpload(g), newPolicyApprove(g), newPolicyList(g))
	return cmd
}

// bindAPI binds the flags that reach a running server's API.
func bindAPI(f *pflag.FlagSet, c *apiclient.Config) {
	f.StringVar(&c.URL, "api-url", "http://127.0.0.1:8080", "the lifeevents server")
	f.StringVar(&c.Token, "token", "", "your bearer token with the policy role")
	bindEnv(f, "api-url", "LIFEEVENTS_API_URL")
	bindEnv(f, "token", "LIFEEVENTS_TOKEN")
}

// revisionAnswer is what the policy API answers about one revision.
type revisionAnswer struct {
	Revision          string `json:"revision"`
	Status            string `json:"status"`
	Active            string `json:"active"`
	ApprovalsRequired int    `json:"approvalsRequired"`
	Proposal          struct {
		Approvals []struct {
			By string `json:"by"`
		} `json:"approvals"`
	} `json:"proposal"`
	Tests policies.TestReport `json:"tests"`
}

// refusal turns a refused upload into one line naming what it broke.
func refusal(err error) error {
	var e *apiclient.Error
	if !errors.As(err, &e) {
		return err
	}
	for _, k := range []string{"limit", "builtin", "guarantee"} {
		if v, ok := e.Body[k].(string); ok {
			return fmt.Errorf("refused (%s %s): %s", k, v, e.Message)
		}
	}
	return fmt.Errorf("refused (%s): %s", e.Code, e.Message)
}

func newPolicyUpload(g *globals) *cobra.Command {
	var api apiclient.Config
	cmd := &cobra.Command{
		Use:   "upload DIR|BUNDLE.tar.gz",
		Short: "Upload a policy bundle to a running server; it goes live once a second policy user approves it",
		Long: `Packs the folder (or takes a bundle as opa build writes it) and uploads it. The
server reads it under size limits, compiles it without network builtins, runs
its Rego tests and the platform guarantees; a refusal names what it broke.
A bundle that passes is proposed: another policy user approves it with
  lifeevents policy approve REVISION`,
		Example: "  lifeevents policy upload policies/ --token \"$(lifeevents token --sub anna --role policy)\"",
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiclient.New(api)
			if err != nil {
				return err
			}
			var raw []byte
			if fi, err := os.Stat(args[0]); err == nil && fi.IsDir() {
				raw, err = policies.Pack(args[0])
				if err != nil {
					return err
				}
			} else if raw, err = os.ReadFile(args[0]); err != nil {
				return fmt.Errorf("bundle %s: %w", args[0], err)
			}
			var a revisionAnswer
			if _, err := c.Do(cmd.Context(), http.MethodPut, "/api/v1/policies", "application/gzip", raw, &a); err != nil {
				return refusal(err)
			}
			if a.Status == "active" {
				fmt.Fprintf(g.stdout, "revision %s is active (%d Rego tests passed)\n", a.Revision, a.Tests.Passed)
				return nil
			}
			fmt.Fprintf(g.stdout, "revision %s proposed (%d Rego tests passed, %d of %d approvals); the active revision stays %s\n",
				a.Revision, a.Tests.Passed, len(a.Proposal.Approvals), a.ApprovalsRequired, a.Active)
			fmt.Fprintf(g.stdout, "another policy user makes it live with:  lifeevents policy approve %s\n", a.Revision)
			return nil
		},
	}
	bindAPI(cmd.Flags(), &api)
	return cmd
}

func newPolicyApprove(g *globals) *cobra.Command {
	var api apiclient.Config
	cmd := &cobra.Command{
		Use:   "approve REVISION",
		Short: "Approve a proposed policy revision (four eyes: not your own upload)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := apiclient.New(api)
			if err != nil {
				return err
			}
			var a revisionAnswer
			if _, err := c.Do(cmd.Context(), http.MethodPost, "/api/v1/policies/"+url.PathEscape(args[0])+"/approve", "", nil, &a); err != nil {
				return refusal(err)
			}
			if a.Status == "active" {
				fmt.Fprintf(g.stdout, "revision %s is active\n", a.Revision)
			} else {
				fmt.Fprintf(g.stdout, "revision %s approved (%d of %d approvals)\n", a.Revision, len(a.Proposal.Approvals), a.ApprovalsRequired)
			}
			return nil
		},
	}
	bindAPI(cmd.Flags(), &api)
	return cmd
}

func newPolicyList(g *globals) *cobra.Command {
	var api apiclient.Config
	cmd := &cobra.Command{
		Use:   "list",
		Short: "Show the active policy revision and the proposed ones with their approvals",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := apiclient.New(api)
			if err != nil {
				return err
			}
			var a struct {
				Revision string              `json:"revision"`
				Proposed []policies.Revision `json:"proposed"`
				Required int                 `json:"approvalsRequired"`
			}
			if _, err := c.Do(cmd.Context(), http.MethodGet, "/api/v1/policies", "", nil, &a); err != nil {
				return refusal(err)
			}
			fmt.Fprintf(g.stdout, "active    %s\n", a.Revision)
			for _, p := range a.Proposed {
				var by []string
				for _, ap := range p.Approvals {
					by = append(by, ap.By)
				}
				fmt.Fprintf(g.stdout, "proposed  %s  by %s at %s, approved %d of %d (%s)\n", p.Revision, p.UploadedBy,
					p.UploadedAt.Format("2006-01-02 15:04"), len(p.Approvals), a.Required, strings.Join(by, ", "))
			}
			return nil
		},
	}
	bindAPI(cmd.Flags(), &api)
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
