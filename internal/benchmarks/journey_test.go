package benchmarks

import (
	"context"
	"fmt"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/workflows"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// citizens creates n movers in the registers, each with a car and a dog in
// Buchholz, so every journey has four proposals (as the sample move does).
func citizens(b *testing.B, db *pgxpool.Pool, n int) {
	d, err := registries.Sample()
	if err != nil {
		b.Fatal(err)
	}
	for i := range n {
		id := fmt.Sprintf("cb-%d", i)
		d.Citizens = append(d.Citizens, registries.Person{CitizenID: id, Name: "Bench " + id, Municipality: "03353005", Address: "Lindenweg 4"})
		d.Vehicles = append(d.Vehicles, registries.Vehicle{Plate: "WL-B " + id, HolderID: id, Kind: "car"})
		d.Dogs = append(d.Dogs, registries.Dog{ID: "d-" + id, OwnerID: id, Name: "Rex", Municipality: "03353005"})
	}
	if err := registries.NewPG(db).Load(context.Background(), d); err != nil {
		b.Fatal(err)
	}
}

func moveFor(citizen, id string) events.Event {
	today, _ := events.ParseDate(time.Now().UTC().Format("2006-01-02"))
	return events.Event{ID: id, Source: "urn:bench", Type: events.TypeMove, Move: &events.Move{
		CitizenID: citizen, HouseholdID: "h-" + citizen, MovedOn: today,
		From:      events.Address{Municipality: "03353005", Street: "Lindenweg", HouseNumber: "4", PostalCode: "21244", City: "Buchholz"},
		To:        events.Address{Municipality: "03353022", Street: "Am Markt", HouseNumber: "12", PostalCode: "21423", City: "Winsen (Luhe)"},
		Household: []events.Member{{CitizenID: citizen, Role: events.RoleAdult}},
	}}
}

// journeyWorker runs the real worker against real Postgres.
func journeyWorker(b *testing.B, c client.Client, db *pgxpool.Pool) {
	pb, _ := policies.DefaultBundle()
	engine, err := policies.NewEngine(context.Background(), pb)
	if err != nil {
		b.Fatal(err)
	}
	cs := consent.NewStore(db, engine, consent.Config{Controller: "bench"})
	w := worker.New(c, workflows.TaskQueue, worker.Options{})
	w.RegisterWorkflow(workflows.LifeEvent)
	w.RegisterWorkflow(workflows.Proposal)
	w.RegisterActivity(&workflows.Activities{
		Proposals: proposals.NewPGStore(db), Events: events.NewPGStatusLog(db, nil), Policies: engine,
		Decisions: policies.NewPGDecisionLog(db), Registry: registries.NewPG(db), Inbox: inbox.NewPGStore(db),
		Offers: cs, Statuses: proposals.NewPGStore(db), Consents: cs, Submissions: agencies.NewPGStore(db, cs),
		Now: time.Now,
	})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(w.Stop)
}

// bare is a workflow tree of the journey's shape up to the moment its
// proposals are visible, doing nothing: seven activities in a row, then four
// children that each wait on a timer.
func bareParent(ctx workflow.Context, id string) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	for i := range 7 {
		if err := workflow.ExecuteActivity(ctx, bareStep, id, i).Get(ctx, nil); err != nil {
			return err
		}
	}
	var fs []workflow.ChildWorkflowFuture
	for i := range 4 {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("%s-child-%d", id, i)})
		fs = append(fs, workflow.ExecuteChildWorkflow(cctx, bareChild))
	}
	for _, f := range fs {
		if err := f.GetChildWorkflowExecution().Get(ctx, nil); err != nil {
			return err
		}
	}
	return nil
}

func bareChild(ctx workflow.Context) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	if err := workflow.ExecuteActivity(ctx, bareStep, "child", -1).Get(ctx, nil); err != nil {
		return err
	}
	return workflow.Sleep(ctx, 24*time.Hour)
}

var bareVisible sync.Map // id → chan struct{}, closed at the last parent step

// bareWorker runs the bare tree's worker on c; the caller stops it.
func bareWorker(b *testing.B, c client.Client) (stop func()) {
	w := worker.New(c, "bare", worker.Options{})
	w.RegisterWorkflow(bareParent)
	w.RegisterWorkflow(bareChild)
	w.RegisterActivity(bareStep)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	return w.Stop
}

// bareTrees starts the i-th bare tree (id prefix-i) and waits, at most
// limit, until it is as far as a journey whose proposals are visible.
func bareTrees(c client.Client, prefix string, limit time.Duration) (start, visible func(i int) error) {
	return func(i int) error {
			id := fmt.Sprintf("%s-%d", prefix, i)
			bareVisible.Store(id, make(chan struct{}))
			_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: "bare"}, bareParent, id)
			return err
		}, func(i int) error {
			ch, _ := bareVisible.Load(fmt.Sprintf("%s-%d", prefix, i))
			select {
			case <-ch.(chan struct{}):
				return nil
			case <-time.After(limit):
				return fmt.Errorf("bare tree %s-%d not done after %s", prefix, i, limit)
			}
		}
}

