package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/internal/devkafka"
	"github.com/lifeevents/lifeevents/internal/devpg"
	"github.com/lifeevents/lifeevents/internal/devsmtp"
	"github.com/lifeevents/lifeevents/internal/devtemporal"
	"github.com/lifeevents/lifeevents/notify"
	"github.com/lifeevents/lifeevents/postgres"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/workflows"
)

type devOptions struct {
	dataDir      string
	httpAddr     string
	temporalAddr string
	// temporal, if its address is set, is a Temporal server to use
	// instead of the embedded one (the temporal CLI's dev server, say).
	temporal    workflows.TemporalConfig
	kafkaPort   int
	pgPort      int
	databaseURL string
	policiesDir string
	agencyDelay time.Duration
	// registers, if set, are loaded instead of the sample district.
	registers *registries.Data
	// noSampleAgencies leaves submissions to whoever pulls them from the
	// agency API (a simulation's agencies).
	noSampleAgencies bool
}

// devStack is what a started dev system offers its clients.
type devStack struct {
	dir       string
	api       string
	brokers   []string
	signer    *auth.Signer
	keySecret []byte
	temporal  string
	namespace string
	dbURL     string
}

func newDev(g *globals) *cobra.Command {
	var o devOptions
	cmd := &cobra.Command{
		Use:   "dev",
		Short: "Run the whole system in one process on embedded Temporal, Kafka and Postgres",
		Long: `Runs everything in one process: an embedded Temporal server (SQLite in the data
dir), an embedded Kafka-protocol broker, a private PostgreSQL server started from
the local binaries (unless --database-url is set), the worker, the ingest
consumer and the HTTP API with the citizen portal.

State lives in --data-dir, so a restart continues the journeys it had.
Stop with Ctrl-C.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			log, err := g.logger()
			if err != nil {
				return err
			}
			a := newApp(log)
			if err := a.useTracing(cmd.Context(), "dev"); err != nil {
				return err
			}
			if g.district.consent.Controller == "" {
				g.district.consent.Controller = "Landkreis (sample district)"
			}
			if err := g.district.apply(a); err != nil {
				a.stop()
				return err
			}
			return runDev(cmd.Context(), g, o, a)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.dataDir, "data-dir", ".lifeevents", "folder for all dev state")
	f.StringVar(&o.httpAddr, "http-addr", "127.0.0.1:8080", "address of the HTTP API and portal")
	f.StringVar(&o.temporalAddr, "temporal-addr", "127.0.0.1:7233", "address of the embedded Temporal frontend")
	f.IntVar(&o.kafkaPort, "kafka-port", 9092, "port of the embedded Kafka broker on 127.0.0.1")
	f.IntVar(&o.pgPort, "pg-port", 0, "port of the private Postgres on 127.0.0.1 (0: any free port)")
	f.StringVar(&o.databaseURL, "database-url", "", "use this Postgres instead of a private one")
	f.StringVar(&o.temporal.Address, "temporal-address", "", "use the Temporal frontend at this host:port (e.g. temporal server start-dev's) instead of the embedded server")
	f.StringVar(&o.temporal.Namespace, "temporal-namespace", "default", "namespace on the --temporal-address server")
	// Flags only: a TEMPORAL_ADDRESS exported for a production cluster must
	// not draw dev mode's worker onto it.
	bindEnv(f, "data-dir", "LIFEEVENTS_DATA_DIR")
	bindEnv(f, "http-addr", "LIFEEVENTS_HTTP_ADDR")
	bindEnv(f, "temporal-addr", "LIFEEVENTS_DEV_TEMPORAL_ADDR")
	bindEnv(f, "kafka-port", "LIFEEVENTS_DEV_KAFKA_PORT")
	bindEnv(f, "pg-port", "LIFEEVENTS_DEV_PG_PORT")
	bindEnv(f, "database-url", "DATABASE_URL")
	f.StringVar(&o.policiesDir, "policies", "", "policy bundle folder (default: the bundle built into the binary)")
	bindEnv(f, "policies", "LIFEEVENTS_POLICIES")
	g.district.bind(f)
	g.district.bindApprovers(f)
	g.district.bindConsent(f)
	f.DurationVar(&o.agencyDelay, "agency-delay", 3*time.Second, "how long the sample agencies take to answer (scaled by --time-scale)")
	bindEnv(f, "agency-delay", "LIFEEVENTS_AGENCY_DELAY")
	return cmd
}

func runDev(ctx context.Context, g *globals, o devOptions, a *app) error {
	began := time.Now()
	st, err := startDev(ctx, o, a)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, `
  lifeevents dev is running (data in %s)
    portal and API   %s/  and  %s/api/v1
    health, metrics  %s/readyz  %s/metrics
    Temporal         %s  (namespace %s)
    Kafka            %s  (topics %s, %s)
    Postgres         %s
    e-mails caught   %s/dev/mail
  Try:  bin/lifeevents emit examples/move.json
        then open %s/ and log in as Erika Mustermann
        curl -H "Authorization: Bearer $(bin/lifeevents token --sub c-1001 --role citizen)" %s/api/v1/me/proposals

`, st.dir, st.api, st.api, st.api, st.api, st.temporal, st.namespace, st.brokers[0], events.Topic, events.TopicDLQ,
		redactURL(st.dbURL), st.api, st.api, st.api)
	a.log.Info("ready", "http", st.api, "temporal", st.temporal, "kafka", st.brokers[0], "startup", time.Since(began).Round(time.Millisecond))

	err = a.wait(ctx)
	a.stop()
	a.log.Info("stopped")
	return err
}

// startDev starts every part of dev mode and returns once all serve; on
// an error nothing is left running.
func startDev(ctx context.Context, o devOptions, a *app) (st *devStack, err error) {
	// Everything dev writes (Kafka's log, Temporal's database, keys) holds
	// personal data or secrets: readable by this account alone.
	syscall.Umask(0o077)
	defer func() {
		if err != nil {
			a.stop() // nothing half-started is left running
		}
	}()
	dir, err := prepareDataDir(o.dataDir)
	if err != nil {
		return nil, err
	}
	if err := lockDataDir(dir, a); err != nil {
		return nil, err
	}
	l, err := listen(o.httpAddr)
	if err != nil {
		return nil, err
	}
	a.onStop(func() { _ = l.Close() })

	// Postgres.
	dbURL := o.databaseURL
	if dbURL == "" {
		pg, err := devpg.Start(ctx, devpg.Options{Dir: filepath.Join(dir, "postgres"), Port: o.pgPort, Logger: a.log})
		if err != nil {
			return nil, err
		}
		a.onStop(func() { _ = pg.Stop() })
		if err := pg.CreateDatabase(ctx, "lifeevents"); err != nil {
			return nil, err
		}
		dbURL = pg.URL("lifeevents")
	}
	pool, err := postgres.Open(ctx, dbURL)
	if err != nil {
		return nil, err
	}
	a.usePostgres(pool)
	if applied, err := postgres.Migrate(ctx, pool); err != nil {
		return nil, err
	} else if len(applied) > 0 {
		a.log.Info("schema migrated", "applied", applied)
	}
	if err := seedRegistries(ctx, pool, a, o.registers); err != nil {
		return nil, err
	}
	if err := a.loadPolicies(ctx, o.policiesDir); err != nil {
		return nil, err
	}

	// Kafka.
	broker, err := devkafka.Start(devkafka.Options{
		Port: o.kafkaPort, DataDir: filepath.Join(dir, "kafka"),
		Topics: []string{events.Topic, events.TopicDLQ}, Logger: a.log,
	})
	if err != nil {
		return nil, err
	}
	a.onStop(broker.Close)
	brokers := []string{broker.Addr()}
	a.watchKafka(ingest.Plain(brokers...))

	// Temporal, with payloads encrypted by a key kept in the data dir.
	key, err := codec.LoadOrCreateKey(filepath.Join(dir, codecKeyFile))
	if err != nil {
		return nil, err
	}
	if a.codec, err = codec.New(key); err != nil {
		return nil, err
	}
	temporal := o.temporal
	if temporal.Address == "" {
		ts, err := devtemporal.Start(devtemporal.Options{
			DatabaseFile: filepath.Join(dir, "temporal.db"), Address: o.temporalAddr, Logger: a.log,
		})
		if err != nil {
			return nil, err
		}
		a.onStop(func() { _ = ts.Stop() })
		temporal = workflows.TemporalConfig{Address: ts.HostPort(), Namespace: ts.Namespace()}
	}
	if err := a.dialTemporal(ctx, temporal); err != nil {
		return nil, err
	}

	signer, err := auth.LoadOrCreateSigner(filepath.Join(dir, signingKeyFile))
	if err != nil {
		return nil, err
	}
	verifier, err := signer.Verifier()
	if err != nil {
		return nil, err
	}
	keySecret, err := loadOrCreateSecret(filepath.Join(dir, kafkaKeyFile))
	if err != nil {
		return nil, err
	}

	if err := a.startWorker(); err != nil {
		return nil, err
	}
	if !o.noSampleAgencies {
		a.startSampleAgencies(time.Duration(float64(o.agencyDelay) * a.timeScale))
	}
	a.startIngest(ctx, ingest.Plain(brokers...))
	api := "http://" + l.Addr().String()
	web, idp, err := a.devPortal(ctx, api)
	if err != nil {
		return nil, err
	}
	// E-mail notifications go to a sink whose catch /dev/mail shows.
	sink, err := devsmtp.Start("127.0.0.1:0", a.log)
	if err != nil {
		return nil, err
	}
	a.onStop(func() { _ = sink.Close() })
	if err := a.startNotifier(notify.Config{URL: sink.URL(), PublicURL: api, Every: time.Second}.WithDefaults()); err != nil {
		return nil, err
	}
	if err := a.serveHTTP(l, verifier, keySecret, web, idp.Handler(), sink.Handler()); err != nil {
		return nil, err
	}
	return &devStack{dir: dir, api: api, brokers: brokers, signer: signer, keySecret: keySecret,
		temporal: temporal.Address, namespace: temporal.Namespace, dbURL: dbURL}, nil
}

// seedRegistries loads the sample district (or d) into empty registers,
// so a fresh dev system has citizens, vehicles and zones to decide on.
func seedRegistries(ctx context.Context, pool *pgxpool.Pool, a *app, d *registries.Data) error {
	reg := registries.NewPG(pool)
	empty, err := reg.Empty(ctx)
	if err != nil || !empty {
		return err
	}
	if d == nil {
		sample, err := registries.Sample()
		if err != nil {
			return err
		}
		d = &sample
	}
	if err := reg.Load(ctx, *d); err != nil {
		return err
	}
	a.log.Info("registers loaded", "municipalities", len(d.Municipalities), "citizens", len(d.Citizens))
	return nil
}

const (
	signingKeyFile = "jwt-signing-key.pem"
	codecKeyFile   = "payload-codec-key"
	kafkaKeyFile   = "kafka-key-secret"
	lockFile       = "lock"
)

// prepareDataDir creates the data dir private to this account (0700; the
// private Postgres's account may only pass through it) and makes what an
// earlier version left readable private too: it holds citizens' data.
func prepareDataDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("data dir %s: %w", dir, err)
	}
	_, statErr := os.Stat(abs)
	created := errors.Is(statErr, os.ErrNotExist)
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return "", fmt.Errorf("data dir %s cannot be created: %w", abs, errors.Unwrap(err))
	}
	// Only a folder that is a data dir is made private: --data-dir may
	// name a folder that holds other things too.
	_, lockErr := os.Stat(filepath.Join(abs, lockFile))
	if fi, err := os.Stat(abs); err == nil && fi.IsDir() && (created || lockErr == nil) {
		// Group traversal stays if devpg granted it; nothing else.
		_ = os.Chmod(abs, 0o700|fi.Mode().Perm()&0o010)
	}
	_ = privatise(abs)
	probe := filepath.Join(abs, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return "", fmt.Errorf("data dir %s is not writable", abs)
	}
	_ = os.Remove(probe)
	return abs, nil
}

// privatise takes every permission of group and others from dev's own
// files in the data dir, as an earlier version may have left them. The
// private Postgres's folder is not among them: that server keeps it
// private itself.
func privatise(dir string) error {
	entries := []string{"kafka", "temporal.db", "temporal.db-wal", "temporal.db-shm", signingKeyFile, codecKeyFile,
		kafkaKeyFile, lockFile, "postgres.password"}
	for _, name := range entries {
		root := filepath.Join(dir, name)
		if _, err := os.Lstat(root); err != nil {
			continue
		}
		err := filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err != nil || d.Type()&os.ModeSymlink != 0 {
				return err
			}
			fi, err := d.Info()
			if err != nil {
				return nil
			}
			if fi.Mode().Perm()&0o077 != 0 {
				return os.Chmod(p, fi.Mode().Perm()&0o700)
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// lockDataDir makes sure one dev process at a time owns the data dir. The
// kernel drops the lock when the process dies, however it dies.
func lockDataDir(dir string, a *app) error {
	path := filepath.Join(dir, lockFile)
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("data dir lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		b, _ := os.ReadFile(path)
		f.Close()
		pid := strings.TrimSpace(string(b))
		return fmt.Errorf("data dir %s is in use by another lifeevents dev (pid %s): stop it or use --data-dir", dir, pid)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	a.onStop(func() { _ = f.Close() })
	return nil
}

// loadOrCreateSecret returns the secret in file, creating a random one first.
func loadOrCreateSecret(file string) ([]byte, error) {
	b, err := os.ReadFile(file)
	if errors.Is(err, os.ErrNotExist) {
		raw := make([]byte, 32)
		_, _ = rand.Read(raw)
		b = []byte(hex.EncodeToString(raw))
		if err := os.WriteFile(file, b, 0o600); err != nil {
			return nil, fmt.Errorf("write %s: %w", file, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	return decodeSecret(strings.TrimSpace(string(b)))
}

func decodeSecret(s string) ([]byte, error) {
	b, err := hex.DecodeString(s)
	if err != nil || len(b) < 16 {
		return nil, errors.New("the key secret must be at least 32 hex digits")
	}
	return b, nil
}

func redactURL(u string) string {
	if i := strings.Index(u, "://"); i >= 0 {
		if j := strings.Index(u[i+3:], "@"); j >= 0 {
			creds := u[i+3 : i+3+j]
			if k := strings.Index(creds, ":"); k >= 0 {
				return u[:i+3] + creds[:k] + ":***" + u[i+3+j:]
			}
		}
	}
	return u
}
