package ingest_test

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/internal/devkafka"
)

// recorder is a Starter that remembers what it started and can fail.
type recorder struct {
	mu       sync.Mutex
	started  []string
	failures int // the next this many calls fail
}

func (r *recorder) StartLifeEvent(_ context.Context, e events.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failures > 0 {
		r.failures--
		return errors.New("temporal unavailable")
	}
	r.started = append(r.started, e.ID)
	return nil
}

func (r *recorder) ids() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.started...)
}

func moveEvent(t *testing.T, id string) []byte {
	t.Helper()
	raw, err := os.ReadFile("../examples/move.json")
	if err != nil {
		t.Fatal(err)
	}
	today := time.Now().UTC().Format("2006-01-02")
	s := strings.Replace(string(raw), `"id":"8c1f3a52-6f0e-4d5b-9a57-0f1d2b3c4d5e"`, `"id":"`+id+`"`, 1)
	s = strings.Replace(s, `"movedOn":"2026-11-01"`, `"movedOn":"`+today+`"`, 1)
	return []byte(s)
}

func startBroker(t *testing.T) *devkafka.Broker {
	t.Helper()
	// One partition keeps a single global order for the assertions.
	b, err := devkafka.Start(devkafka.Options{Topics: []string{events.Topic, events.TopicDLQ}, Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func produce(t *testing.T, addr string, values ...[]byte) {
	t.Helper()
	w := ingest.NewWriter(ingest.Plain(addr), events.Topic)
	defer w.Close()
	var msgs []kafka.Message
	for _, v := range values {
		msgs = append(msgs, kafka.Message{Key: []byte("same-citizen"), Value: v})
	}
	if err := w.WriteMessages(context.Background(), msgs...); err != nil {
		t.Fatal(err)
	}
}

func runConsumer(t *testing.T, addr string, s ingest.Starter) (stop func()) {
	t.Helper()
	r := ingest.NewReader(ingest.Plain(addr))
	dlq := ingest.NewDLQWriter(ingest.Plain(addr))
	c := ingest.NewConsumer(r, dlq, s, slog.New(slog.DiscardHandler), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	return func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("consumer: %v", err)
		}
		r.Close()
		dlq.Close()
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func readDLQ(t *testing.T, addr string, n int) []kafka.Message {
	t.Helper()
	r := kafka.NewReader(kafka.ReaderConfig{Brokers: []string{addr}, Topic: events.TopicDLQ, Partition: 0, MaxWait: 100 * time.Millisecond})
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []kafka.Message
	for len(out) < n {
		m, err := r.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("dead letters after %d: %v", len(out), err)
		}
		out = append(out, m)
	}
	return out
}

func header(m kafka.Message, key string) string {
	for _, h := range m.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}

func TestGoodEventsStartInOrderBadOnesAreDeadLettered(t *testing.T) {
	b := startBroker(t)
	bad := [][]byte{[]byte("not json"), []byte(`{"specversion":"1.0","id":"x","source":"s","type":"nope","data":{}}`)}
	produce(t, b.Addr(), moveEvent(t, "e1"), bad[0], moveEvent(t, "e2"), bad[1], moveEvent(t, "e3"))
	rec := &recorder{failures: 2} // the first event meets an outage and is retried
	stop := runConsumer(t, b.Addr(), rec)
	waitFor(t, "three journeys", func() bool { return len(rec.ids()) == 3 })
	stop()
	if got := strings.Join(rec.ids(), ","); got != "e1,e2,e3" {
		t.Fatalf("started %s", got)
	}
	dl := readDLQ(t, b.Addr(), 2)
	if string(dl[0].Value) != "not json" || !strings.HasPrefix(header(dl[0], "error"), events.ReasonMalformedJSON+":") {
		t.Fatalf("first dead letter: %q error=%q", dl[0].Value, header(dl[0], "error"))
	}
	if !strings.HasPrefix(header(dl[1], "error"), events.ReasonUnknownType+":") || header(dl[1], "error-stage") != "validate" {
		t.Fatalf("second dead letter headers: %v", dl[1].Headers)
	}

	// Everything was committed: a new consumer in the group starts nothing again.
	rec2 := &recorder{}
	produce(t, b.Addr(), moveEvent(t, "e4"))
	stop = runConsumer(t, b.Addr(), rec2)
	waitFor(t, "the fourth journey", func() bool { return len(rec2.ids()) == 1 })
	stop()
	if got := rec2.ids(); got[0] != "e4" {
		t.Fatalf("after restart started %v", got)
	}
}

type failingWriter struct{ attempts atomic.Int64 }

func (w *failingWriter) WriteMessages(context.Context, ...kafka.Message) error {
	w.attempts.Add(1)
	return errors.New("broker unreachable")
}

// TestNoCommitWithoutDeadLetter: while the dead-letter write fails, the bad
// message is not committed and the events behind it wait; a consumer with
// a working dead-letter topic then handles both.
func TestNoCommitWithoutDeadLetter(t *testing.T) {
	b := startBroker(t)
	produce(t, b.Addr(), []byte("garbage"), moveEvent(t, "after-garbage"))

	r := ingest.NewReader(ingest.Plain(b.Addr()))
	fw := &failingWriter{}
	rec := &recorder{}
	c := ingest.NewConsumer(r, fw, rec, slog.New(slog.DiscardHandler), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "dead-letter attempts", func() bool { return fw.attempts.Load() >= 2 })
	cancel()
	<-done
	r.Close()
	if got := rec.ids(); len(got) != 0 {
		t.Fatalf("events behind an unhandled message were started: %v", got)
	}

	stop := runConsumer(t, b.Addr(), rec)
	waitFor(t, "the event behind the bad message", func() bool { return len(rec.ids()) == 1 })
	stop()
	if dl := readDLQ(t, b.Addr(), 1); string(dl[0].Value) != "garbage" {
		t.Fatalf("dead letter %q", dl[0].Value)
	}
}
