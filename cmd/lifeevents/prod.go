package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/httpapi"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/internal/tlsfiles"
	"github.com/lifeevents/lifeevents/notify"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/postgres"
	"github.com/lifeevents/lifeevents/workflows"
)

// cluster holds the connection settings of the production processes.
type cluster struct {
	databaseURL  string
	temporal     workflows.TemporalConfig
	kafka        ingest.KafkaConfig
	kafkaBrokers string
	jwtPublicKey string
	jwksURL      string
	jwt          auth.Config
	keySecret    string
	probeAddr    string
	policiesDir  string
	codecKey     string
}

func (c *cluster) bindPolicies(f *pflag.FlagSet) {
	f.StringVar(&c.policiesDir, "policies", "", "policy bundle folder (default: the bundle built into the binary)")
	bindEnv(f, "policies", "LIFEEVENTS_POLICIES")
}

func (c *cluster) bindDatabase(f *pflag.FlagSet) {
	f.StringVar(&c.databaseURL, "database-url", "", "Postgres connection URL")
	bindEnv(f, "database-url", "DATABASE_URL")
}

func (c *cluster) bindTemporal(f *pflag.FlagSet) {
	f.StringVar(&c.codecKey, "codec-key", "", "64 hex digits: the AES-GCM key that encrypts workflow payloads")
	bindEnv(f, "codec-key", "LIFEEVENTS_CODEC_KEY")
	t := &c.temporal
	f.StringVar(&t.Address, "temporal-address", "", "Temporal frontend host:port")
	f.StringVar(&t.Namespace, "temporal-namespace", "default", "Temporal namespace (managed: name.account)")
	bindTLS(f, "temporal-tls", "the frontend", &t.TLS)
	f.StringVar(&t.APIKey, "temporal-api-key", "", "API key of a managed namespace (instead of a client certificate)")
	// The names the temporal CLI and the SDKs' environment configuration use.
	for flag, env := range map[string]string{"temporal-address": "TEMPORAL_ADDRESS", "temporal-namespace": "TEMPORAL_NAMESPACE",
		"temporal-tls": "TEMPORAL_TLS", "temporal-tls-ca": "TEMPORAL_TLS_SERVER_CA_CERT_PATH", "temporal-tls-cert": "TEMPORAL_TLS_CLIENT_CERT_PATH",
		"temporal-tls-key": "TEMPORAL_TLS_CLIENT_KEY_PATH", "temporal-tls-server-name": "TEMPORAL_TLS_SERVER_NAME", "temporal-api-key": "TEMPORAL_API_KEY"} {
		bindEnv(f, flag, env)
	}
}

func (c *cluster) bindKafka(f *pflag.FlagSet) {
	k := &c.kafka
	f.StringVar(&c.kafkaBrokers, "kafka-brokers", "", "comma-separated Kafka bootstrap brokers")
	bindTLS(f, "kafka-tls", "the brokers", &k.TLS)
	f.StringVar(&k.SASLMechanism, "kafka-sasl-mechanism", "", "SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512 (none: no SASL)")
	f.StringVar(&k.Username, "kafka-username", "", "SASL user name")
	f.StringVar(&k.Password, "kafka-password", "", "SASL password (prefer the environment variable)")
	for flag, env := range map[string]string{"kafka-brokers": "KAFKA_BROKERS", "kafka-tls": "KAFKA_TLS", "kafka-tls-ca": "KAFKA_TLS_CA",
		"kafka-tls-cert": "KAFKA_TLS_CERT", "kafka-tls-key": "KAFKA_TLS_KEY", "kafka-tls-server-name": "KAFKA_TLS_SERVER_NAME",
		"kafka-sasl-mechanism": "KAFKA_SASL_MECHANISM", "kafka-username": "KAFKA_USERNAME", "kafka-password": "KAFKA_PASSWORD"} {
		bindEnv(f, flag, env)
	}
}

