package workflows_test

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.temporal.io/sdk/worker"

	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/workflows"
)

// recorded are the histories `make histories` recorded, one folder per
// recording: a recording adds a folder and never replaces one, so every
// earlier version of the workflows stays covered.
func recorded(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("testdata/histories/*/*.json")
	if err != nil || len(files) < 2 {
		t.Fatalf("only %d recorded histories (%v)", len(files), err)
	}
	return files
}

// TestReplayRecordedHistories replays histories recorded from the released
// workflows against the current code: a change that alters history
// without workflow.GetVersion fails here with a nondeterminism error.
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
	for _, f := range recorded(t) {
		t.Run(filepath.Base(filepath.Dir(f))+"/"+filepath.Base(f), func(t *testing.T) {
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

// TestEveryVersionRecorded: each workflow.GetVersion in the workflows'
// code has a recorded history that took its newest branch, so the replay
// test covers the code after the change as well as before it. A new
// GetVersion fails here until `make histories` recorded a journey through
// it.
func TestEveryVersionRecorded(t *testing.T) {
	sources, _ := filepath.Glob("*.go")
	call := regexp.MustCompile(`workflow\.GetVersion\(ctx, "([^"]+)", [^,]+, (\d+)\)`)
	want := map[string]bool{}
	for _, f := range sources {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range call.FindAllStringSubmatch(string(b), -1) {
			want[m[1]+"-"+m[2]] = true
		}
	}
	if len(want) < 4 {
		t.Fatalf("found only %d GetVersion calls: is the pattern still right? %v", len(want), want)
	}
	// The SDK records the versions a workflow took in the search attribute
	// TemporalChangeVersion (not encrypted: it holds change ids only).
	var history struct {
		Events []struct {
			Upsert *struct {
				SearchAttributes struct {
					IndexedFields map[string]struct{ Data string }
				}
			} `json:"upsertWorkflowSearchAttributesEventAttributes"`
		}
	}
	seen := map[string]bool{}
	for _, f := range recorded(t) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &history); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, e := range history.Events {
			if e.Upsert == nil {
				continue
			}
			raw, _ := base64.StdEncoding.DecodeString(e.Upsert.SearchAttributes.IndexedFields["TemporalChangeVersion"].Data)
			var versions []string
			_ = json.Unmarshal(raw, &versions)
			for _, v := range versions {
				seen[v] = true
			}
		}
		history.Events = nil
	}
	var missing []string
	for v := range want {
		if !seen[v] {
			missing = append(missing, v)
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		t.Fatalf("no recorded history took %v: record one (make histories) through that branch", missing)
	}
}
