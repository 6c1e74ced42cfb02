// Package tracing follows one life event across the processes it passes
// through: the registry office's HTTP request (or the Kafka message), the
// journey's workflows and activities in Temporal, and the agency's webhook.
// The trace context travels as W3C traceparent/tracestate (and baggage) in
// HTTP headers, Kafka message headers and Temporal headers.
//
// Tracing is off unless OpenTelemetry's standard environment asks for it
// (an OTLP endpoint, or OTEL_TRACES_EXPORTER=otlp); off, nothing is
// wrapped and nothing propagated, so it costs nothing.
package tracing

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	temporalotel "go.temporal.io/sdk/contrib/opentelemetry"
	"go.temporal.io/sdk/interceptor"
)

// The protocols the OTLP exporters speak.
const (
	ProtocolHTTP = "http/protobuf"
	ProtocolGRPC = "grpc"
)

// Config is the part of OpenTelemetry's standard environment that decides
// whether and how traces leave the process. The exporter reads the rest
// itself (OTEL_EXPORTER_OTLP_HEADERS, _TIMEOUT, _CERTIFICATE,
// _COMPRESSION, …), the SDK reads OTEL_TRACES_SAMPLER, OTEL_BSP_* and
// OTEL_RESOURCE_ATTRIBUTES.
type Config struct {
	// Disabled is OTEL_SDK_DISABLED=true.
	Disabled bool
	// Exporter is OTEL_TRACES_EXPORTER: otlp, none, or empty.
	Exporter string
	// Endpoint is OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
	// OTEL_EXPORTER_OTLP_ENDPOINT; setting one turns tracing on.
	Endpoint string
	// EndpointVar names the variable Endpoint came from, for errors.
	EndpointVar string
	// Protocol is OTEL_EXPORTER_OTLP_TRACES_PROTOCOL, else
	// OTEL_EXPORTER_OTLP_PROTOCOL; default http/protobuf.
	Protocol string
	// ServiceName is OTEL_SERVICE_NAME; default lifeevents-<process>.
	ServiceName string
}

// FromEnv reads the configuration with getenv (os.Getenv).
func FromEnv(getenv func(string) string) Config {
	c := Config{
		Disabled:    strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true"),
		Exporter:    strings.TrimSpace(getenv("OTEL_TRACES_EXPORTER")),
		ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME")),
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			c.Endpoint, c.EndpointVar = v, name
			break
		}
	}
	for _, name := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			c.Protocol = v
			break
		}
	}
	return c
}

// Enabled reports whether traces are exported.
func (c Config) Enabled() bool {
	if c.Disabled || c.Exporter == "none" {
		return false
	}
	return c.Endpoint != "" || c.Exporter == "otlp"
}

// Validate names the variable of a setting lifeevents cannot follow.
func (c Config) Validate() error {
	if !c.Enabled() {
		if c.Exporter != "" && c.Exporter != "none" && c.Exporter != "otlp" {
			return fmt.Errorf("OTEL_TRACES_EXPORTER=%s: lifeevents exports traces over otlp (or none)", c.Exporter)
		}
		return nil
	}
	if c.Exporter != "" && c.Exporter != "otlp" {
		return fmt.Errorf("OTEL_TRACES_EXPORTER=%s: lifeevents exports traces over otlp (or none)", c.Exporter)
	}
	switch c.Protocol {
	case "", ProtocolHTTP, ProtocolGRPC:
	default:
		return fmt.Errorf("OTEL_EXPORTER_OTLP_PROTOCOL=%s: use %s (the default) or %s", c.Protocol, ProtocolHTTP, ProtocolGRPC)
	}
	if c.Endpoint != "" {
		u, err := url.Parse(c.Endpoint)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%s=%s: use a URL such as http://collector:4318", c.EndpointVar, c.Endpoint)
		}
	}
	return nil
}

// Tracing is the tracer provider and propagator of one process, and the
// wrappers that put them on its connections. A Tracing that is off
// wraps nothing.
type Tracing struct {
	provider   trace.TracerProvider
	propagator propagation.TextMapPropagator
	shutdown   func(context.Context) error
	on         bool
}

// Off is tracing turned off.
func Off() *Tracing {
	return &Tracing{provider: noop.NewTracerProvider(), propagator: propagation.NewCompositeTextMapPropagator(),
		shutdown: func(context.Context) error { return nil }}
}

