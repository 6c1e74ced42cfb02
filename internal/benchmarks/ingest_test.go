package benchmarks

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/segmentio/kafka-go"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/internal/devkafka"
	"github.com/lifeevents/lifeevents/internal/devtemporal"
	"github.com/lifeevents/lifeevents/workflows"
)

// stack is an embedded Temporal server with a client, as dev mode runs it
// (SQLite file with WAL).
type stack struct {
	srv *devtemporal.Server
	c   client.Client
}

func newStack(b *testing.B) *stack {
	b.Helper()
	srv, err := devtemporal.Start(devtemporal.Options{DatabaseFile: filepath.Join(b.TempDir(), "temporal.db")})
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.Dial(client.Options{HostPort: srv.HostPort(), Namespace: "default", Logger: quietLogger()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close(); _ = srv.Stop() })
	return &stack{srv: srv, c: c}
}

func quietLogger() sdklog.Logger {
	return sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler))
}

var runSeq atomic.Int64

// produce writes n messages made by mk to a fresh broker's life-events topic.
func produce(b *testing.B, n int, mk func(i int) kafka.Message) *devkafka.Broker {
	b.Helper()
	br, err := devkafka.Start(devkafka.Options{Topics: []string{events.Topic, events.TopicDLQ}})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(br.Close)
	w := ingest.NewWriter(ingest.Plain(br.Addr()), events.Topic)
	w.BatchSize = 500
	defer w.Close()
	const chunk = 500
	for i := 0; i < n; i += chunk {
		var msgs []kafka.Message
		for j := i; j < min(i+chunk, n); j++ {
			msgs = append(msgs, mk(j))
		}
		if err := w.WriteMessages(context.Background(), msgs...); err != nil {
			b.Fatal(err)
		}
	}
	return br
}

func validEvent(run int64, i int) kafka.Message {
	today := time.Now().UTC().Format("2006-01-02")
	citizen := fmt.Sprintf("c-%d", i)
	e := events.Event{ID: fmt.Sprintf("bench-%d-%d", run, i), Source: "urn:bench", Type: events.TypeMove,
		Move: &events.Move{CitizenID: citizen, HouseholdID: "h", MovedOn: mustDate(today),
			From:      events.Address{Municipality: "03353005", Street: "Lindenweg", HouseNumber: "4", PostalCode: "21244", City: "Buchholz"},
			To:        events.Address{Municipality: "03353022", Street: "Am Markt", HouseNumber: "12", PostalCode: "21423", City: "Winsen (Luhe)"},
			Household: []events.Member{{CitizenID: citizen, Role: events.RoleAdult}}}}
	m, err := events.NewPublisher(nil, []byte("bench-secret-0123")).Message(e)
	if err != nil {
		panic(err)
	}
	return m
}

func mustDate(s string) events.Date {
	d, err := events.ParseDate(s)
	if err != nil {
		panic(err)
	}
	return d
}

// countingStarter counts the journeys it started and signals the n-th.
type countingStarter struct {
	next    ingest.Starter
	n       int64
	started atomic.Int64
	done    chan struct{}
}

func (s *countingStarter) StartLifeEvent(ctx context.Context, e events.Event) error {
	if err := s.next.StartLifeEvent(ctx, e); err != nil {
		return err
	}
	if s.started.Add(1) == s.n {
		close(s.done)
	}
	return nil
}

// consumeAll runs the ingest consumer until starter has seen n events.
func consumeAll(b *testing.B, br *devkafka.Broker, starter *countingStarter) {
	b.Helper()
	r := ingest.NewReader(ingest.Plain(br.Addr()))
	dlq := ingest.NewDLQWriter(ingest.Plain(br.Addr()))
	c := ingest.NewConsumer(r, dlq, starter, slog.New(slog.DiscardHandler), nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	select {
	case <-starter.done:
	case <-time.After(10 * time.Minute):
		b.Fatal("ingest did not finish")
	}
	b.StopTimer()
	cancel()
	<-done
	r.Close()
	dlq.Close()
}

// BenchmarkIngest measures topic → validated → workflow started → committed.
func BenchmarkIngest(b *testing.B) {
	s := newStack(b)
	run := runSeq.Add(1)
	br := produce(b, b.N, func(i int) kafka.Message { return validEvent(run, i) })
	starter := &countingStarter{next: workflows.Starter{Client: s.c}, n: int64(b.N), done: make(chan struct{})}
	b.ResetTimer()
	consumeAll(b, br, starter)
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// BenchmarkRawStartWorkflow is the engine floor of ingest: the same
// StartWorkflow calls, one after another, with nothing around them.
func BenchmarkRawStartWorkflow(b *testing.B) {
	s := newStack(b)
	run := runSeq.Add(1)
	in := workflows.LifeEventInput{EventID: "raw", Type: events.TypeMove, Event: validEvent(run, 0).Value}
	b.ResetTimer()
	for i := range b.N {
		_, err := s.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{
			ID: fmt.Sprintf("raw-%d-%d", run, i), TaskQueue: workflows.TaskQueue,
			WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
		}, workflows.LifeEvent, in)
		if err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "starts/s")
}

// BenchmarkRawConsume is the Kafka floor of ingest: the same consumer group
// fetch and per-message commit, with no validation and no start.
func BenchmarkRawConsume(b *testing.B) {
	run := runSeq.Add(1)
	br := produce(b, b.N, func(i int) kafka.Message { return validEvent(run, i) })
	r := ingest.NewReader(ingest.Plain(br.Addr()))
	defer r.Close()
	b.ResetTimer()
	for range b.N {
		m, err := r.FetchMessage(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		if err := r.CommitMessages(context.Background(), m); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}

type nopStarter struct{}

func (nopStarter) StartLifeEvent(context.Context, events.Event) error { return nil }

// BenchmarkDeadLetter measures the dead-letter path: malformed messages
// decoded, written to life-events.dlq with their reason, committed.
func BenchmarkDeadLetter(b *testing.B) {
	br := produce(b, b.N, func(i int) kafka.Message {
		return kafka.Message{Key: []byte("k"), Value: []byte(fmt.Sprintf(`{"specversion":"1.0","id":"m-%d","type":"nope"}`, i))}
	})
	r := ingest.NewReader(ingest.Plain(br.Addr()))
	dlq := ingest.NewDLQWriter(ingest.Plain(br.Addr()))
	m := ingest.NewMetrics(promRegistry())
	c := ingest.NewConsumer(r, dlq, nopStarter{}, slog.New(slog.DiscardHandler), m)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	b.ResetTimer()
	go func() { done <- c.Run(ctx) }()
	deadline := time.Now().Add(10 * time.Minute)
	for counterValue(m) < float64(b.N) {
		if time.Now().After(deadline) {
			b.Fatal("dead-letter path did not finish")
		}
		time.Sleep(time.Millisecond)
	}
	b.StopTimer()
	cancel()
	<-done
	r.Close()
	dlq.Close()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
}
