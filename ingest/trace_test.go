package ingest_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
)

// traceStarter remembers the span each journey was started under.
type traceStarter struct {
	mu   sync.Mutex
	seen map[string]trace.SpanContext
}

func (s *traceStarter) StartLifeEvent(ctx context.Context, e events.Event) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seen[e.ID] = trace.SpanContextFromContext(ctx)
	return nil
}

func (s *traceStarter) get(id string) (trace.SpanContext, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sc, ok := s.seen[id]
	return sc, ok
}

// A message's traceparent header reaches the journey's start: the consumer
// span is the header's child, and the start runs under it. A message
// without one starts a trace of its own.
func TestJourneyStartContinuesTheMessagesTrace(t *testing.T) {
	b := startBroker(t)
	const parent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	w := ingest.NewWriter(ingest.Plain(b.Addr()), events.Topic)
	defer w.Close()
	if err := w.WriteMessages(context.Background(),
		kafka.Message{Key: []byte("k"), Value: moveEvent(t, "traced"), Headers: []kafka.Header{{Key: "traceparent", Value: []byte(parent)}}},
		kafka.Message{Key: []byte("k"), Value: moveEvent(t, "untraced")},
		kafka.Message{Key: []byte("k"), Value: []byte("not json"), Headers: []kafka.Header{{Key: "traceparent", Value: []byte(parent)}}},
	); err != nil {
		t.Fatal(err)
	}

	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	s := &traceStarter{seen: map[string]trace.SpanContext{}}
	r := ingest.NewReader(ingest.Plain(b.Addr()))
	dlq := ingest.NewDLQWriter(ingest.Plain(b.Addr()))
	defer r.Close()
	defer dlq.Close()
	c := ingest.NewConsumer(r, dlq, s, slog.New(slog.DiscardHandler), nil)
	c.Trace(tp, propagation.TraceContext{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	waitFor(t, "both journeys and the dead letter", func() bool {
		_, a := s.get("traced")
		_, b := s.get("untraced")
		return a && b && len(spans.Ended()) == 3
	})
	cancel()
	<-done

	traced, _ := s.get("traced")
	if traced.TraceID().String() != "4bf92f3577b34da6a3ce929d0e0e4736" {
		t.Fatalf("the journey started in trace %s, not the message's", traced.TraceID())
	}
	untraced, _ := s.get("untraced")
	if !untraced.IsValid() || untraced.TraceID() == traced.TraceID() {
		t.Fatalf("a message without trace context started in trace %s", untraced.TraceID())
	}
	var rejected int
	for _, sp := range spans.Ended() {
		if sp.SpanKind() != trace.SpanKindConsumer || sp.Name() != "ingest "+events.Topic {
			t.Errorf("span %q of kind %v", sp.Name(), sp.SpanKind())
		}
		if sp.SpanContext().TraceID() == traced.TraceID() && sp.Parent().SpanID().String() != "00f067aa0ba902b7" {
			t.Errorf("span %q has parent %s, not the message's span", sp.Name(), sp.Parent().SpanID())
		}
		if sp.Status().Description == events.ReasonMalformedJSON {
			rejected++
		}
	}
	if rejected != 1 {
		t.Fatalf("%d spans marked with the rejection's reason, want 1", rejected)
	}
}
