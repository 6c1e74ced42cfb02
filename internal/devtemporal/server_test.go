package devtemporal_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeevents/lifeevents/internal/devtemporal"
)

// waitForSignalOrTimer completes with the signal's value, or "timer" once the
// timer fires.
func waitForSignalOrTimer(ctx workflow.Context, d time.Duration) (string, error) {
	var got string
	sel := workflow.NewSelector(ctx)
	sel.AddReceive(workflow.GetSignalChannel(ctx, "go"), func(c workflow.ReceiveChannel, _ bool) { c.Receive(ctx, &got) })
	sel.AddFuture(workflow.NewTimer(ctx, d), func(workflow.Future) { got = "timer" })
	sel.Select(ctx)
	return got, nil
}

type stack struct {
	srv *devtemporal.Server
	c   client.Client
	w   worker.Worker
}

func start(t *testing.T, db string) *stack {
	t.Helper()
	srv, err := devtemporal.Start(devtemporal.Options{DatabaseFile: db})
	if err != nil {
		t.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: "default"})
	if err != nil {
		_ = srv.Stop()
		t.Fatal(err)
	}
	w := worker.New(c, "restart-test", worker.Options{})
	w.RegisterWorkflow(waitForSignalOrTimer)
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	return &stack{srv: srv, c: c, w: w}
}

func (s *stack) stop() {
	s.w.Stop()
	s.c.Close()
	_ = s.srv.Stop()
}

func TestWorkflowsSurviveRestart(t *testing.T) {
	db := filepath.Join(t.TempDir(), "temporal.db")
	ctx := context.Background()

	s := start(t, db)
	opts := func(id string) client.StartWorkflowOptions {
		return client.StartWorkflowOptions{ID: id, TaskQueue: "restart-test"}
	}
	if _, err := s.c.ExecuteWorkflow(ctx, opts("signal"), waitForSignalOrTimer, time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.c.ExecuteWorkflow(ctx, opts("timer"), waitForSignalOrTimer, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	// Let both reach their wait before the server goes down.
	time.Sleep(500 * time.Millisecond)
	s.stop()
	time.Sleep(3 * time.Second) // the timer expires while the server is down

	s = start(t, db)
	defer s.stop()
	if err := s.c.SignalWorkflow(ctx, "signal", "", "go", "signalled after restart"); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[string]string{"signal": "signalled after restart", "timer": "timer"} {
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		var got string
		err := s.c.GetWorkflow(wctx, id, "").Get(wctx, &got)
		cancel()
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if got != want {
			t.Fatalf("%s: got %q, want %q", id, got, want)
		}
	}
}

func TestPortInUse(t *testing.T) {
	srv, err := devtemporal.Start(devtemporal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	if _, err := devtemporal.Start(devtemporal.Options{Address: srv.HostPort()}); err == nil {
		t.Fatal("second server on the same port started")
	}
}
