package events_test

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestStatusLog(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	log := events.NewPGStatusLog(db)
	if _, err := log.Get(ctx, "nope"); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("unknown event: %v", err)
	}
	// An application stored but not yet relayed.
	if _, err := db.Exec(ctx, `INSERT INTO applications (event_id, source, reference, type) VALUES ('a-1', 'urn:x', 'R1', $1)`, events.TypeMove); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(ctx, `INSERT INTO outbox (event_id, topic, value) VALUES ('a-1', 'life-events', 'x')`); err != nil {
		t.Fatal(err)
	}
	if s, err := log.Get(ctx, "a-1"); err != nil || s.Status != "accepted" {
		t.Fatalf("stored application: %+v %v", s, err)
	}
	_, _ = db.Exec(ctx, `UPDATE outbox SET published_at = now()`)
	if s, _ := log.Get(ctx, "a-1"); s.Status != "published" {
		t.Fatalf("relayed application: %+v", s)
	}
	// Once the journey records it, its own status wins.
	for _, st := range []string{"received", "proposed"} {
		if err := log.Record(ctx, events.Status{ID: "a-1", Type: events.TypeMove, Source: "urn:x", WorkflowID: "lifeevent/a-1", Status: st}); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := log.Get(ctx, "a-1"); s.Status != "proposed" || s.WorkflowID != "lifeevent/a-1" {
		t.Fatalf("journey status: %+v", s)
	}
}
