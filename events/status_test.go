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

// pending stands in for the intake: it knows one stored application.
type pending struct{}

func (pending) Status(_ context.Context, id string) (events.Status, error) {
	if id == "a-1" {
		return events.Status{ID: id, Type: events.TypeMove, Status: "published"}, nil
	}
	return events.Status{}, events.ErrUnknownEvent
}

func TestStatusLog(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := events.NewPGStatusLog(db, nil).Get(ctx, "a-1"); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("without pending events: %v", err)
	}
	log := events.NewPGStatusLog(db, pending{})
	if _, err := log.Get(ctx, "nope"); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("unknown event: %v", err)
	}
	if s, err := log.Get(ctx, "a-1"); err != nil || s.Status != "published" {
		t.Fatalf("an event no journey recorded yet: %+v %v", s, err)
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
