package events_test

import (
	"slices"
	"testing"

	"github.com/segmentio/kafka-go"

	"github.com/lifeevents/lifeevents/events"
)

// Setting a trace header replaces the old value (a message traced twice
// carries one traceparent) and leaves the other headers alone.
func TestTraceHeaders(t *testing.T) {
	hs := []kafka.Header{{Key: "content-type", Value: []byte("application/cloudevents+json")}, {Key: "traceparent", Value: []byte("old")}}
	h := events.TraceHeaders{Headers: &hs}
	h.Set("traceparent", "new")
	h.Set("tracestate", "k=v")
	if h.Get("traceparent") != "new" || h.Get("tracestate") != "k=v" || h.Get("content-type") != "application/cloudevents+json" || h.Get("baggage") != "" {
		t.Fatalf("headers %v", hs)
	}
	if keys := h.Keys(); !slices.Equal(keys, []string{"content-type", "traceparent", "tracestate"}) {
		t.Fatalf("keys %v", keys)
	}
}
