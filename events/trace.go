package events

import "github.com/segmentio/kafka-go"

// TraceHeaders lets an OpenTelemetry propagator read and write the trace
// context (traceparent, tracestate, baggage) in a message's headers, so a
// journey's trace continues where the event was registered.
type TraceHeaders struct{ Headers *[]kafka.Header }

// Get returns the first header named key.
func (h TraceHeaders) Get(key string) string {
	for _, hd := range *h.Headers {
		if hd.Key == key {
			return string(hd.Value)
		}
	}
	return ""
}

// Set replaces every header named key with one of value.
func (h TraceHeaders) Set(key, value string) {
	out := (*h.Headers)[:0:0]
	for _, hd := range *h.Headers {
		if hd.Key != key {
			out = append(out, hd)
		}
	}
	*h.Headers = append(out, kafka.Header{Key: key, Value: []byte(value)})
}

// Keys lists the header names.
func (h TraceHeaders) Keys() []string {
	keys := make([]string, 0, len(*h.Headers))
	for _, hd := range *h.Headers {
		keys = append(keys, hd.Key)
	}
	return keys
}
