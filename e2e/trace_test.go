package e2e

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/tracing/tracingtest"
)

// TestOneTrace: with an OTLP endpoint set, a move posted by the registry
// office with a traceparent is one trace from the office's request through
// the intake, Kafka, the journey's workflows and activities to the
// agency's webhook, and back: the agency answers with the trace it
// received, and the journey's signal handler is in it too.
func TestOneTrace(t *testing.T) {
	rcv := tracingtest.NewReceiver(t)
	type delivery struct{ traceparent, id string }
	deliveries := make(chan delivery, 4)
	agency := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var sub struct{ ID string }
		_ = json.NewDecoder(r.Body).Decode(&sub)
		deliveries <- delivery{r.Header.Get("traceparent"), sub.ID}
	}))
	defer agency.Close()
	dev := startDev(t, dataDir(t), newPorts(t),
		"OTEL_EXPORTER_OTLP_ENDPOINT="+rcv.URL(), "OTEL_BSP_SCHEDULE_DELAY=100",
		"LIFEEVENTS_AGENCY_WEBHOOKS=abfallwirtschaft-landkreis="+agency.URL+"/submissions",
		"LIFEEVENTS_WEBHOOK_SECRET=trace-test", "LIFEEVENTS_AGENCY_DELAY=1h") // the test is the agency

	// The office's request, in the office's trace. Aylin has neither car
	// nor dog: one proposal, waste bins.
	const traceID, officeSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	var m map[string]any
	_ = json.Unmarshal(event(t, "move.json", "unused"), &m)
	data := m["data"].(map[string]any)
	data["citizenId"], data["household"] = "c-1005", []any{map[string]any{"citizenId": "c-1005", "role": "adult"}}
	body, _ := json.Marshal(map[string]any{"type": "lifeevents.move.registered.v1", "source": "urn:lifeevents:registry:03353022",
		"reference": "TRACE-1", "data": data})
	traced := func(path, token, traceparent string, body []byte) int {
		req, _ := http.NewRequest(http.MethodPost, "http://"+dev.http+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("traceparent", traceparent)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := traced("/api/v1/applications", dev.token("standesamt-winsen", "registry:03353022"), "00-"+traceID+"-"+officeSpan+"-01", body); code != http.StatusAccepted {
		t.Fatalf("post application: %d", code)
	}
	aylin := dev.token("c-1005", "citizen")
	list := dev.waitProposals(aylin, 1)
	if code := dev.post("/api/v1/me/proposals/"+list.Items[0].ID+"/decision", aylin, map[string]string{"decision": "accept"}, nil); code != http.StatusOK {
		t.Fatalf("accept: %d", code)
	}
	var d delivery
	select {
	case d = <-deliveries:
	case <-time.After(60 * time.Second):
		t.Fatal("no webhook delivery in 60s")
	}
	if !strings.HasPrefix(d.traceparent, "00-"+traceID+"-") {
		t.Fatalf("the webhook delivery carried traceparent %q, not the office's trace %s", d.traceparent, traceID)
	}
	result, _ := json.Marshal(map[string]string{"status": "granted"})
	if code := traced("/api/v1/agency/submissions/"+d.id+"/result", dev.token("awl", "agency:abfallwirtschaft-landkreis"), d.traceparent, result); code != http.StatusOK {
		t.Fatalf("agency result: %d", code)
	}
	if got := dev.waitStatuses(aylin, "pending", "accepted", "submitted"); got["waste_bins"] != "granted" {
		t.Fatalf("statuses %v", got)
	}
	dev.kill(syscall.SIGTERM) // exports what is left

	spans := rcv.Trace(traceID)
	byID := map[string]tracingtest.Span{}
	var names []string
	for _, s := range spans {
		byID[s.SpanID] = s
		names = append(names, s.Name)
	}
	t.Logf("%d spans in the trace: %v", len(spans), names)
	// One trace: every span hangs, through its parents, from the office's.
	for _, s := range spans {
		at := s
		for hops := 0; at.ParentID != officeSpan; hops++ {
			p, ok := byID[at.ParentID]
			if !ok || hops > len(spans) {
				t.Fatalf("span %q (%s) does not reach the office's request: parent %s missing\nspans: %v", s.Name, s.Service, at.ParentID, names)
			}
			at = p
		}
		if s.Service != "lifeevents-dev" {
			t.Errorf("span %q of service %q", s.Name, s.Service)
		}
		for k, v := range s.Attributes { // ids and routes, never the citizen
			for _, personal := range []string{"c-1005", "Aylin", "Am Markt", "127.0.0.1:"} {
				if strings.Contains(v, personal) && k != "server.address" && k != "url.full" {
					t.Errorf("span %q records %s=%s", s.Name, k, v)
				}
			}
		}
	}
	for _, want := range []string{
		"POST /api/v1/applications",                   // the office's request
		"ingest life-events",                          // the event, consumed
		"StartWorkflow:LifeEvent",                     // the journey
		"RunWorkflow:LifeEvent",                       //
		"RunWorkflow:Proposal",                        // the proposal's journey
		"RunActivity:Submit",                          // the transfer
		"RunActivity:Deliver",                         // the webhook
		"POST /api/v1/agency/submissions/{id}/result", // and back
		"HandleSignal:agency-result",                  // the journey hears it
	} {
		if !slices.Contains(names, want) {
			t.Errorf("no span %q in the trace: %v", want, names)
		}
	}
	// The webhook's client span is the delivery's parent.
	parent := strings.Split(d.traceparent, "-")[2]
	if s, ok := byID[parent]; !ok || s.Kind.String() != "SPAN_KIND_CLIENT" {
		t.Errorf("the delivery's parent span %s is not a client span of the trace: %+v", parent, s)
	}
}
