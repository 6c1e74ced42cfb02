package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
)

// BenchmarkSameTemporalServer: journeys per second of the production split
// (serve, two workers, two ingests), of `lifeevents dev` and of a bare
// Temporal tree of a whole journey's shape, one after another against the
// same Temporal server (the stock CLI's dev server) in one run. The split
// and dev run the split test's 200 moves (325 proposals, decided and
// answered through the API); the bare tree does the same Temporal work
// with nothing behind it. Run with -benchtime 1x; needs the temporal CLI
// (make bench installs it).
func BenchmarkSameTemporalServer(b *testing.B) {
	const n = splitCitizens
	s := newSplit(b)
	rate := map[string]float64{}
	cpu := map[string]time.Duration{}
	phase := func(name string, run func()) {
		before := s.temporal.cpu()
		began := time.Now()
		run()
		took := time.Since(began)
		rate[name] = float64(n) / took.Seconds()
		cpu[name] = (s.temporal.cpu() - before) / n
		b.Logf("%s: %d journeys in %s = %.2f journeys/s; Temporal server %.0f ms of processor time per journey",
			name, n, took.Round(time.Millisecond), rate[name], float64(cpu[name].Microseconds())/1000)
	}

	// The bare tree first: the server's history is smallest then, which
	// favours the yardstick, not us.
	phase("bare", func() { bareJourneys(b, fmt.Sprintf("127.0.0.1:%d", s.tPort), n) })

	phase("split", func() {
		s.serve()
		for _, p := range []struct{ name, cmd string }{{"worker-1", "worker"}, {"worker-2", "worker"}, {"ingest-1", "ingest"}, {"ingest-2", "ingest"}} {
			s.lifeevents(p.name, p.cmd).waitFor("msg=ready", 60*time.Second)
		}
		s.moveAll(s.db(), n)
	})
	for _, p := range s.procs {
		p.stop(syscall.SIGTERM)
	}

	phase("dev", func() {
		s.startDevOnTheServer()
		s.moveAll(s.devDB(), n)
	})

	b.ReportMetric(rate["bare"], "bare-journeys/s")
	b.ReportMetric(rate["split"], "split-journeys/s")
	b.ReportMetric(rate["dev"], "dev-journeys/s")
	b.ReportMetric(rate["split"]/rate["bare"], "split/bare")
	b.ReportMetric(rate["dev"]/rate["bare"], "dev/bare")
	b.ReportMetric(rate["split"]/rate["dev"], "split/dev")
	for _, name := range []string{"bare", "split", "dev"} {
		b.ReportMetric(float64(cpu[name].Microseconds())/1000, "temporal-ms/"+name)
	}
}

// moveAll posts n moves with the citizens and agencies acting, and waits
// until every journey ended with the counts exact.
func (s *split) moveAll(conn querier, n int) {
	stop := make(chan struct{})
	agents := s.citizensAndAgencies(conn, stop)
	for i := range n {
		s.postMove(i)
	}
	s.settle(conn, n, 8*time.Minute)
	close(stop)
	agents.Wait()
}

const devDatabase = "lifeevents_dev"

// devDB is a pool on dev mode's database.
func (s *split) devDB() querier { return s.dbOn(s.devURL()) }

func (s *split) devURL() string {
	return strings.Replace(s.dbURL, "/lifeevents?", "/"+devDatabase+"?", 1)
}

