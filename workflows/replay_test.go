package workflows_test

import (
	"os"
	"path/filepath"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/workflows"
)

// TestReplayRecordedHistories replays histories recorded from the released
// workflows (`make histories`) against the current code: a change that
// alters history without workflow.GetVersion fails here with a
// nondeterminism error.
func TestReplayRecordedHistories(t *testing.T) {
	keyHex, err := os.ReadFile("testdata/histories/codec-key")
	if err != nil {
		t.Fatal(err)
	}
	key, err := codec.ParseKey(string(keyHex))
	if err != nil {
		t.Fatal(err)
	}
	c, err := codec.New(key)
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob("testdata/histories/*.json")
	if len(files) < 2 {
		t.Fatalf("only %d recorded histories", len(files))
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			r, err := worker.NewWorkflowReplayerWithOptions(worker.WorkflowReplayerOptions{DataConverter: c.DataConverter()})
			if err != nil {
				t.Fatal(err)
			}
			r.RegisterWorkflow(workflows.LifeEvent)
			r.RegisterWorkflow(workflows.Proposal)
			if err := r.ReplayWorkflowHistoryFromJSONFile(nil, f); err != nil {
				t.Fatal(err)
			}
		})
	}
}
