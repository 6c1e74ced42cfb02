package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/worker"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/httpapi"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/intake"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/texts"
	"github.com/lifeevents/lifeevents/tracing"
	"github.com/lifeevents/lifeevents/workflows"
)

// app holds the running parts of one process and stops them in reverse
// order of starting.
type app struct {
	log    *slog.Logger
	reg    *prometheus.Registry
	pool   *pgxpool.Pool
	tc     client.Client
	engine *policies.Engine
	checks []httpapi.Check
	// tracing is off unless the OpenTelemetry environment turns it on.
	tracing *tracing.Tracing
	codec   *codec.AESGCM
	// deliver routes submissions to agencies with a webhook.
	deliver agencies.Router
	// district settings
	offersOptIn   bool
	retention     time.Duration
	consentConfig consent.Config
	timeScale     float64
	// policyApprovers is how many people must approve a policy upload.
	policyApprovers int
	agencyTimeout   time.Duration

	mu    sync.Mutex
	stops []func()
	wg    sync.WaitGroup
	fail  chan error
}

func newApp(log *slog.Logger) *app {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return &app{log: log, reg: reg, fail: make(chan error, 8), tracing: tracing.Off()}
}

// useTracing exports the process's spans if OpenTelemetry's environment
// asks for it. Call it first: the last thing stopping flushes the spans.
func (a *app) useTracing(ctx context.Context, process string) error {
	cfg := tracing.FromEnv(os.Getenv)
	t, err := tracing.Start(ctx, cfg, process, a.log.With("component", "tracing"))
	if err != nil {
		return err
	}
	a.tracing = t
	a.onStop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := t.Shutdown(ctx); err != nil {
			a.log.Warn("tracing: spans not exported at shutdown", "error", err)
		}
	})
	if t.Enabled() {
		a.log.Info("tracing on", "endpoint", cfg.Endpoint, "protocol", cmp.Or(cfg.Protocol, tracing.ProtocolHTTP))
	}
	return nil
}

// onStop registers f to run at shutdown, before everything registered earlier.
func (a *app) onStop(f func()) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.stops = append(a.stops, f)
}

// stop runs the stop functions newest first.
func (a *app) stop() {
	a.mu.Lock()
	stops := a.stops
	a.stops = nil
	a.mu.Unlock()
	for i := len(stops) - 1; i >= 0; i-- {
		stops[i]()
	}
	a.wg.Wait()
}

// go runs f in the background; an error from it stops the process.
func (a *app) goRun(name string, f func() error) {
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		if err := f(); err != nil {
			a.fail <- fmt.Errorf("%s: %w", name, err)
		}
	}()
}

// wait blocks until ctx ends (a signal) or a part fails.
func (a *app) wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
		return nil
	case err := <-a.fail:
		return err
	}
}

func (a *app) usePostgres(pool *pgxpool.Pool) {
	a.pool = pool
	a.onStop(pool.Close)
	a.checks = append(a.checks, httpapi.Check{Name: "postgres", Check: pool.Ping})
}

func (a *app) dialTemporal(ctx context.Context, cfg workflows.TemporalConfig) error {
	var dc converter.DataConverter
	if a.codec != nil {
		dc = a.codec.DataConverter()
	}
	var err error
	if cfg.Interceptors, err = a.tracing.TemporalInterceptors(); err != nil {
		return err
	}
	tc, err := cfg.Dial(ctx, dc, a.log.With("component", "temporal-sdk"))
	if err != nil {
		return err
	}
	a.tc = tc
	a.onStop(tc.Close)
	a.checks = append(a.checks, httpapi.Check{Name: "temporal", Check: func(ctx context.Context) error {
		_, err := tc.CheckHealth(ctx, &client.CheckHealthRequest{})
		return err
	}})
	return nil
}

func (a *app) watchKafka(k ingest.Kafka) {
	a.checks = append(a.checks, httpapi.Check{Name: "kafka", Check: k.Check})
}