// Start exports the spans of process (serve, worker, ingest, dev) as c
// says; off, it returns Off(). Nothing is dialled here: an unreachable
// collector loses spans, never journeys, and each failed export is a
// warning in log.
func Start(ctx context.Context, c Config, process string, log *slog.Logger) (*Tracing, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if !c.Enabled() {
		return Off(), nil
	}
	var exp sdktrace.SpanExporter
	var err error
	if c.Protocol == ProtocolGRPC {
		exp, err = otlptracegrpc.New(ctx)
	} else {
		exp, err = otlptracehttp.New(ctx)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: OTLP exporter: %w", err)
	}
	name := c.ServiceName
	if name == "" {
		name = "lifeevents-" + process
	}
	// The environment's attributes (OTEL_RESOURCE_ATTRIBUTES) come last
	// and win over the defaults.
	res, err := resource.New(ctx, resource.WithTelemetrySDK(),
		resource.WithAttributes(attribute.String("service.name", name), attribute.String("service.namespace", "lifeevents")),
		resource.WithFromEnv())
	if err != nil && !errors.Is(err, resource.ErrPartialResource) {
		return nil, fmt.Errorf("tracing: OTEL_RESOURCE_ATTRIBUTES: %w", err)
	}
	// The SDK reports export failures to its process-wide handler only.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { log.Warn("tracing: spans not exported", "error", err) }))
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(redact{}),
		sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &Tracing{
		provider:   tp,
		propagator: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
		shutdown:   tp.Shutdown,
		on:         true,
	}, nil
}

// personal are the attributes the HTTP instrumentation records that name a
// person: a citizen's address on the network and browser. A trace backend
// is no place for them.
var personal = map[attribute.Key]bool{
	"client.address": true, "network.peer.address": true, "network.peer.port": true, "client.port": true,
	"user_agent.original": true, "http.client_ip": true, "net.sock.peer.addr": true,
}

// redact blanks the personal attributes as a span starts (the processor
// runs before the batcher, and a key set again overwrites the value).
type redact struct{}

func (redact) OnStart(_ context.Context, s sdktrace.ReadWriteSpan) {
	for _, kv := range s.Attributes() {
		if personal[kv.Key] {
			s.SetAttributes(attribute.String(string(kv.Key), "redacted"))
		}
	}
}
func (redact) OnEnd(sdktrace.ReadOnlySpan)      {}
func (redact) Shutdown(context.Context) error   { return nil }
func (redact) ForceFlush(context.Context) error { return nil }

// Enabled reports whether spans are recorded and exported.
func (t *Tracing) Enabled() bool { return t.on }

// Provider is the tracer provider (a no-op one when off).
func (t *Tracing) Provider() trace.TracerProvider { return t.provider }

// Propagator reads and writes the trace context in headers (a no-op one
// when off).
func (t *Tracing) Propagator() propagation.TextMapPropagator { return t.propagator }

// Shutdown exports the spans not yet sent.
func (t *Tracing) Shutdown(ctx context.Context) error { return t.shutdown(ctx) }

// Handler continues the caller's trace (its traceparent header) in a
// server span per request. Probes, metrics and static files are not
// traced: they would bury the journeys.
func (t *Tracing) Handler(h http.Handler) http.Handler {
	if !t.on {
		return h
	}
	return otelhttp.NewHandler(h, "lifeevents",
		otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagator),
		otelhttp.WithFilter(func(r *http.Request) bool {
			switch p := r.URL.Path; {
			case p == "/healthz", p == "/readyz", p == "/metrics", strings.HasPrefix(p, "/static/"):
				return false
			}
			return true
		}))
}

// Transport sends the current trace context with each request (a client
// span around it); base nil is http.DefaultTransport.
func (t *Tracing) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if !t.on {
		return base
	}
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.provider), otelhttp.WithPropagators(t.propagator))
}

// TemporalInterceptors are the Temporal client's interceptors: a workflow
// start, signal or update carries the caller's trace context, and the
// worker (which inherits the client's interceptors) continues it in the
// workflows and activities. None when off.
func (t *Tracing) TemporalInterceptors() ([]interceptor.ClientInterceptor, error) {
	if !t.on {
		return nil, nil
	}
	i, err := temporalotel.NewTracingInterceptor(temporalotel.TracerOptions{
		Tracer:            t.provider.Tracer("github.com/lifeevents/lifeevents/workflows"),
		TextMapPropagator: t.propagator,
	})
	if err != nil {
		return nil, fmt.Errorf("tracing: temporal interceptor: %w", err)
	}
	return []interceptor.ClientInterceptor{i}, nil
}
