package intake_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/intake"
	"github.com/lifeevents/lifeevents/internal/devkafka"
	"github.com/lifeevents/lifeevents/internal/pgtest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func moveData(citizen string) json.RawMessage {
	today := time.Now().UTC().Format("2006-01-02")
	return json.RawMessage(fmt.Sprintf(`{"citizenId":%q,"householdId":"h-1","movedOn":%q,
		"from":{"municipality":"03353005","street":"Lindenweg","houseNumber":"4","postalCode":"21244","city":"Buchholz"},
		"to":{"municipality":"03353022","street":"Am Markt","houseNumber":"12","postalCode":"21423","city":"Winsen (Luhe)"},
		"household":[{"citizenId":%q,"role":"adult"}]}`, citizen, today, citizen))
}

func application(ref, citizen string) intake.Application {
	return intake.Application{Type: events.TypeMove, Source: "urn:lifeevents:registry:03353022", Reference: ref, Data: moveData(citizen),
		Offices: []string{"03353022"}}
}

func newStore(t *testing.T) (*intake.Store, *intake.Relay, func(w intake.Writer) *intake.Relay) {
	t.Helper()
	db := pgtest.New(t)
	pub := events.NewPublisher(nil, []byte("0123456789abcdef"))
	mk := func(w intake.Writer) *intake.Relay { return intake.NewRelay(db, w, slog.New(slog.DiscardHandler)) }
	return intake.NewStore(db, pub), mk(nil), mk
}

