package events

import (
	"context"
	"fmt"

	"github.com/segmentio/kafka-go"
)

// MessageWriter is the part of a kafka-go writer a publisher needs.
type MessageWriter interface {
	WriteMessages(ctx context.Context, msgs ...kafka.Message) error
}

// Publisher sends validated events to the life-events topic, keyed by the
// keyed hash of their subject.
type Publisher struct {
	w      MessageWriter
	secret []byte
}

// NewPublisher publishes through w, hashing keys with secret.
func NewPublisher(w MessageWriter, secret []byte) *Publisher {
	return &Publisher{w: w, secret: secret}
}

// Message renders the event as the Kafka message it is published as.
func (p *Publisher) Message(e Event) (kafka.Message, error) {
	v, err := Encode(e)
	if err != nil {
		return kafka.Message{}, fmt.Errorf("events: encode %s: %w", e.ID, err)
	}
	return kafka.Message{Key: Key(p.secret, e.Subject()), Value: v,
		Headers: []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}}}, nil
}

// Publish writes the event and returns once the broker acknowledged it.
func (p *Publisher) Publish(ctx context.Context, e Event) error {
	m, err := p.Message(e)
	if err != nil {
		return err
	}
	if err := p.w.WriteMessages(ctx, m); err != nil {
		return fmt.Errorf("events: publish %s: %w", e.ID, err)
	}
	return nil
}