// bindTLS binds the flags of one connection's TLS: prefix, prefix-ca,
// -cert, -key and -server-name (the names tlsfiles.Config.Load reports).
func bindTLS(f *pflag.FlagSet, prefix, server string, c *tlsfiles.Config) {
	f.BoolVar(&c.Enabled, prefix, false, "connect with TLS (on by itself with any --"+prefix+"-* setting)")
	f.StringVar(&c.CAFile, prefix+"-ca", "", "PEM file of the CA that signs the certificate of "+server+" (default: the system's roots)")
	f.StringVar(&c.CertFile, prefix+"-cert", "", "PEM client certificate for mutual TLS")
	f.StringVar(&c.KeyFile, prefix+"-key", "", "PEM key of the client certificate")
	f.StringVar(&c.ServerName, prefix+"-server-name", "", "name the certificate of "+server+" carries, if not the address's host")
}

// openKafka validates the Kafka settings and loads their certificates.
func (c *cluster) openKafka() (ingest.Kafka, error) {
	c.kafka.Brokers = splitList(c.kafkaBrokers)
	return c.kafka.Open()
}

// check validates every connection setting the process uses and reads
// every certificate before anything starts: a wrong setting stops the
// process with one line and nothing half-started.
func (c *cluster) check() error {
	if c.databaseURL == "" {
		return errors.New("--database-url (DATABASE_URL) is required: postgres://user:password@host:5432/db?sslmode=verify-full")
	}
	if err := c.temporal.Validate(); err != nil {
		return err
	}
	_, err := c.temporal.TLS.Load("--temporal-tls")
	return err
}

func (c *cluster) bindProbe(f *pflag.FlagSet) {
	f.StringVar(&c.probeAddr, "probe-addr", "", "serve /healthz, /readyz and /metrics on this address, e.g. 0.0.0.0:9090 (none: no probe)")
	bindEnv(f, "probe-addr", "LIFEEVENTS_PROBE_ADDR")
}

func (c *cluster) bindKeySecret(f *pflag.FlagSet) {
	f.StringVar(&c.keySecret, "key-secret", "", "hex secret (32+ digits) for hashing citizen ids into Kafka keys")
	bindEnv(f, "key-secret", "LIFEEVENTS_KEY_SECRET")
}

func (c *cluster) bindAuth(f *pflag.FlagSet) {
	f.StringVar(&c.jwtPublicKey, "jwt-public-key", "", "PEM file with the public key that signs API tokens")
	f.StringVar(&c.jwksURL, "jwks-url", "", "JWKS URL of the identity provider that signs API tokens")
	bindEnv(f, "jwt-public-key", "LIFEEVENTS_JWT_PUBLIC_KEY")
	bindEnv(f, "jwks-url", "LIFEEVENTS_JWKS_URL")
	f.StringVar(&c.jwt.Issuer, "jwt-issuer", "", "the iss every API token must carry (required)")
	f.StringVar(&c.jwt.Audience, "jwt-audience", "", "the aud every API token must carry (required)")
	f.DurationVar(&c.jwt.MaxLifetime, "jwt-max-lifetime", 24*time.Hour, "longest validity a token may claim")
	f.StringVar(&c.jwt.SubjectClaim, "jwt-subject-claim", "sub", "the claim that carries the subject (the citizen id for citizens)")
	f.StringVar(&c.jwt.RolesClaim, "jwt-roles-claim", "roles", "the claim that carries the roles, a JSON array of strings")
	bindEnv(f, "jwt-issuer", "LIFEEVENTS_JWT_ISSUER")
	bindEnv(f, "jwt-audience", "LIFEEVENTS_JWT_AUDIENCE")
	bindEnv(f, "jwt-max-lifetime", "LIFEEVENTS_JWT_MAX_LIFETIME")
	bindEnv(f, "jwt-subject-claim", "LIFEEVENTS_JWT_SUBJECT_CLAIM")
	bindEnv(f, "jwt-roles-claim", "LIFEEVENTS_JWT_ROLES_CLAIM")
}

