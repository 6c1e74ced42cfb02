package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func (p *devProc) post(path, token string, body any, v any) int {
	p.t.Helper()
	b, _ := json.Marshal(body)
	return p.do(http.MethodPost, path, token, "application/json", b, v)
}

type deadLetters struct {
	Items []struct {
		ID         string     `json:"id"`
		Reason     string     `json:"reason"`
		Error      string     `json:"error"`
		Stage      string     `json:"stage"`
		ReplayedAt *time.Time `json:"replayedAt"`
	} `json:"items"`
}

func (p *devProc) waitDeadLetters(token string, n int) deadLetters {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var l deadLetters
		if code := p.get("/api/v1/ops/dlq", token, &l); code != http.StatusOK {
			p.t.Fatalf("list dead letters: %d", code)
		}
		if len(l.Items) >= n {
			return l
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("%d dead letters after 60s, want %d", len(l.Items), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitEvent polls the operator view of an event until its journey has
// proposed, and returns how many proposals it made.
func (p *devProc) waitEvent(operator, id string) int {
	p.t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var ev struct {
			Status    string            `json:"status"`
			Proposals []json.RawMessage `json:"proposals"`
		}
		code := p.get("/api/v1/ops/events/"+id, operator, &ev)
		if code == http.StatusOK && ev.Status == "proposed" {
			return len(ev.Proposals)
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("event %s not proposed after 60s (%d %+v)", id, code, ev)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestIntakeKcatAndDeadLetters posts applications over the API, produces
// structured- and binary-mode events and malformed messages with kcat, and
// checks what the citizens and the operators see.
func TestIntakeKcatAndDeadLetters(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		t.Skip("kcat not installed (.ci/run installs it)")
	}
	dir := dataDir(t)
	ports := newPorts(t)
	dev := startDev(t, dir, ports)
	registry := dev.token("standesamt-winsen", "registry:03353022")
	operator := dev.token("ops-1", "operator")

	// Intake: 202 with an event id; the same application again, the same id.
	var m map[string]any
	_ = json.Unmarshal(event(t, "move.json", "unused"), &m)
	data := m["data"].(map[string]any)
	// Aylin has neither car nor dog: waste bins only.
	data["citizenId"], data["household"] = "c-1005", []any{map[string]any{"citizenId": "c-1005", "role": "adult"}}
	app := map[string]any{"type": "lifeevents.move.registered.v1", "source": "urn:lifeevents:registry:03353022", "reference": "REG-2026-0001", "data": data}
	var r1, r2 struct {
		EventID   string `json:"eventId"`
		Duplicate bool   `json:"duplicate"`
	}
	if code := dev.post("/api/v1/applications", registry, app, &r1); code != http.StatusAccepted || r1.EventID == "" {
		t.Fatalf("post application: %d %+v", code, r1)
	}
	if code := dev.post("/api/v1/applications", registry, app, &r2); code != http.StatusAccepted || r2.EventID != r1.EventID || !r2.Duplicate {
		t.Fatalf("re-post: %d %+v, first %+v", code, r2, r1)
	}
	var apiErr struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	// Roles are bound to their office: another office's source, or a move
	// into another municipality, is 403; the same reference with other
	// data is 409 naming the first event, and changes nothing.
	foreign := maps.Clone(app)
	foreign["source"], foreign["reference"] = "urn:lifeevents:registry:03353005", "REG-F-1"
	if code := dev.post("/api/v1/applications", registry, foreign, &apiErr); code != http.StatusForbidden || apiErr.Error.Code != "foreign_office" {
		t.Fatalf("another office's application: %d %+v", code, apiErr)
	}
	buchholz := dev.token("standesamt-buchholz", "registry:03353005")
	if code := dev.post("/api/v1/applications", buchholz, foreign, &apiErr); code != http.StatusForbidden || apiErr.Error.Code != "foreign_office" {
		t.Fatalf("a move into another municipality: %d %+v", code, apiErr)
	}
	changed := maps.Clone(app)
	changed["data"] = map[string]any{"citizenId": "c-1001"}
	var conflict struct {
		Error   struct{ Code string } `json:"error"`
		EventID string                `json:"eventId"`
	}
	if code := dev.post("/api/v1/applications", registry, changed, &conflict); code != http.StatusConflict ||
		conflict.Error.Code != "reference_conflict" || conflict.EventID != r1.EventID {
		t.Fatalf("same reference, other data: %d %+v", code, conflict)
	}
	bad := map[string]any{"type": "lifeevents.move.registered.v1", "source": "urn:lifeevents:registry:03353022", "reference": "REG-2", "data": map[string]any{"citizenId": "c-1"}}
	if code := dev.post("/api/v1/applications", registry, bad, &apiErr); code != http.StatusUnprocessableEntity || apiErr.Error.Code != "missing_field" {
		t.Fatalf("invalid application: %d %+v", code, apiErr)
	}
	if code := dev.post("/api/v1/applications", dev.token("c-1005", "citizen"), app, nil); code != http.StatusForbidden {
		t.Fatalf("citizen posting an application: %d", code)
	}
	if n := dev.waitEvent(operator, r1.EventID); n != 1 {
		t.Fatalf("the posted application made %d proposals, want 1", n)
	}
	if l := dev.waitProposals(dev.token("c-1005", "citizen"), 1); l.Items[0].LifeEventID != r1.EventID {
		t.Fatalf("proposal for the posted application: %+v", l)
	}

	// kcat, structured mode, and binary mode (ce_* headers, the data as value).
	kcat := func(stdin []byte, args ...string) {
		t.Helper()
		cmd := exec.Command("kcat", append([]string{"-b", dev.kafka, "-t", "life-events", "-P"}, args...)...)
		cmd.Stdin = bytes.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat: %v %s", err, out)
		}
	}
	// Jonas (a car) moves into the old town: parking permit, waste bins,
	// vehicle address. The birth: the ELFE trio for each parent.
	structured := event(t, "move.json", "kcat-structured")
	structured = bytes.ReplaceAll(structured, []byte(`"c-1001"`), []byte(`"c-1004"`))
	kcat(append(structured, '\n'), "-k", "k1")
	_ = json.Unmarshal(event(t, "birth.json", "unused"), &m)
	birth, _ := json.Marshal(m["data"])
	kcat(append(birth, '\n'), "-k", "k2", "-H", "ce_specversion=1.0", "-H", "ce_id=kcat-binary",
		"-H", "ce_source=urn:lifeevents:registry-office:03353022", "-H", "ce_type=lifeevents.birth.registered.v1",
		"-H", "content-type=application/json")
	if n := dev.waitEvent(operator, "kcat-structured"); n != 3 {
		t.Fatalf("structured-mode move made %d proposals, want 3", n)
	}
	if n := dev.waitEvent(operator, "kcat-binary"); n != 6 {
		t.Fatalf("binary-mode birth made %d proposals, want 6", n)
	}

	// Malformed messages land in the dead letters with their reasons.
	oversized := append([]byte(`{"specversion":"1.0","pad":"`), bytes.Repeat([]byte("x"), 300<<10)...)
	oversized = append(oversized, []byte(`"}`)...)
	kcat([]byte("not json at all\n"), "-k", "k3")
	kcat(append(bytes.ReplaceAll(event(t, "move.json", "wrong-type"), []byte("move.registered"), []byte("marriage.registered")), '\n'), "-k", "k3")
	kcat([]byte(`{"specversion":"1.0","id":"no-data","source":"urn:x","type":"lifeevents.move.registered.v1"}`+"\n"), "-k", "k3")
	kcat(append(oversized, '\n'), "-k", "k3", "-X", "message.max.bytes=1000000")
	dl := dev.waitDeadLetters(operator, 4)
	reasons := map[string]bool{}
	for _, d := range dl.Items {
		reasons[d.Reason] = true
		if d.Stage != "validate" || d.Error == "" {
			t.Fatalf("dead letter %+v", d)
		}
	}
	for _, want := range []string{"malformed_json", "unknown_type", "missing_data", "too_large"} {
		if !reasons[want] {
			t.Fatalf("no dead letter with reason %s: %+v", want, dl)
		}
	}
	if code := dev.get("/api/v1/ops/dlq", registry, nil); code != http.StatusForbidden {
		t.Fatalf("registry listing dead letters: %d", code)
	}

	// Replay puts a dead letter back on the topic: still invalid, it comes
	// back as a new dead letter, and the first is marked replayed.
	if code := dev.post("/api/v1/ops/dlq/"+dl.Items[0].ID+"/replay", operator, nil, nil); code != http.StatusAccepted {
		t.Fatalf("replay: %d", code)
	}
	if code := dev.post("/api/v1/ops/dlq/9-999999/replay", operator, nil, nil); code != http.StatusNotFound {
		t.Fatalf("replay of an unknown dead letter: %d", code)
	}
	dl = dev.waitDeadLetters(operator, 5)
	replayed := 0
	for _, d := range dl.Items {
		if d.ReplayedAt != nil {
			replayed++
		}
	}
	if replayed != 1 {
		t.Fatalf("%d dead letters marked replayed, want 1", replayed)
	}

	// The same event three times with a kill -9 in between: one journey,
	// one set of proposals.
	// Max (a motorcycle): waste bins and vehicle address.
	dup := bytes.ReplaceAll(event(t, "move.json", "dup-1"), []byte(`"c-1001"`), []byte(`"c-1003"`))
	for range 2 {
		kcat(append(dup, '\n'), "-k", "k4")
	}
	dev.kill(syscall.SIGKILL)
	dev = startDev(t, dir, ports)
	kcat(append(dup, '\n'), "-k", "k4")
	if n := dev.waitEvent(operator, "dup-1"); n != 2 {
		t.Fatalf("the duplicated event made %d proposals, want 2", n)
	}
	time.Sleep(2 * time.Second) // give a duplicate the chance to show up
	var ev struct {
		WorkflowID string            `json:"workflowId"`
		Status     string            `json:"status"`
		Proposals  []json.RawMessage `json:"proposals"`
	}
	if code := dev.get("/api/v1/ops/events/dup-1", operator, &ev); code != http.StatusOK || len(ev.Proposals) != 2 || ev.WorkflowID != "lifeevent/dup-1" {
		t.Fatalf("ops view of the duplicated event: %d %+v", code, ev)
	}
	var missing struct{}
	if code := dev.get(fmt.Sprintf("/api/v1/ops/events/%s", "never-seen"), operator, &missing); code != http.StatusNotFound {
		t.Fatalf("unknown event: %d", code)
	}
	dev.kill(syscall.SIGTERM)
}