func TestSubmitValidatesAndIsIdempotent(t *testing.T) {
	ctx := context.Background()
	store, relay, _ := newStore(t)
	first, err := store.Submit(ctx, application("REG-1", "c-1"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := store.Submit(ctx, application("REG-1", "c-1"))
	if err != nil {
		t.Fatal(err)
	}
	if again.EventID != first.EventID || !again.Duplicate || first.Duplicate {
		t.Fatalf("first %+v, again %+v", first, again)
	}
	bad := application("REG-2", "c-2")
	bad.Data = json.RawMessage(`{"citizenId":"c-2"}`)
	_, err = store.Submit(ctx, bad)
	if r, ok := events.AsRejection(err); !ok || r.Code != events.ReasonMissingField {
		t.Fatalf("invalid application: %v", err)
	}
	noRef := application("", "c-3")
	if _, err := store.Submit(ctx, noRef); err == nil {
		t.Fatal("application without reference accepted")
	}
	if n, _ := relay.Backlog(ctx); n != 1 {
		t.Fatalf("outbox holds %d rows, want 1", n)
	}
}

// TestOfficeBoundAndConflicts: a registry office posts only for its own
// municipality, and the same reference with other data is a conflict that
// names the first event, never a silent drop.
func TestOfficeBoundAndConflicts(t *testing.T) {
	ctx := context.Background()
	store, relay, _ := newStore(t)

	foreignSource := application("REG-F1", "c-1")
	foreignSource.Source = "urn:lifeevents:registry:03353005"
	if _, err := store.Submit(ctx, foreignSource); !errors.Is(err, intake.ErrForeignOffice) {
		t.Fatalf("another office's source: err = %v", err)
	}
	foreignEvent := application("REG-F2", "c-1")
	foreignEvent.Offices = []string{"03353005"}
	foreignEvent.Source = "urn:lifeevents:registry:03353005"
	if _, err := store.Submit(ctx, foreignEvent); !errors.Is(err, intake.ErrForeignOffice) {
		t.Fatalf("a move into another municipality: err = %v", err)
	}

	first, err := store.Submit(ctx, application("REG-C1", "c-1"))
	if err != nil {
		t.Fatal(err)
	}
	// The same data with other white space is the same application.
	same := application("REG-C1", "c-1")
	same.Data = json.RawMessage(" " + string(same.Data) + "\n")
	if r, err := store.Submit(ctx, same); err != nil || r.EventID != first.EventID || !r.Duplicate {
		t.Fatalf("same data again: %+v %v", r, err)
	}
	// The same data with its keys in another order, under the office's
	// other source spelling, is still the same application.
	reordered := application("REG-C1", "c-1")
	var m map[string]any
	_ = json.Unmarshal(reordered.Data, &m)
	reordered.Data, _ = json.Marshal(m) // sorted keys, unlike moveData's order
	reordered.Source = "urn:lifeevents:registry-office:03353022"
	if r, err := store.Submit(ctx, reordered); err != nil || r.EventID != first.EventID || !r.Duplicate {
		t.Fatalf("same data reordered: %+v %v", r, err)
	}
	var conflict *intake.ConflictError
	if _, err := store.Submit(ctx, application("REG-C1", "c-2")); !errors.As(err, &conflict) || conflict.EventID != first.EventID {
		t.Fatalf("same reference, other data: err = %v", err)
	}
	if n, _ := relay.Backlog(ctx); n != 1 {
		t.Fatalf("outbox holds %d rows, want 1: refused applications must leave nothing behind", n)
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestOutboxSurvivesBrokerOutage posts 100 applications while the broker is
// down, starts it, and expects each event on the topic exactly once.
func TestOutboxSurvivesBrokerOutage(t *testing.T) {
	ctx := context.Background()
	store, _, mkRelay := newStore(t)
	port := freePort(t)
	dir := filepath.Join(t.TempDir(), "kafka")
	addr := fmt.Sprintf("127.0.0.1:%d", port)

	w := ingest.NewWriter(ingest.Plain(addr), "")
	w.WriteTimeout, w.MaxAttempts = time.Second, 1
	defer w.Close()
	relay := mkRelay(w)
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- relay.Run(rctx) }()

	ids := map[string]bool{}
	for i := range 100 {
		r, err := store.Submit(ctx, application(fmt.Sprintf("REG-%03d", i), fmt.Sprintf("c-%d", i)))
		if err != nil {
			t.Fatalf("application %d refused while the broker is down: %v", i, err)
		}
		ids[r.EventID] = true
	}
	time.Sleep(500 * time.Millisecond) // the relay tries and fails meanwhile
	if n, _ := relay.Backlog(ctx); n != 100 {
		t.Fatalf("backlog %d while the broker is down, want 100", n)
	}

	b, err := devkafka.Start(devkafka.Options{Port: port, DataDir: dir, Topics: []string{events.Topic, events.TopicDLQ}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, _ := relay.Backlog(ctx)
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("backlog still %d after the broker came back", n)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	seen := map[string]int{}
	for p := range 4 {
		r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: events.Topic, Partition: p, MaxWait: 50 * time.Millisecond})
		end, err := lastOffset(addr, p)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < end; off++ {
			rctx, c := context.WithTimeout(ctx, 10*time.Second)
			m, err := r.ReadMessage(rctx)
			c()
			if err != nil {
				t.Fatal(err)
			}
			e, err := events.Decode(m.Value, nil, time.Now())
			if err != nil {
				t.Fatalf("relayed an invalid event: %v", err)
			}
			seen[e.ID]++
		}
		r.Close()
	}
	if len(seen) != 100 {
		t.Fatalf("%d distinct events on the topic, want 100", len(seen))
	}
	for id, n := range seen {
		if n != 1 || !ids[id] {
			t.Fatalf("event %s published %d times (known: %v)", id, n, ids[id])
		}
	}
}

func lastOffset(addr string, partition int) (int64, error) {
	conn, err := kafka.DialLeader(context.Background(), "tcp", addr, events.Topic, partition)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	return conn.ReadLastOffset()
}

// sink takes what the relay publishes.
type sink struct{ n int }

func (s *sink) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	s.n += len(msgs)
	return nil
}

func TestStatusBeforeTheJourney(t *testing.T) {
	ctx := context.Background()
	store, _, mkRelay := newStore(t)
	if _, err := store.Status(ctx, "nope"); !errors.Is(err, events.ErrUnknownEvent) {
		t.Fatalf("unknown event: %v", err)
	}
	r, err := store.Submit(ctx, application("REG-S", "c-1"))
	if err != nil {
		t.Fatal(err)
	}
	if s, err := store.Status(ctx, r.EventID); err != nil || s.Status != "accepted" || s.Type != events.TypeMove {
		t.Fatalf("stored, not yet relayed: %+v %v", s, err)
	}
	w := &sink{}
	if n, err := mkRelay(w).RelayOnce(ctx); err != nil || n != 1 || w.n != 1 {
		t.Fatalf("relay: %d %v (%d written)", n, err, w.n)
	}
	if s, _ := store.Status(ctx, r.EventID); s.Status != "published" {
		t.Fatalf("relayed: %+v", s)
	}
}

// keep takes what the relay publishes and keeps it.
type keep struct{ msgs []kafka.Message }

func (k *keep) WriteMessages(_ context.Context, msgs ...kafka.Message) error {
	k.msgs = append(k.msgs, msgs...)
	return nil
}

// The request's trace context is stored with the application and
// published in the event's headers, after the relay, in another
// transaction; without a trace, no header.
func TestTheEventCarriesTheRequestsTrace(t *testing.T) {
	store, _, mkRelay := newStore(t)
	store.Trace(propagation.TraceContext{})
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: trace.TraceID{0x4b, 0xf9, 1}, SpanID: trace.SpanID{0x0f, 2}, TraceFlags: trace.FlagsSampled})
	traced := trace.ContextWithRemoteSpanContext(context.Background(), sc)
	if _, err := store.Submit(traced, application("REG-T1", "c-1")); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Submit(context.Background(), application("REG-T2", "c-2")); err != nil {
		t.Fatal(err)
	}
	w := &keep{}
	if n, err := mkRelay(w).RelayOnce(context.Background()); err != nil || n != 2 {
		t.Fatalf("relay: %d %v", n, err)
	}
	want := "00-" + sc.TraceID().String() + "-" + sc.SpanID().String() + "-01"
	if got := (events.TraceHeaders{Headers: &w.msgs[0].Headers}).Get("traceparent"); got != want {
		t.Fatalf("published traceparent %q, want %q (headers %v)", got, want, w.msgs[0].Headers)
	}
	if got := (events.TraceHeaders{Headers: &w.msgs[1].Headers}).Get("traceparent"); got != "" {
		t.Fatalf("an untraced application published traceparent %q", got)
	}
	if ct := (events.TraceHeaders{Headers: &w.msgs[0].Headers}).Get("content-type"); ct != "application/cloudevents+json" {
		t.Fatalf("the trace replaced the other headers: %v", w.msgs[0].Headers)
	}
}
