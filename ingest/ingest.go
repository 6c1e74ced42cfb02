// Package ingest turns life events on Kafka into journeys: it consumes the
// life-events topic in a consumer group, validates each message, starts the
// event's workflow and only then commits. Invalid messages go unchanged to
// the dead-letter topic with the reason; infrastructure failures are retried
// without committing, so nothing is lost and nothing is dead-lettered for a
// fault that is not the message's.
package ingest

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/segmentio/kafka-go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/lifeevents/lifeevents/events"
)

// Starter starts the journey of a valid event; starting one twice must be a
// no-op that succeeds.
type Starter interface {
	StartLifeEvent(ctx context.Context, e events.Event) error
}

// Reader is the part of a kafka-go reader the consumer uses.
type Reader interface {
	FetchMessage(ctx context.Context) (kafka.Message, error)
	CommitMessages(ctx context.Context, msgs ...kafka.Message) error
	Close() error
}

// Writer publishes dead letters.
type Writer interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Consumer runs the ingest loop.
type Consumer struct {
	reader  Reader
	dlq     Writer
	starter Starter
	log     *slog.Logger
	now     func() time.Time
	metrics *Metrics
	running atomic.Bool
	tracer  trace.Tracer
	trace   propagation.TextMapPropagator
}

// Metrics of the ingest loop.
type Metrics struct {
	Received prometheus.Counter
	Accepted prometheus.Counter
	Rejected *prometheus.CounterVec
	Retries  prometheus.Counter
	Start    prometheus.Histogram
}

// NewMetrics registers the ingest metrics.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		Received: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeevents_ingest_received_total", Help: "Messages fetched from the life-events topic."}),
		Accepted: prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeevents_ingest_accepted_total", Help: "Valid events whose journey started (or had started)."}),
		Rejected: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "lifeevents_ingest_rejected_total", Help: "Invalid events sent to the dead-letter topic, by reason."}, []string{"reason"}),
		Retries:  prometheus.NewCounter(prometheus.CounterOpts{Name: "lifeevents_ingest_retries_total", Help: "Retries after an infrastructure failure."}),
		Start:    prometheus.NewHistogram(prometheus.HistogramOpts{Name: "lifeevents_ingest_start_seconds", Help: "Time from fetch to journey started.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 14)}),
	}
	reg.MustRegister(m.Received, m.Accepted, m.Rejected, m.Retries, m.Start)
	return m
}

// RegisterLag registers the consumer lag of reader (a *kafka.Reader's
// Stats) as a gauge.
func RegisterLag(reg prometheus.Registerer, lag func() int64) {
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "lifeevents_ingest_consumer_lag",
		Help: "Messages on life-events not yet consumed by this process."}, func() float64 { return float64(lag()) }))
}

// NewConsumer wires the loop; nil metrics are created unregistered.
func NewConsumer(r Reader, dlq Writer, s Starter, log *slog.Logger, m *Metrics) *Consumer {
	if m == nil {
		m = NewMetrics(prometheus.NewRegistry())
	}
	return &Consumer{reader: r, dlq: dlq, starter: s, log: log, now: time.Now, metrics: m,
		tracer: noop.NewTracerProvider().Tracer(""), trace: propagation.NewCompositeTextMapPropagator()}
}

// Trace continues the trace a message's headers carry (p reads them) in
// a span per message, under which the journey starts.
func (c *Consumer) Trace(tp trace.TracerProvider, p propagation.TextMapPropagator) {
	c.tracer, c.trace = tp.Tracer("github.com/lifeevents/lifeevents/ingest"), p
}

// Running reports whether the loop is consuming.
func (c *Consumer) Running() bool { return c.running.Load() }

// Run consumes until ctx ends. It returns nil on a clean stop; a broker
// that cannot be reached is waited for (with backoff), not a reason to
// stop.
func (c *Consumer) Run(ctx context.Context) error {
	c.running.Store(true)
	defer c.running.Store(false)
	for {
		var msg kafka.Message
		err := c.retry(ctx, "fetch", func() (err error) {
			msg, err = c.reader.FetchMessage(ctx)
			return err
		})
		if err != nil {
			return nil // only ctx ends a retry
		}
		c.metrics.Received.Inc()
		if err := c.handle(ctx, msg); err != nil {
			if ctx.Err() != nil {
				return nil // uncommitted: the next consumer gets it again
			}
			return err
		}
	}
}