func required(pairs ...string) error {
	var errs []error
	for i := 0; i < len(pairs); i += 2 {
		if pairs[i+1] == "" {
			errs = append(errs, fmt.Errorf("%s is required", pairs[i]))
		}
	}
	return errors.Join(errs...)
}

func (c *cluster) verifier(ctx context.Context) (httpapi.TokenVerifier, error) {
	if err := c.jwt.Validate(); err != nil {
		return nil, err
	}
	switch {
	case c.jwtPublicKey != "" && c.jwksURL != "":
		return nil, errors.New("set either --jwt-public-key or --jwks-url, not both")
	case c.jwtPublicKey != "":
		return auth.NewVerifierFromKey(c.jwtPublicKey, c.jwt)
	case c.jwksURL != "":
		return auth.NewVerifierFromJWKS(ctx, c.jwksURL, c.jwt)
	}
	return nil, errors.New("--jwt-public-key or --jwks-url is required to verify API tokens")
}

// useCodec sets up payload encryption: every process that talks to
// Temporal must hold the same key.
func (c *cluster) useCodec(a *app) error {
	if c.codecKey == "" {
		return errors.New("--codec-key is required: workflow payloads hold personal data and are encrypted")
	}
	key, err := codec.ParseKey(c.codecKey)
	if err != nil {
		return err
	}
	a.codec, err = codec.New(key)
	return err
}

// connect opens Postgres, loads the policies where the process decides
// anything, and dials Temporal.
func (c *cluster) connect(ctx context.Context, a *app, withPolicies bool) error {
	pool, err := postgres.Open(ctx, c.databaseURL)
	if err != nil {
		return err
	}
	a.usePostgres(pool)
	if withPolicies {
		if err := a.loadPolicies(ctx, c.policiesDir); err != nil {
			return err
		}
	}
	return a.dialTemporal(ctx, c.temporal)
}

// runProcess starts a production process with start and waits for a signal.
func runProcess(ctx context.Context, g *globals, c *cluster, name string, start func(*app) error) error {
	log, err := g.logger()
	if err != nil {
		return err
	}
	a := newApp(log)
	if err := a.useTracing(ctx, name); err != nil {
		return err
	}
	if err := g.district.apply(a); err != nil {
		a.stop()
		return err
	}
	if err := c.useCodec(a); err != nil {
		a.stop()
		return err
	}
	err = start(a)
	if err == nil && c.probeAddr != "" {
		err = a.serveProbe(c.probeAddr)
	}
	if err != nil {
		a.stop()
		return err
	}
	log.Info("ready", "process", name)
	err = a.wait(ctx)
	a.stop()
	return err
}

func newServe(g *globals) *cobra.Command {
	var c cluster
	var addr string
	var pc portal.Config
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the HTTP API and citizen portal (production)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			if err := required("--key-secret", c.keySecret); err != nil {
				return err
			}
			if err := c.jwt.Validate(); err != nil {
				return err
			}
			if err := g.district.consent.Validate(); err != nil {
				return err
			}
			if pc.Issuer != "" {
				if err := pc.WithDefaults().Validate(); err != nil {
					return err
				}
			}
			secret, err := decodeSecret(c.keySecret)
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return runProcess(ctx, g, &c, "serve", func(a *app) error {
				v, err := c.verifier(ctx)
				if err != nil {
					return err
				}
				l, err := listen(addr)
				if err != nil {
					return err
				}
				if err := c.connect(ctx, a, true); err != nil {
					return err
				}
				var web *portal.Portal
				if pc.Issuer != "" {
					if web, err = a.newPortal(pc); err != nil {
						return err
					}
				} else {
					a.log.Info("citizen portal off: LIFEEVENTS_OIDC_ISSUER is not set")
				}
				return a.serveHTTP(l, v, secret, web, nil, nil)
			})
		},
	}
	cmd.Flags().StringVar(&addr, "http-addr", "127.0.0.1:8080", "listen address")
	bindEnv(cmd.Flags(), "http-addr", "LIFEEVENTS_HTTP_ADDR")
	portalFlags(cmd.Flags(), &pc)
	c.bindDatabase(cmd.Flags())
	c.bindTemporal(cmd.Flags())
	c.bindAuth(cmd.Flags())
	c.bindKeySecret(cmd.Flags())
	c.bindPolicies(cmd.Flags())
	g.district.bindApprovers(cmd.Flags())
	g.district.bindConsent(cmd.Flags())
	return cmd
}