func bareStep(_ context.Context, id string, i int) error {
	if i == 6 {
		if ch, ok := bareVisible.Load(id); ok {
			close(ch.(chan struct{}))
		}
	}
	return nil
}

type measure struct {
	lat   []time.Duration
	total time.Duration
}

// drive starts n journeys with at most inFlight at a time (or paced at one
// every interval when interval > 0) and waits for each to be visible.
func drive(b *testing.B, n, inFlight int, interval time.Duration, start func(i int) error, visible func(i int) error) measure {
	var mu sync.Mutex
	var m measure
	sem := make(chan struct{}, inFlight)
	var wg sync.WaitGroup
	var failed atomic.Value
	began := time.Now()
	for i := range n {
		if interval > 0 {
			time.Sleep(time.Until(began.Add(time.Duration(i) * interval)))
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			t0 := time.Now()
			if err := start(i); err != nil {
				failed.Store(err)
				return
			}
			if err := visible(i); err != nil {
				failed.Store(err)
				return
			}
			d := time.Since(t0)
			mu.Lock()
			m.lat = append(m.lat, d)
			mu.Unlock()
		}()
	}
	wg.Wait()
	m.total = time.Since(began)
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	return m
}

func report(b *testing.B, m measure, unit string) {
	sort.Slice(m.lat, func(i, j int) bool { return m.lat[i] < m.lat[j] })
	b.ReportMetric(float64(len(m.lat))/m.total.Seconds(), unit)
	b.ReportMetric(float64(m.lat[len(m.lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(m.lat[len(m.lat)*99/100].Microseconds())/1000, "p99-ms")
}

// BenchmarkJourney compares journeys on the embedded stack (Temporal,
// Postgres, the real worker with policies, registers, consent and inbox;
// from StartWorkflow to the proposals visible in Postgres) with a bare
// Temporal tree of the same shape, in the same run: at full load (16 in
// flight) and paced at half the measured journey rate.
func BenchmarkJourney(b *testing.B) {
	ctx := context.Background()
	s := newStack(b)
	db := pgtest.New(b)
	citizens(b, db, 20_000)
	journeyWorker(b, s.c, db)
	defer bareWorker(b, s.c)()
	starter := workflows.Starter{Client: s.c}
	run := runSeq.Add(1)
	seq := 0
	journeyStart := func(prefix string) (func(int) error, func(int) error) {
		return func(i int) error {
				return starter.StartLifeEvent(ctx, moveFor(fmt.Sprintf("cb-%d", (seq+i)%20_000), fmt.Sprintf("%s-%d-%d", prefix, run, i)))
			}, func(i int) error {
				id := fmt.Sprintf("%s-%d-%d", prefix, run, i)
				for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
					var st string
					if err := db.QueryRow(ctx, `SELECT status FROM life_events WHERE id = $1`, id).Scan(&st); err == nil && st == "proposed" {
						return nil
					}
				}
				return fmt.Errorf("journey %s not visible after a minute", id)
			}
	}
	bareStart := func(prefix string) (func(int) error, func(int) error) {
		return bareTrees(s.c, fmt.Sprintf("%s-%d", prefix, run), time.Minute)
	}
	const n = 200 // journeys per measurement; run with -benchtime 1x
	var journeyRate float64
	b.Run("journey/full", func(b *testing.B) {
		st, vis := journeyStart("jf")
		m := drive(b, n, 16, 0, st, vis)
		seq += n
		journeyRate = float64(n) / m.total.Seconds()
		report(b, m, "journeys/s")
	})
	b.Run("bare/full", func(b *testing.B) {
		st, vis := bareStart("bf")
		report(b, drive(b, n, 16, 0, st, vis), "trees/s")
	})
	half := time.Duration(float64(time.Second) / (journeyRate / 2))
	// Let the server finish the full-load phases' child starts first, so
	// each half-load phase measures its own work only.
	settle := func() { time.Sleep(15 * time.Second) }
	settle()
	b.Run("bare/half-load", func(b *testing.B) {
		st, vis := bareStart("bh")
		report(b, drive(b, n, 64, half, st, vis), "trees/s")
	})
	settle()
	b.Run("journey/half-load", func(b *testing.B) {
		st, vis := journeyStart("jh")
		m := drive(b, n, 64, half, st, vis)
		seq += n
		report(b, m, "journeys/s")
	})
}
