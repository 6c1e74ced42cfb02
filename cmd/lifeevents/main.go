// Command lifeevents runs the life-event orchestrator: everything in one
// process on embedded defaults (dev), or its parts as separate processes
// against production clusters.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "lifeevents: %s\n", oneLine(err))
		os.Exit(1)
	}
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", "; ") }

type globals struct {
	logLevel  string
	logFormat string
	district  district
	stdout    io.Writer
	stderr    io.Writer
}

func (g *globals) logger() (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(g.logLevel)); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", g.logLevel)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch g.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(g.stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(g.stderr, opts)), nil
	}
	return nil, fmt.Errorf("log format %q: use text or json", g.logFormat)
}

// district holds the settings a district decides for itself.
type district struct {
	offers        string
	retention     time.Duration
	timeScale     float64
	agencyTimeout time.Duration
	webhooks      []string
	webhookSecret string
	approvers     int
	// consent is bound (and validated) by the processes that write
	// consent records.
	consent consent.Config
}

func (d district) apply(a *app) error {
	switch d.offers {
	case "opt-out", "": // processes that do not decide offers have no flag
	case "opt-in":
		a.offersOptIn = true
	default:
		return fmt.Errorf("--offers %q: use opt-out (offers on a legal basis, citizens may object) or opt-in (only with consent)", d.offers)
	}
	if d.retention == 0 {
		d.retention = 2 * 365 * 24 * time.Hour
	}
	if d.retention < 24*time.Hour {
		return fmt.Errorf("--transfer-retention %s: at least 24h", d.retention)
	}
	a.retention = d.retention
	if d.timeScale == 0 {
		d.timeScale = 1
	}
	if d.timeScale < 0 || d.timeScale > 1000 {
		return fmt.Errorf("--time-scale %g: use a factor above 0 (0.001 runs a month in about 43 minutes)", d.timeScale)
	}
	a.timeScale = d.timeScale
	if d.agencyTimeout == 0 {
		d.agencyTimeout = 14 * 24 * time.Hour
	}
	a.agencyTimeout = d.agencyTimeout
	switch {
	case d.approvers == 0:
		d.approvers = 2
	case d.approvers < 1 || d.approvers > 9:
		return fmt.Errorf("--policy-approvers %d: use 2 (four eyes, the default) up to 9; 1 only where one person may change policies alone", d.approvers)
	}
	a.policyApprovers = d.approvers
	a.consentConfig = d.consent
	a.deliver = agencies.Router{}
	for _, w := range d.webhooks {
		id, url, ok := strings.Cut(w, "=")
		if !ok || id == "" || !strings.HasPrefix(url, "http") {
			return fmt.Errorf("--agency-webhook %q: use AGENCY_ID=https://…", w)
		}
		if d.webhookSecret == "" {
			return errors.New("--agency-webhook needs --webhook-secret to sign the deliveries")
		}
		a.deliver[id] = agencies.Webhook{URL: url, Secret: []byte(d.webhookSecret),
			Client: &http.Client{Timeout: 30 * time.Second, Transport: a.tracing.Transport(nil)}}
	}
	return nil
}