func newWorker(g *globals) *cobra.Command {
	var c cluster
	var mail notify.Config
	cmd := &cobra.Command{
		Use:   "worker",
		Short: "Run the Temporal worker of the journeys (production)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			if err := g.district.consent.Validate(); err != nil {
				return err
			}
			mail = mail.WithDefaults()
			if err := mail.Validate(); err != nil && !errors.Is(err, notify.ErrOff) {
				return err
			}
			ctx := cmd.Context()
			return runProcess(ctx, g, &c, "worker", func(a *app) error {
				if err := c.connect(ctx, a, true); err != nil {
					return err
				}
				if mail.URL != "" {
					if err := a.startNotifier(mail); err != nil {
						return err
					}
				}
				return a.startWorker()
			})
		},
	}
	c.bindDatabase(cmd.Flags())
	c.bindTemporal(cmd.Flags())
	c.bindPolicies(cmd.Flags())
	g.district.bind(cmd.Flags())
	g.district.bindConsent(cmd.Flags())
	c.bindProbe(cmd.Flags())
	f := cmd.Flags()
	f.StringVar(&mail.URL, "smtp-url", "", "SMTP server for e-mail notifications, smtp://user:password@host:587 (none: no e-mail)")
	f.StringVar(&mail.From, "smtp-from", "", "sender address of notifications (default noreply@ the public URL's host)")
	f.StringVar(&mail.PublicURL, "public-url", "", "the portal's address the e-mails point to")
	bindEnv(f, "smtp-url", "LIFEEVENTS_SMTP_URL")
	bindEnv(f, "smtp-from", "LIFEEVENTS_SMTP_FROM")
	bindEnv(f, "public-url", "LIFEEVENTS_PUBLIC_URL")
	return cmd
}

func newIngest(g *globals) *cobra.Command {
	var c cluster
	cmd := &cobra.Command{
		Use:   "ingest",
		Short: "Run the Kafka consumer, the outbox relay and the dead-letter index (production)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := c.check(); err != nil {
				return err
			}
			k, err := c.openKafka()
			if err != nil {
				return err
			}
			ctx := cmd.Context()
			return runProcess(ctx, g, &c, "ingest", func(a *app) error {
				if err := c.connect(ctx, a, false); err != nil {
					return err
				}
				a.watchKafka(k)
				a.startIngest(ctx, k)
				return nil
			})
		},
	}
	c.bindDatabase(cmd.Flags())
	c.bindTemporal(cmd.Flags())
	c.bindKafka(cmd.Flags())
	c.bindProbe(cmd.Flags())
	return cmd
}

func newMigrate(g *globals) *cobra.Command {
	var c cluster
	cmd := &cobra.Command{
		Use:   "migrate",
		Short: "Apply the Postgres schema",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := required("--database-url", c.databaseURL); err != nil {
				return err
			}
			pool, err := postgres.Open(cmd.Context(), c.databaseURL)
			if err != nil {
				return err
			}
			defer pool.Close()
			applied, err := postgres.Migrate(cmd.Context(), pool)
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(g.stdout, "schema is up to date")
			}
			for _, v := range applied {
				fmt.Fprintln(g.stdout, "applied", v)
			}
			return nil
		},
	}
	c.bindDatabase(cmd.Flags())
	return cmd
}