// startDevOnTheServer starts `lifeevents dev` on the split's Temporal
// server, with a database of its own holding the split's registers, the
// split's token signer and codec key (so the test's tokens and outcome
// check work), and the sample agencies silent (the test answers).
func (s *split) startDevOnTheServer() {
	ctx := context.Background()
	if err := s.pg.CreateDatabase(ctx, devDatabase); err != nil {
		s.t.Fatal(err)
	}
	url := s.devURL()
	for _, args := range [][]string{{"migrate"}, {"registry", "load", filepath.Join(s.dir, "registers.json")}} {
		cmd := exec.Command(s.bin, args...)
		cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
		if out, err := cmd.CombinedOutput(); err != nil {
			s.t.Fatalf("lifeevents %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	dir := dataDir(s.t)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		s.t.Fatal(err)
	}
	key, err := os.ReadFile(filepath.Join(s.dir, "signing-key.pem"))
	if err != nil {
		s.t.Fatal(err)
	}
	for name, content := range map[string][]byte{"jwt-signing-key.pem": key, "payload-codec-key": []byte(s.codecKey)} {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o600); err != nil {
			s.t.Fatal(err)
		}
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(s.t))
	s.lifeevents("dev", "dev", "--data-dir", dir, "--http-addr", addr, "--database-url", url,
		"--temporal-address", fmt.Sprintf("127.0.0.1:%d", s.tPort), "--kafka-port", fmt.Sprint(freePort(s.t)),
		"--agency-delay", "1000h")
	s.api = &devProc{t: s.t, http: addr}
	s.readyz(addr, http.StatusOK, 2*time.Minute)
}

// The bare tree: a whole journey's Temporal work with nothing behind it.
// The parent runs the LifeEvent's activities (record, resolve, one create
// per proposal, record, supersede), one child per proposal, and a last
// record; a child runs the Proposal's: auto-apply, the citizen's decision
// (an update, sent by an activity as the API would), then for an accepted
// proposal accept, submit and deliver, the agency's answer (a signal, sent
// by the delivering activity) and the status.
type bareIn struct {
	ID        string
	Proposals int
	Declined  int // the last this many are declined, as the dog tax is
}

func bareJourney(ctx workflow.Context, in bareIn) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var a *bareActivities
	step := func() error { return workflow.ExecuteActivity(ctx, a.Step).Get(ctx, nil) }
	for range 4 + in.Proposals {
		if err := step(); err != nil {
			return err
		}
	}
	var children []workflow.ChildWorkflowFuture
	for i := range in.Proposals {
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{WorkflowID: fmt.Sprintf("%s/p%d", in.ID, i)})
		children = append(children, workflow.ExecuteChildWorkflow(cctx, bareProposal, i >= in.Proposals-in.Declined))
	}
	for _, c := range children {
		if err := c.Get(ctx, nil); err != nil {
			return err
		}
	}
	return step()
}

func bareProposal(ctx workflow.Context, decline bool) error {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{StartToCloseTimeout: time.Minute})
	var a *bareActivities
	decided := false
	if err := workflow.SetUpdateHandler(ctx, "decide", func(workflow.Context) error { decided = true; return nil }); err != nil {
		return err
	}
	answer := workflow.GetSignalChannel(ctx, "agency-result")
	run := func(f any) error { return workflow.ExecuteActivity(ctx, f).Get(ctx, nil) }
	if err := run(a.Step); err != nil { // auto-apply
		return err
	}
	if err := run(a.Decide); err != nil {
		return err
	}
	if err := workflow.Await(ctx, func() bool { return decided }); err != nil {
		return err
	}
	if !decline {
		for _, f := range []any{a.Step, a.Step, a.Deliver} { // accept, submit, deliver
			if err := run(f); err != nil {
				return err
			}
		}
		answer.Receive(ctx, nil)
	}
	return run(a.Step) // the status
}

type bareActivities struct{ c client.Client }

func (*bareActivities) Step(context.Context) error { return nil }

// Decide is the citizen's decision: an update of the proposal's journey.
func (a *bareActivities) Decide(ctx context.Context) error {
	id := activity.GetInfo(ctx).WorkflowExecution.ID
	h, err := a.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: id, UpdateName: "decide",
		WaitForStage: client.WorkflowUpdateStageCompleted})
	if err != nil {
		return err
	}
	return h.Get(ctx, nil)
}

// Deliver hands the submission over; the agency answers with a signal.
func (a *bareActivities) Deliver(ctx context.Context) error {
	return a.c.SignalWorkflow(ctx, activity.GetInfo(ctx).WorkflowExecution.ID, "", "agency-result", "granted")
}

// bareJourneys runs n bare journeys with the split's proposals (see
// registers) on the server at addr and waits for all of them to end.
func bareJourneys(b *testing.B, addr string, n int) {
	c, err := client.Dial(client.Options{HostPort: addr, Logger: quietSDK{}})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	w := worker.New(c, "bare", worker.Options{})
	w.RegisterWorkflow(bareJourney)
	w.RegisterWorkflow(bareProposal)
	w.RegisterActivity(&bareActivities{c: c})
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		in := bareIn{ID: fmt.Sprintf("bare-%d", i), Proposals: 1}
		if i%4 == 0 {
			in.Proposals += 2
		}
		if i%8 == 0 {
			in.Proposals++
			in.Declined = 1
		}
		run, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: in.ID, TaskQueue: "bare"}, bareJourney, in)
		if err != nil {
			b.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
			defer cancel()
			if err := run.Get(ctx, nil); err != nil {
				errs <- fmt.Errorf("%s: %w", in.ID, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
}

// quietSDK keeps the SDK's logs out of the benchmark's output.
type quietSDK struct{}

func (quietSDK) Debug(string, ...any) {}
func (quietSDK) Info(string, ...any)  {}
func (quietSDK) Warn(string, ...any)  {}
func (quietSDK) Error(string, ...any) {}
