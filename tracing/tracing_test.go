package tracing_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/tracing"
	"github.com/lifeevents/lifeevents/tracing/tracingtest"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestConfigFromTheStandardEnvironment(t *testing.T) {
	for _, c := range []struct {
		name    string
		env     map[string]string
		enabled bool
		err     string // a part of the error, naming the variable
	}{
		{"nothing set: off", nil, false, ""},
		{"an endpoint turns it on", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}, true, ""},
		{"the traces endpoint too", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://collector/v1/traces"}, true, ""},
		{"otlp on its default endpoint", map[string]string{"OTEL_TRACES_EXPORTER": "otlp"}, true, ""},
		{"grpc", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}, true, ""},
		{"the SDK disabled wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}, false, ""},
		{"exporter none wins", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_EXPORTER": "none"}, false, ""},
		{"another exporter", map[string]string{"OTEL_TRACES_EXPORTER": "zipkin"}, false, "OTEL_TRACES_EXPORTER=zipkin"},
		{"http/json is not spoken", map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"}, true, "OTEL_EXPORTER_OTLP_PROTOCOL=http/json"},
		{"an endpoint without scheme", map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "collector:4318"}, true, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=collector:4318"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := tracing.FromEnv(env(c.env))
			if cfg.Enabled() != c.enabled {
				t.Errorf("enabled %v, want %v", cfg.Enabled(), c.enabled)
			}
			err := cfg.Validate()
			if (err != nil) != (c.err != "") || (err != nil && !strings.Contains(err.Error(), c.err)) {
				t.Fatalf("Validate: %v, want an error naming %q", err, c.err)
			}
			if _, err := tracing.Start(context.Background(), cfg, "test", slog.New(slog.DiscardHandler)); (err != nil) != (c.err != "") {
				t.Fatalf("Start: %v", err)
			}
		})
	}
}

func TestOffWrapsNothing(t *testing.T) {
	off := tracing.Off()
	if off.Enabled() || off.Transport(nil) != http.DefaultTransport {
		t.Fatal("tracing off wraps the transport")
	}
	if is, err := off.TemporalInterceptors(); err != nil || is != nil {
		t.Fatalf("tracing off has interceptors: %v %v", is, err)
	}
	var got string
	agency := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got = r.Header.Get("traceparent") }))
	defer agency.Close()
	h := off.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, agency.URL, nil)
		res, err := (&http.Client{Transport: off.Transport(nil)}).Do(req)
		if err == nil {
			res.Body.Close()
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/api/v1/applications", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	h.ServeHTTP(httptest.NewRecorder(), req)
	if got != "" {
		t.Fatalf("tracing off sent traceparent %q", got)
	}
}

// A request that carries a traceparent is continued in a server span, and
// a call made while handling it carries the same trace onward; both spans
// reach a real OTLP receiver. Probes are not traced.
func TestRequestsContinueTheCallersTrace(t *testing.T) {
	rcv := tracingtest.NewReceiver(t)
	t.Setenv("OTEL_EXPORTER_OTLP_ENDPOINT", rcv.URL())
	t.Setenv("OTEL_SERVICE_NAME", "")
	tr, err := tracing.Start(context.Background(), tracing.FromEnv(os.Getenv), "test", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	var onward string
	agency := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { onward = r.Header.Get("traceparent") }))
	defer agency.Close()
	mux := http.NewServeMux()
	client := &http.Client{Transport: tr.Transport(nil)}
	mux.HandleFunc("POST /api/v1/applications", func(w http.ResponseWriter, r *http.Request) {
		req, _ := http.NewRequestWithContext(r.Context(), http.MethodPost, agency.URL, nil)
		res, err := client.Do(req)
		if err != nil {
			t.Error(err)
			return
		}
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
		w.WriteHeader(http.StatusAccepted)
	})
	mux.HandleFunc("GET /readyz", func(http.ResponseWriter, *http.Request) {})
	srv := httptest.NewServer(tr.Handler(mux))
	defer srv.Close()

	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/api/v1/applications", nil)
	req.Header.Set("traceparent", "00-"+traceID+"-00f067aa0ba902b7-01")
	for _, r := range []*http.Request{req, must(http.NewRequest(http.MethodGet, srv.URL+"/readyz", nil))} {
		res, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	if !strings.HasPrefix(onward, "00-"+traceID+"-") {
		t.Fatalf("the onward call carried traceparent %q, not trace %s", onward, traceID)
	}
	if err := tr.Shutdown(context.Background()); err != nil { // exports what is left
		t.Fatal(err)
	}
	spans, _ := rcv.WaitFor(5*time.Second, func(s []tracingtest.Span) bool { return len(s) >= 2 })
	if len(spans) != 2 {
		t.Fatalf("received %d spans, want the server's and the client's (not the probe's): %+v", len(spans), spans)
	}
	byID := map[string]tracingtest.Span{}
	for _, s := range spans {
		byID[s.SpanID] = s
		if s.TraceID != traceID || s.Service != "lifeevents-test" {
			t.Errorf("span %q in trace %s of service %q", s.Name, s.TraceID, s.Service)
		}
	}
	for _, s := range spans {
		for k, v := range s.Attributes {
			if strings.HasPrefix(k, "client.") || strings.HasPrefix(k, "network.peer.") || strings.HasPrefix(k, "user_agent.") {
				if v != "redacted" {
					t.Errorf("span %q records %s=%s: who called is not for a trace backend", s.Name, k, v)
				}
			}
		}
		switch s.Kind.String() {
		case "SPAN_KIND_SERVER":
			if s.Attributes["client.address"] != "redacted" || s.Attributes["user_agent.original"] != "redacted" {
				t.Errorf("server span without the caller's address and browser redacted: %v", s.Attributes)
			}
			if s.ParentID != "00f067aa0ba902b7" || s.Name != "POST /api/v1/applications" {
				t.Errorf("server span %q with parent %s", s.Name, s.ParentID)
			}
		case "SPAN_KIND_CLIENT":
			if byID[s.ParentID].Kind.String() != "SPAN_KIND_SERVER" || !strings.HasSuffix(onward, "-"+s.SpanID+"-01") {
				t.Errorf("client span %q: parent %s, onward %s", s.Name, s.ParentID, onward)
			}
		default:
			t.Errorf("span %q of kind %s", s.Name, s.Kind)
		}
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
