package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/encoding/protojson"
)

// waitStatuses polls the citizen's proposals until every one has left the
// given statuses, and returns service → status.
func (p *devProc) waitStatuses(token string, transient ...string) map[string]string {
	p.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		var l proposalList
		p.get("/api/v1/me/proposals", token, &l)
		out := map[string]string{}
		busy := false
		for _, it := range l.Items {
			out[it.Service] = it.Status
			for _, s := range transient {
				busy = busy || it.Status == s
			}
		}
		if !busy && len(out) > 0 {
			return out
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("proposals still in %v after 90s: %v", transient, out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitOnly polls until the citizen's only proposal with status is of service.
func (p *devProc) waitOnly(token, status, service string) {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l proposalList
		p.get("/api/v1/me/proposals?status="+status, token, &l)
		if len(l.Items) == 1 && l.Items[0].Service == service {
			return
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no single %s proposal %s after 60s: %+v", status, service, l)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestJourneys: the move journey and the birth journey, through the API,
// to final statuses with the sample agencies answering.
func TestJourneys(t *testing.T) {
	dir := dataDir(t)
	record := recordingTo(t, dir)
	// At debug level, so that the check at the end sees every log line.
	dev := startDev(t, dir, newPorts(t), "LIFEEVENTS_AGENCY_DELAY=300ms", "LIFEEVENTS_LOG_LEVEL=debug")
	erika := dev.token("c-1001", "citizen")
	max := dev.token("c-1003", "citizen")

	// The move: Erika accepts three proposals and declines the dog tax.
	dev.emit(event(t, "move.json", "journey-move"))
	var list proposalList
	list = dev.waitProposals(erika, 4)
	decisions := map[string]string{"parking_permit": "accept", "waste_bins": "accept", "vehicle_address": "accept", "dog_tax": "decline"}
	for _, p := range list.Items {
		var res struct{ Status string }
		if code := dev.post("/api/v1/me/proposals/"+p.ID+"/decision", erika, map[string]string{"decision": decisions[p.Service]}, &res); code != http.StatusOK {
			t.Fatalf("decide %s: %d", p.Service, code)
		}
		if code := dev.post("/api/v1/me/proposals/"+p.ID+"/decision", erika, map[string]string{"decision": "accept"}, nil); code != http.StatusConflict {
			t.Fatalf("deciding %s twice: %d", p.Service, code)
		}
		if code := dev.post("/api/v1/me/proposals/"+p.ID+"/decision", max, map[string]string{"decision": "accept"}, nil); code != http.StatusNotFound {
			t.Fatalf("Max deciding Erika's %s: %d", p.Service, code)
		}
	}
	got := dev.waitStatuses(erika, "pending", "accepted", "submitted")
	want := map[string]string{"parking_permit": "granted", "waste_bins": "granted", "vehicle_address": "granted", "dog_tax": "declined"}
	for svc, st := range want {
		if got[svc] != st {
			t.Fatalf("move journey: %v, want %v", got, want)
		}
	}
	var transfers struct {
		Items []struct {
			Recipient string   `json:"recipient"`
			Basis     string   `json:"basis"`
			Fields    []string `json:"fields"`
		} `json:"items"`
	}
	dev.get("/api/v1/me/transfers", erika, &transfers)
	if len(transfers.Items) != 3 {
		t.Fatalf("transfers: %+v", transfers)
	}

	// The birth: both parents are offered the trio; Erika accepts child
	// benefit first, so Max's is withdrawn; Max accepts parental allowance.
	dev.emit(event(t, "birth.json", "journey-birth"))
	dev.waitProposals(max, 3)
	var erikas, maxs proposalList
	dev.get("/api/v1/me/proposals?status=pending", erika, &erikas)
	dev.get("/api/v1/me/proposals?status=pending", max, &maxs)
	find := func(l proposalList, svc string) string {
		for _, p := range l.Items {
			if p.Service == svc {
				return p.ID
			}
		}
		t.Fatalf("no pending %s in %+v", svc, l)
		return ""
	}
	// Child benefit asks for what no register holds: the account to pay
	// into, checked before the journey sees it.
	benefit := "/api/v1/me/proposals/" + find(erikas, "child_benefit") + "/decision"
	for _, c := range []struct {
		answers map[string]string
		reason  string
	}{{nil, "missing"}, {map[string]string{"iban": "DE89 3704 0044 0532 0130 01"}, "invalid_iban"}, {map[string]string{"iban": "DE89 3704 0044 0532 0130 00", "salary": "1"}, "not_asked"}} {
		var res struct {
			Error struct{ Code, Field, Reason string } `json:"error"`
		}
		if code := dev.post(benefit, erika, map[string]any{"decision": "accept", "answers": c.answers}, &res); code != http.StatusUnprocessableEntity ||
			res.Error.Code != "invalid_answer" || res.Error.Reason != c.reason {
			t.Fatalf("child benefit with answers %v: %d %+v", c.answers, code, res)
		}
	}
	if code := dev.post(benefit, erika, map[string]any{"decision": "accept", "answers": map[string]string{"iban": "de89 3704 0044 0532 0130 00"}}, nil); code != http.StatusOK {
		t.Fatalf("child benefit with an IBAN: %d", code)
	}
	dev.post("/api/v1/me/proposals/"+find(maxs, "parental_allowance")+"/decision", max, map[string]string{"decision": "accept"}, nil)
	dev.waitOnly(max, "withdrawn", "child_benefit")
	dev.waitOnly(max, "granted", "parental_allowance")

	// An agency sees only its own submissions.
	var subs struct {
		Items []struct {
			Agency      string          `json:"agency"`
			Application json.RawMessage `json:"application"`
		} `json:"items"`
	}
	if code := dev.get("/api/v1/agency/submissions", dev.token("fk", "agency:familienkasse"), &subs); code != http.StatusOK || len(subs.Items) != 1 || subs.Items[0].Agency != "familienkasse" {
		t.Fatalf("familienkasse submissions: %d %+v", code, subs)
	}
	if !strings.Contains(string(subs.Items[0].Application), `"DE89370400440532013000"`) {
		t.Fatalf("the IBAN did not travel with the application: %s", subs.Items[0].Application)
	}
	if record != "" {
		// The birth journey ends when every proposal has: decline the
		// rest, then record it (the replay tests' history of an asked
		// value and an exclusive service).
		for _, c := range []struct {
			token string
			l     proposalList
		}{{erika, erikas}, {max, maxs}} {
			for _, p := range c.l.Items {
				if p.Service == "birth_certificate" || (p.Service == "parental_allowance" && c.token == erika) {
					dev.post("/api/v1/me/proposals/"+p.ID+"/decision", c.token, map[string]string{"decision": "decline"}, nil)
				}
			}
		}
		dev.recordHistories(record, "journey-birth")
	}
	if code := dev.get("/api/v1/agency/submissions", erika, nil); code != http.StatusForbidden {
		t.Fatalf("citizen on the agency route: %d", code)
	}
	if record != "" {
		dev.recordHistories(record, "journey-move")
	}
	dev.kill(syscall.SIGTERM)

	// Not one log line of both journeys, at debug level, names a citizen:
	// no id, name, address or plate of the people in them.
	logs := dev.err.String() // the logs; stdout holds the banner with its example token command
	if !strings.Contains(logs, "level=DEBUG") {
		t.Fatal("no debug lines: the log check below would prove nothing")
	}
	for _, secret := range []string{"c-1001", "c-1002", "c-1003", "c-2001", "Erika", "Max Mustermann", "Mustermann",
		"Am Markt", "Lindenweg", "WL-EM", "WL-MM"} {
		if i := strings.Index(logs, secret); i >= 0 {
			line := logs[strings.LastIndex(logs[:i], "\n")+1:]
			if j := strings.Index(line, "\n"); j >= 0 {
				line = line[:j]
			}
			t.Errorf("the logs hold %q: %s", secret, line)
		}
	}
}

// recordingTo returns the folder LIFEEVENTS_RECORD_HISTORIES names for
// recorded histories ("" when not recording) and gives the dev data dir the
// fixture key beside the histories (in the folder's parent), so that the
// replay tests can decrypt them. A folder that holds histories already is
// refused: histories of earlier versions are kept, never overwritten.
func recordingTo(t *testing.T, dataDir string) string {
	t.Helper()
	record := os.Getenv("LIFEEVENTS_RECORD_HISTORIES")
	if record == "" {
		return ""
	}
	key, err := os.ReadFile(filepath.Join(filepath.Dir(record), "codec-key"))
	if err != nil {
		t.Fatal(err)
	}
	_ = os.MkdirAll(dataDir, 0o755)
	if err := os.WriteFile(filepath.Join(dataDir, "payload-codec-key"), key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(record, 0o755); err != nil {
		t.Fatal(err)
	}
	return record
}

// recordHistories writes the finished histories of one life event's
// journey (the LifeEvent workflow and its Proposal workflows) as the
// temporal CLI's JSON, for the replay tests. An existing file is never
// overwritten.
func (p *devProc) recordHistories(dir, eventID string) {
	p.t.Helper()
	tc, err := client.Dial(client.Options{HostPort: p.temporal, Namespace: "default"})
	if err != nil {
		p.t.Fatal(err)
	}
	defer tc.Close()
	ctx := context.Background()
	run := tc.GetWorkflow(ctx, "lifeevent/"+eventID, "")
	if err := run.Get(ctx, nil); err != nil && !strings.Contains(err.Error(), "payload") {
		// waits for the journey to finish; its result is encrypted
		p.t.Logf("lifeevent result: %v", err)
	}
	ids := []string{"lifeevent/" + eventID}
	it := tc.GetWorkflowHistory(ctx, ids[0], "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			p.t.Fatal(err)
		}
		if a := ev.GetStartChildWorkflowExecutionInitiatedEventAttributes(); a != nil {
			ids = append(ids, a.GetWorkflowId())
		}
	}
	for _, id := range ids {
		var h historypb.History
		it := tc.GetWorkflowHistory(ctx, id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
		for it.HasNext() {
			ev, err := it.Next()
			if err != nil {
				p.t.Fatal(err)
			}
			h.Events = append(h.Events, ev)
		}
		b, err := protojson.MarshalOptions{Indent: "  "}.Marshal(&h)
		if err != nil {
			p.t.Fatal(err)
		}
		name := strings.NewReplacer("/", "-").Replace(id) + ".json"
		f, err := os.OpenFile(filepath.Join(dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if err == nil {
			_, err = f.Write(b)
			err = errors.Join(err, f.Close())
		}
		if err != nil {
			p.t.Fatalf("recording %s: %v (record into a new folder: make histories names one per day)", id, err)
		}
	}
}

// TestAgencySilence: an agency that never answers. The journey looks for
// a recorded result, escalates once, looks again and gives up with a
// reason the citizen reads; the transfer happened once. (Recorded for the
// replay tests: the history of the check-recorded-result branch.)
func TestAgencySilence(t *testing.T) {
	dir := dataDir(t)
	record := recordingTo(t, dir)
	dev := startDev(t, dir, newPorts(t), "LIFEEVENTS_AGENCY_DELAY=1h", "LIFEEVENTS_AGENCY_TIMEOUT=2s")
	erika := dev.token("c-1001", "citizen")
	dev.emit(event(t, "move.json", "journey-silence"))
	for _, p := range dev.waitProposals(erika, 4).Items {
		decision := "decline"
		if p.Service == "waste_bins" {
			decision = "accept"
		}
		if code := dev.post("/api/v1/me/proposals/"+p.ID+"/decision", erika, map[string]string{"decision": decision}, nil); code != http.StatusOK {
			t.Fatalf("decide %s: %d", p.Service, code)
		}
	}
	got := dev.waitStatuses(erika, "pending", "accepted", "submitted")
	var l proposalList
	dev.get("/api/v1/me/proposals?status=failed", erika, &l)
	if got["waste_bins"] != "failed" || len(l.Items) != 1 || l.Items[0].Reason != "the agency did not answer" {
		t.Fatalf("statuses %v, failed %+v", got, l.Items)
	}
	var msgs struct {
		Items []struct{ Kind, ProposalID string }
	}
	dev.get("/api/v1/me/messages", erika, &msgs)
	escalations := 0
	for _, m := range msgs.Items {
		if m.Kind == "escalation" && m.ProposalID == l.Items[0].ID {
			escalations++
		}
	}
	var transfers struct{ Items []struct{ ProposalID string } }
	dev.get("/api/v1/me/transfers", erika, &transfers)
	if escalations != 1 || len(transfers.Items) != 1 || transfers.Items[0].ProposalID != l.Items[0].ID {
		t.Fatalf("%d escalation messages (want 1), transfers %+v (want the waste bins' one)", escalations, transfers.Items)
	}
	if record != "" {
		dev.recordHistories(record, "journey-silence")
	}
}