// loadPolicies starts the policy engine on the bundle in dir (the built-in
// one if dir is empty) and keeps it on the newest uploaded revision.
func (a *app) loadPolicies(ctx context.Context, dir string) error {
	var b *policies.Bundle
	var err error
	if dir == "" {
		b, err = policies.DefaultBundle()
	} else {
		b, err = policies.DirBundle(dir)
	}
	if err != nil {
		return err
	}
	if a.engine, err = policies.NewEngine(ctx, b); err != nil {
		return fmt.Errorf("policies in %q: %w", dir, err)
	}
	store := policies.NewPGBundles(a.pool)
	metrics := policies.NewSyncMetrics(a.reg)
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Sync(sctx, a.engine, 2*time.Second, a.log.With("component", "policies"), metrics)
	}()
	a.onStop(func() { cancel(); <-done })
	a.log.Info("policies loaded", "revision", a.engine.Revision(), "services", len(a.engine.Catalog()))
	return nil
}

func (a *app) codecHandler() http.Handler {
	if a.codec == nil {
		return nil
	}
	return converter.NewPayloadCodecHTTPHandler(a.codec)
}

// startSampleAgencies runs the agency simulators of dev mode.
func (a *app) startSampleAgencies(delay time.Duration) {
	sim := &agencies.Simulator{
		Store: agencies.NewPGStore(a.pool, a.consents()),
		Notify: func(ctx context.Context, proposalID, status, note string) error {
			return workflows.Journeys{Client: a.tc}.AgencyResult(ctx, proposalID, status, note)
		},
		Delay: delay, Log: a.log.With("component", "sample-agencies"),
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); sim.Run(ctx) }()
	a.onStop(func() { cancel(); <-done })
}

func (a *app) consents() *consent.Store {
	return consent.NewStore(a.pool, a.engine, a.consentConfig)
}

// startSweeper records expired consents in their history and deletes
// transfer-log entries past their retention, once a minute.
func (a *app) startSweeper() {
	store := a.consents()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Sweep(ctx, time.Minute, a.retention, a.log.With("component", "consent-sweeper"))
	}()
	a.onStop(func() { cancel(); <-done })
}

// startWorker runs the Temporal worker of the journeys.
func (a *app) startWorker() error {
	w := worker.New(a.tc, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.LifeEvent)
	w.RegisterWorkflow(workflows.Proposal)
	consents := a.consents()
	w.RegisterActivity(&workflows.Activities{
		Proposals:     proposals.NewPGStore(a.pool),
		Events:        events.NewPGStatusLog(a.pool, nil),
		Policies:      a.engine,
		Decisions:     policies.NewPGDecisionLog(a.pool),
		Registry:      registries.NewPG(a.pool),
		Inbox:         inbox.NewPGStore(a.pool),
		Offers:        consents,
		OffersOptIn:   a.offersOptIn,
		Statuses:      proposals.NewPGStore(a.pool),
		Consents:      consents,
		Submissions:   agencies.NewPGStore(a.pool, consents),
		Deliverer:     a.deliver,
		TimeScale:     a.timeScale,
		AgencyTimeout: a.agencyTimeout,
		Now:           time.Now,
	})
	a.startSweeper()
	if err := w.Start(); err != nil {
		return fmt.Errorf("start worker: %w", err)
	}
	var running atomic.Bool
	running.Store(true)
	a.onStop(func() {
		running.Store(false)
		w.Stop() // waits for running activities
	})
	a.checks = append(a.checks, httpapi.Check{Name: "worker", Check: func(context.Context) error {
		if !running.Load() {
			return errors.New("worker stopped")
		}
		return nil
	}})
	return nil
}