// handle processes one message until it can be committed, retrying
// infrastructure failures with backoff; it returns only when ctx ends.
func (c *Consumer) handle(ctx context.Context, msg kafka.Message) error {
	began := time.Now()
	ctx = c.trace.Extract(ctx, events.TraceHeaders{Headers: &msg.Headers})
	ctx, span := c.tracer.Start(ctx, "ingest "+msg.Topic, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(attribute.String("messaging.system", "kafka"),
			attribute.String("messaging.destination.name", msg.Topic),
			attribute.Int("messaging.destination.partition.id", msg.Partition),
			attribute.Int64("messaging.kafka.offset", msg.Offset)))
	defer span.End()
	e, err := events.Decode(msg.Value, headerMap(msg.Headers), c.now())
	if r, invalid := events.AsRejection(err); invalid {
		span.SetStatus(codes.Error, r.Code)
		if err := c.retry(ctx, "dead-letter", func() error { return c.deadLetter(ctx, msg, r) }); err != nil {
			return err
		}
		c.metrics.Rejected.WithLabelValues(r.Code).Inc()
		c.log.Warn("life event rejected", "reason", r.Code, "partition", msg.Partition, "offset", msg.Offset)
	} else {
		span.SetAttributes(attribute.String("lifeevents.event.id", e.ID), attribute.String("lifeevents.event.type", e.Type))
		if err := c.retry(ctx, "start journey", func() error { return c.starter.StartLifeEvent(ctx, e) }); err != nil {
			return err
		}
		c.metrics.Accepted.Inc()
		c.metrics.Start.Observe(time.Since(began).Seconds())
		c.log.Info("life event accepted", "event", e.ID, "type", e.Type, "partition", msg.Partition, "offset", msg.Offset)
	}
	// A commit that fails (the broker restarted, the group rebalanced) is
	// not retried: the message comes again to whoever holds its partition
	// next, and starting its journey again is a no-op.
	if err := c.reader.CommitMessages(ctx, msg); err != nil && ctx.Err() == nil {
		c.metrics.Retries.Inc()
		c.log.Warn("ingest: commit failed; the event may be delivered again (its journey starts once)", "error", err,
			"partition", msg.Partition, "offset", msg.Offset)
	}
	return nil
}

func (c *Consumer) retry(ctx context.Context, what string, f func() error) error {
	return retry(ctx, c.log, what, c.metrics.Retries.Inc, f)
}

// retry calls f until it succeeds or ctx ends, backing off from 100 ms to
// 10 s; each failure is logged and counted by onRetry.
func retry(ctx context.Context, log *slog.Logger, what string, onRetry func(), f func() error) error {
	backoff := 100 * time.Millisecond
	for {
		err := f()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		onRetry()
		log.Warn("ingest: retrying", "step", what, "error", err, "backoff", backoff)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 10*time.Second)
	}
}

// DLQ header names.
const (
	HeaderError      = "error"
	HeaderErrorStage = "error-stage"
)

func (c *Consumer) deadLetter(ctx context.Context, msg kafka.Message, r *events.Rejection) error {
	headers := append([]kafka.Header{}, msg.Headers...)
	headers = append(headers,
		kafka.Header{Key: HeaderError, Value: []byte(r.Code + ": " + r.Message)},
		kafka.Header{Key: HeaderErrorStage, Value: []byte("validate")},
	)
	err := c.dlq.WriteMessages(ctx, kafka.Message{Key: msg.Key, Value: msg.Value, Headers: headers})
	if err != nil {
		return fmt.Errorf("ingest: write dead letter: %w", err)
	}
	return nil
}

func headerMap(hs []kafka.Header) map[string]string {
	if len(hs) == 0 {
		return nil
	}
	m := make(map[string]string, len(hs))
	for _, h := range hs {
		m[h.Key] = string(h.Value)
	}
	return m
}
