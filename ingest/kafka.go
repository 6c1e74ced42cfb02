package ingest

import (
	"time"

	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/events"
)

// Group is the consumer group every ingest process joins.
const Group = "lifeevents-ingest"

// NewReader returns a consumer-group reader on the life-events topic.
// Offsets are committed explicitly, after the journey started.
func NewReader(k Kafka) *kafka.Reader {
	return newGroupReader(k, Group, events.Topic)
}

// NewDLQReader reads the dead-letter topic in the index group.
func NewDLQReader(k Kafka) *kafka.Reader {
	return newGroupReader(k, IndexGroup, events.TopicDLQ)
}

func newGroupReader(k Kafka, group, topic string) *kafka.Reader {
	return kafka.NewReader(kafka.ReaderConfig{
		Brokers:        k.Brokers,
		Dialer:         k.dialer(),
		GroupID:        group,
		Topic:          topic,
		MinBytes:       1,
		MaxBytes:       4 << 20,
		MaxWait:        250 * time.Millisecond,
		StartOffset:    kafka.FirstOffset,
		CommitInterval: 0, // synchronous commits
		// kafka-go's default of 5 s heartbeats makes rebalances slow.
		HeartbeatInterval: time.Second,
		SessionTimeout:    10 * time.Second,
		RebalanceTimeout:  10 * time.Second,
		JoinGroupBackoff:  500 * time.Millisecond,
	})
}

// NewWriter returns a writer that acknowledges each write once all
// replicas have it. With an empty topic, each message names its own.
func NewWriter(k Kafka, topic string) *kafka.Writer {
	return &kafka.Writer{
		Addr:                   kafka.TCP(k.Brokers...),
		Transport:              k.transport(),
		Topic:                  topic,
		Balancer:               &kafka.Hash{},
		RequiredAcks:           kafka.RequireAll,
		AllowAutoTopicCreation: false,
		// The default BatchTimeout of 1 s would delay every single write by a second.
		BatchTimeout: time.Millisecond,
		WriteTimeout: 10 * time.Second,
		MaxAttempts:  3,
	}
}

// NewDLQWriter returns the writer of dead letters. The consumer writes them
// one at a time and waits for each, so a batch of one is flushed at once
// instead of waiting out BatchTimeout.
func NewDLQWriter(k Kafka) *kafka.Writer {
	w := NewWriter(k, events.TopicDLQ)
	w.BatchSize = 1
	return w
}