// startIngest runs the Kafka consumer that starts journeys, the outbox
// relay that publishes applications, and the dead-letter index.
func (a *app) startIngest(ctx context.Context, k ingest.Kafka) {
	log := a.log.With("component", "ingest")
	reader := ingest.NewReader(k)
	dlq := ingest.NewDLQWriter(k)
	out := ingest.NewWriter(k, "")
	dlqReader := ingest.NewDLQReader(k)
	c := ingest.NewConsumer(reader, dlq, workflows.Starter{Client: a.tc}, log, ingest.NewMetrics(a.reg))
	c.Trace(a.tracing.Provider(), a.tracing.Propagator())
	relay := intake.NewRelay(a.pool, out, a.log.With("component", "outbox"))
	index := ingest.NewDeadLetters(a.pool, log)
	ingest.RegisterLag(a.reg, func() int64 { return reader.Stats().Lag })
	relay.RegisterBacklog(a.reg)
	cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{}, 3)
	for name, run := range map[string]func() error{
		"ingest":       func() error { return c.Run(cctx) },
		"outbox relay": func() error { return relay.Run(cctx) },
		"dlq index":    func() error { return index.Index(cctx, dlqReader) },
	} {
		a.goRun(name, func() error {
			defer func() { done <- struct{}{} }()
			return run()
		})
	}
	a.onStop(func() {
		cancel()
		for range 3 {
			<-done
		}
		_ = reader.Close()
		_ = dlqReader.Close()
		_ = dlq.Close()
		_ = out.Close()
	})
	a.checks = append(a.checks, httpapi.Check{Name: "consumer", Check: func(context.Context) error {
		if !c.Running() {
			return errors.New("consumer not running")
		}
		return nil
	}})
}

// serveHTTP serves the API on an already bound listener. keySecret hashes
// citizen ids into the Kafka keys of posted applications.
// The portal and the dev identity provider are optional (nil: none).
func (a *app) serveHTTP(l net.Listener, verifier httpapi.TokenVerifier, keySecret []byte, p *portal.Portal, idp, mail http.Handler) error {
	log := a.log.With("component", "http")
	catalog, err := texts.New()
	if err != nil {
		return err
	}
	var web httpapi.Portal
	if p != nil {
		web = p
	}
	applications := intake.NewStore(a.pool, events.NewPublisher(nil, keySecret)).Trace(a.tracing.Propagator())
	h := httpapi.New(httpapi.Deps{
		Portal:          web,
		DevIdP:          idp,
		DevMail:         mail,
		Verifier:        verifier,
		Proposals:       proposals.NewPGStore(a.pool),
		Events:          events.NewPGStatusLog(a.pool, applications),
		Intake:          applications,
		DeadLetters:     ingest.NewDeadLetters(a.pool, a.log.With("component", "dlq")),
		Policies:        a.engine,
		Bundles:         policies.NewPGBundles(a.pool),
		PolicyApprovers: a.policyApprovers,
		Messages:        inbox.NewPGStore(a.pool),
		Texts:           catalog,
		ServiceNames:    a.engine.ServiceName,
		Consents:        a.consents(),
		Withdrawals:     workflows.Journeys{Client: a.tc},
		Journeys:        workflows.Journeys{Client: a.tc},
		Submissions:     agencies.NewPGStore(a.pool, a.consents()),
		Codec:           a.codecHandler(),
		Checks:          a.checks,
		Metrics:         a.reg,
		Log:             log,
	})
	a.serve("http", l, a.tracing.Handler(h), log)
	return nil
}

// serveProbe serves /healthz, /readyz and /metrics of a process without
// the API (worker, ingest) on addr.
func (a *app) serveProbe(addr string) error {
	l, err := listen(addr)
	if err != nil {
		return err
	}
	log := a.log.With("component", "probe")
	a.serve("probe", l, httpapi.NewProbe(a.checks, a.reg, log), log)
	return nil
}

// serve runs an HTTP server on l until the app stops.
func (a *app) serve(name string, l net.Listener, h http.Handler, log *slog.Logger) {
	srv := httpapi.NewHTTPServer(h, httpapi.DefaultHTTPConfig(), log)
	a.goRun(name, func() error {
		if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	a.onStop(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	})
}

func listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		if strings.Contains(err.Error(), "address already in use") {
			return nil, fmt.Errorf("HTTP address %s is in use", addr)
		}
		return nil, fmt.Errorf("HTTP address %s: %w", addr, err)
	}
	return l, nil
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
