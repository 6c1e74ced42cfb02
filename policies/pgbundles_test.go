package policies_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/policies"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func pass([]byte) error { return nil }

// TestFourEyesInPostgres: an upload waits for a second, different person;
// the uploader cannot approve it again; a name under review cannot be
// given to other content; of two approvals at once, one activates.
func TestFourEyesInPostgres(t *testing.T) {
	ctx := context.Background()
	store := policies.NewPGBundles(pgtest.New(t))

	rev, err := store.Propose(ctx, "r1", []byte("bundle one"), "anna", 2)
	if err != nil || rev.ActivatedAt != nil || len(rev.Approvals) != 1 || rev.Approvals[0].By != "anna" {
		t.Fatalf("propose: %+v %v", rev, err)
	}
	if _, ok, _ := store.Active(ctx); ok {
		t.Fatal("a proposal is active before its approval")
	}
	if _, _, err := store.Approve(ctx, "r1", "anna", 2, pass); !errors.Is(err, policies.ErrSameApprover) {
		t.Fatalf("the uploader approving: %v", err)
	}
	// Other content under the name being reviewed is refused; the same
	// content again is the same proposal.
	if _, err := store.Propose(ctx, "r1", []byte("something else"), "mallory", 2); !errors.Is(err, policies.ErrRevisionTaken) {
		t.Fatalf("other content under r1: %v", err)
	}
	if again, err := store.Propose(ctx, "r1", []byte("bundle one"), "mallory", 2); err != nil || len(again.Approvals) != 1 || again.UploadedBy != "anna" {
		t.Fatalf("the same content again: %+v %v", again, err)
	}
	// A bundle this version refuses stays proposed.
	refuse := errors.New("refused")
	if _, _, err := store.Approve(ctx, "r1", "bob", 2, func([]byte) error { return refuse }); !errors.Is(err, refuse) {
		t.Fatalf("vet refusing: %v", err)
	}
	if _, ok, _ := store.Active(ctx); ok {
		t.Fatal("a refused bundle went live")
	}
	rev, raw, err := store.Approve(ctx, "r1", "bob", 2, pass)
	if err != nil || string(raw) != "bundle one" || rev.ActivatedAt == nil || len(rev.Approvals) != 2 {
		t.Fatalf("bob approving: %+v %q %v", rev, raw, err)
	}
	if active, ok, _ := store.Active(ctx); !ok || active.Revision != "r1" {
		t.Fatalf("active: %+v", active)
	}
	if _, _, err := store.Approve(ctx, "r1", "carl", 2, pass); !errors.Is(err, policies.ErrAlreadyActive) {
		t.Fatalf("approving an active revision: %v", err)
	}
	if _, _, err := store.Approve(ctx, "nope", "carl", 2, pass); !errors.Is(err, policies.ErrUnknownRevision) {
		t.Fatalf("approving nothing: %v", err)
	}

	// Two approvals at once with three required: one of them is the last.
	if _, err := store.Propose(ctx, "r2", []byte("bundle two"), "anna", 3); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	activated := make(chan bool, 2)
	for _, who := range []string{"bob", "carl"} {
		wg.Go(func() {
			_, raw, err := store.Approve(ctx, "r2", who, 3, pass)
			if err != nil {
				t.Error(err)
			}
			activated <- raw != nil
		})
	}
	wg.Wait()
	close(activated)
	n := 0
	for a := range activated {
		if a {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d approvals activated r2, want exactly 1", n)
	}
	proposed, err := store.Proposed(ctx)
	if err != nil || len(proposed) != 0 {
		t.Fatalf("proposed after activation: %+v %v", proposed, err)
	}
}

// TestSyncShowsARefusedBundle: an approved bundle this version refuses
// leaves the process on its revision and says so in a metric, until a
// bundle it can load is approved.
func TestSyncShowsARefusedBundle(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	store := policies.NewPGBundles(pgtest.New(t))
	e := engine(t)
	before := e.Revision()
	m := policies.NewSyncMetrics(prometheus.NewRegistry())
	done := make(chan struct{})
	go func() {
		defer close(done)
		store.Sync(ctx, e, 20*time.Millisecond, slog.New(slog.DiscardHandler), m)
	}()
	defer func() { cancel(); <-done }()
	wait := func(what string, ok func() bool) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); !ok(); time.Sleep(20 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: refused=%v revision=%s", what, value(m.Refused), e.Revision())
			}
		}
	}
	if _, err := store.Propose(ctx, "broken-1", []byte("not a bundle"), "anna", 1); err != nil {
		t.Fatal(err)
	}
	wait("a refused bundle shows", func() bool { return value(m.Refused) == 1 })
	if e.Revision() != before {
		t.Fatal("the revision changed to a refused bundle")
	}
	raw, err := policies.Pack(".")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.Propose(ctx, "good-1", raw, "anna", 1); err != nil {
		t.Fatal(err)
	}
	wait("a loadable bundle clears it", func() bool { return value(m.Refused) == 0 && value(m.Loaded) == 1 })
}

// value reads a gauge or counter.
func value(c prometheus.Collector) float64 {
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	var d dto.Metric
	_ = (<-ch).Write(&d)
	if d.Gauge != nil {
		return d.Gauge.GetValue()
	}
	return d.GetCounter().GetValue()
}