func (d *district) bind(f *pflag.FlagSet) {
	f.StringVar(&d.offers, "offers", "opt-out", "proactive offers: opt-out (legal basis, citizens may object) or opt-in (only with consent)")
	f.DurationVar(&d.retention, "transfer-retention", 2*365*24*time.Hour, "how long the transparency log keeps a transfer")
	f.Float64Var(&d.timeScale, "time-scale", 1, "factor for every journey duration (deadlines, reminders, agency timeouts, sample agency delays)")
	f.DurationVar(&d.agencyTimeout, "agency-timeout", 14*24*time.Hour, "how long to wait for an agency before escalating (scaled)")
	bindEnv(f, "offers", "LIFEEVENTS_OFFERS")
	bindEnv(f, "transfer-retention", "LIFEEVENTS_TRANSFER_RETENTION")
	f.StringSliceVar(&d.webhooks, "agency-webhook", nil, "push submissions of an agency to its webhook: AGENCY_ID=URL (repeatable or comma-separated; others pull)")
	bindEnv(f, "agency-webhook", "LIFEEVENTS_AGENCY_WEBHOOKS")
	f.StringVar(&d.webhookSecret, "webhook-secret", "", "HMAC-SHA256 secret that signs webhook deliveries")
	bindEnv(f, "webhook-secret", "LIFEEVENTS_WEBHOOK_SECRET")
	bindEnv(f, "time-scale", "LIFEEVENTS_TIME_SCALE")

	bindEnv(f, "agency-timeout", "LIFEEVENTS_AGENCY_TIMEOUT")
}

// bindConsent is for the processes that write consent records; dev mode
// names a sample controller, production must name its own. (The commands
// share one district: a default given here would be the last bound one's.)
func (d *district) bindConsent(f *pflag.FlagSet) {
	f.StringVar(&d.consent.Controller, "controller", "", "the data controller named on every consent record (required in production; dev: a sample district)")
	f.StringVar(&d.consent.LegalBasis, "consent-legal-basis", consent.DefaultLegalBasis, "the legal basis named on every consent record")
	bindEnv(f, "controller", "LIFEEVENTS_CONTROLLER")
	bindEnv(f, "consent-legal-basis", "LIFEEVENTS_CONSENT_LEGAL_BASIS")
}

// bindApprovers is for the processes that serve the policy API.
func (d *district) bindApprovers(f *pflag.FlagSet) {
	f.IntVar(&d.approvers, "policy-approvers", 2, "how many different policy users approve an upload before it goes live (the uploader counts); 1 turns four eyes off")
	bindEnv(f, "policy-approvers", "LIFEEVENTS_POLICY_APPROVERS")
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	g := &globals{stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "lifeevents",
		Short: "Once-only life-event orchestrator: proactive follow-up services after a move or a birth",
		Long: `lifeevents turns a registered life event (a move, a birth) into proposals of the
follow-up services a citizen needs, with their data pre-filled, gated by policy
and consent, and carries each accepted proposal through to the agency.

Start everything on embedded defaults with:  lifeevents dev`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return applyEnv(cmd)
		},
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.PersistentFlags().StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn, error")
	root.PersistentFlags().StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	bindEnv(root.PersistentFlags(), "log-level", "LIFEEVENTS_LOG_LEVEL")
	bindEnv(root.PersistentFlags(), "log-format", "LIFEEVENTS_LOG_FORMAT")
	root.AddCommand(newDev(g), newServe(g), newWorker(g), newIngest(g), newMigrate(g), newEmit(g), newToken(g), newPolicy(g), newRegistry(g), newSimulate(g))
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return err })
	return root
}

const envAnnotation = "env"

// bindEnv lets an environment variable set a flag the command line left
// unset, and says so in --help.
func bindEnv(fs *pflag.FlagSet, flag, env string) {
	f := fs.Lookup(flag)
	f.Usage += " [$" + env + "]"
	_ = fs.SetAnnotation(flag, envAnnotation, []string{env})
}

// applyEnv sets every unset flag of cmd from its environment variable, with
// an error naming the variable if its value does not parse.
func applyEnv(cmd *cobra.Command) error {
	var errs []error
	cmd.Flags().VisitAll(func(f *pflag.Flag) {
		envs := f.Annotations[envAnnotation]
		if f.Changed || len(envs) == 0 {
			return
		}
		v, ok := os.LookupEnv(envs[0])
		if !ok || v == "" {
			return
		}
		if err := f.Value.Set(v); err != nil {
			errs = append(errs, fmt.Errorf("%s=%q: %v", envs[0], v, err))
		}
	})
	return errors.Join(errs...)
}
