package e2e

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// bundle packs the repository's policies folder, plus extra files, as
// `opa build` would: a gzipped tar of Rego and data files.
func bundle(t *testing.T, extra map[string][]byte) []byte {
	t.Helper()
	files := map[string][]byte{}
	err := filepath.WalkDir("../policies", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".rego") || filepath.Base(p) == "data.json" {
			b, _ := os.ReadFile(p)
			files[strings.TrimPrefix(p, "../policies/")] = b
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, b := range extra {
		files[p] = b
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, b := range files {
		_ = tw.WriteHeader(&tar.Header{Name: "/" + p, Mode: 0o644, Size: int64(len(b))})
		_, _ = tw.Write(b)
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

func (p *devProc) put(path, token string, body []byte, v any) int {
	p.t.Helper()
	return p.do(http.MethodPut, path, token, "application/gzip", body, v)
}

// TestNewServiceWithoutGo: a policy team uploads a bundle with one more
// service folder, and the next move proposes it; a broken bundle is refused
// and the running revision keeps serving.
func TestNewServiceWithoutGo(t *testing.T) {
	dev := startDev(t, dataDir(t), newPorts(t))
	team := dev.token("policy-team", "policy")
	operator := dev.token("ops-1", "operator")

	var before struct {
		Revision string            `json:"revision"`
		Services []json.RawMessage `json:"services"`
	}
	if code := dev.get("/api/v1/policies", team, &before); code != http.StatusOK || len(before.Services) != 7 {
		t.Fatalf("GET policies: %d %+v", code, before)
	}
	if code := dev.get("/api/v1/policies", dev.token("c-1001", "citizen"), nil); code != http.StatusForbidden {
		t.Fatalf("citizen reading policies: %d", code)
	}

	// A failing Rego test: refused with the test output, old revision stays.
	broken := bundle(t, map[string][]byte{"extra/fail_test.rego": []byte("package extra_test\n\ntest_fails if false\n")})
	var refused struct {
		Error    struct{ Code, Message string } `json:"error"`
		Revision string                         `json:"revision"`
	}
	if code := dev.put("/api/v1/policies", team, broken, &refused); code != http.StatusUnprocessableEntity ||
		refused.Error.Code != "bundle_rejected" || !strings.Contains(refused.Error.Message, "test_fails") || refused.Revision != before.Revision {
		t.Fatalf("broken bundle: %d %+v", code, refused)
	}
	if code := dev.put("/api/v1/policies", team, []byte("not a tarball"), nil); code != http.StatusBadRequest {
		t.Fatalf("garbage bundle: %d", code)
	}

	fixture := map[string][]byte{}
	for _, f := range []string{"data.json", "policy.rego", "policy_test.rego"} {
		b, err := os.ReadFile("testdata/library_card/" + f)
		if err != nil {
			t.Fatal(err)
		}
		fixture["services/library_card/"+f] = b
	}
	var accepted struct {
		Revision string `json:"revision"`
		Tests    struct {
			Passed int `json:"passed"`
		} `json:"tests"`
	}
	// Four eyes: the upload is proposed; its uploader cannot approve it;
	// a second policy user makes it live.
	if code := dev.put("/api/v1/policies", team, bundle(t, fixture), &accepted); code != http.StatusAccepted || accepted.Revision == before.Revision || accepted.Tests.Passed == 0 {
		t.Fatalf("new bundle: %d %+v", code, accepted)
	}
	var listed struct {
		Revision string `json:"revision"`
		Proposed []struct {
			Revision   string `json:"revision"`
			UploadedBy string `json:"uploadedBy"`
			Approvals  []struct{ By string }
		} `json:"proposed"`
	}
	if code := dev.get("/api/v1/policies", team, &listed); code != http.StatusOK || listed.Revision != before.Revision ||
		len(listed.Proposed) != 1 || listed.Proposed[0].Revision != accepted.Revision || listed.Proposed[0].UploadedBy != "policy-team" {
		t.Fatalf("after the upload: %d %+v", code, listed)
	}
	var apiErr struct {
		Error struct{ Code string } `json:"error"`
	}
	if code := dev.post("/api/v1/policies/"+accepted.Revision+"/approve", team, nil, &apiErr); code != http.StatusConflict || apiErr.Error.Code != "four_eyes" {
		t.Fatalf("the uploader approving: %d %+v", code, apiErr)
	}
	if code := dev.post("/api/v1/policies/"+accepted.Revision+"/approve", dev.token("c-1001", "citizen"), nil, nil); code != http.StatusForbidden {
		t.Fatalf("a citizen approving: %d", code)
	}
	if code := dev.get("/api/v1/policies", team, &listed); listed.Revision != before.Revision {
		t.Fatalf("live before the second approval: %d %+v", code, listed)
	}
	var approved struct {
		Status   string `json:"status"`
		Proposal struct {
			Approvals []struct{ By string }
		} `json:"proposal"`
	}
	if code := dev.post("/api/v1/policies/"+accepted.Revision+"/approve", dev.token("policy-reviewer", "policy"), nil, &approved); code != http.StatusOK ||
		approved.Status != "active" || len(approved.Proposal.Approvals) != 2 {
		t.Fatalf("the second approval: %d %+v", code, approved)
	}
	if code := dev.get("/api/v1/policies", team, &listed); listed.Revision != accepted.Revision || len(listed.Proposed) != 0 {
		t.Fatalf("after the approval: %d %+v", code, listed)
	}
	if code := dev.post("/api/v1/policies/"+accepted.Revision+"/approve", dev.token("policy-3", "policy"), nil, &apiErr); code != http.StatusConflict || apiErr.Error.Code != "already_active" {
		t.Fatalf("approving an active revision: %d %+v", code, apiErr)
	}

	// Hostile uploads: each refused with what it broke, and the process
	// goes on serving the approved revision.
	uploadRefused(t, dev, team, gz(t, map[string][]byte{"/data.json": []byte("{}")}, map[string]int64{"/data.json": 1 << 32}),
		http.StatusRequestEntityTooLarge, "bundle_limit", "limit", "file_size")
	uploadRefused(t, dev, team, gz(t, map[string][]byte{"/data.json": make([]byte, 40<<20)}, nil),
		http.StatusRequestEntityTooLarge, "bundle_limit", "", "")
	exfil := bundle(t, map[string][]byte{"services/waste_bins/exfil_test.rego": []byte("package lifeevents.eligibility.waste_bins_test\n\ntest_leak if http.send({\"method\": \"GET\", \"url\": \"http://127.0.0.1:9/\"})\n")})
	uploadRefused(t, dev, team, exfil, http.StatusUnprocessableEntity, "bundle_forbidden_builtin", "builtin", "http.send")
	allowAll := bundle(t, map[string][]byte{
		"sharing/policy.rego":      []byte("package lifeevents.sharing\n\ndecision := {\"allow\": true, \"reasons\": [], \"fields\": input.fields}\n"),
		"sharing/policy_test.rego": []byte("package lifeevents.sharing_test\n\nimport data.lifeevents.sharing\n\ntest_decides if sharing.decision with input as {\"fields\": []}\n"),
	})
	uploadRefused(t, dev, team, allowAll, http.StatusUnprocessableEntity, "bundle_guarantee", "guarantee", "declared_fields_only")
	if code := dev.get("/api/v1/policies", team, &listed); listed.Revision != accepted.Revision || len(listed.Proposed) != 0 {
		t.Fatalf("after the hostile uploads: %d %+v", code, listed)
	}

	// Dry run of the new service.
	var d struct {
		Allow bool `json:"allow"`
	}
	evalReq := map[string]any{"service": "library_card", "input": map[string]any{"event": map[string]any{
		"type": "lifeevents.move.registered.v1", "data": map[string]any{"to": map[string]any{"street": "A", "houseNumber": "1", "postalCode": "12345", "city": "X"}}}}}
	if code := dev.post("/api/v1/policies/eval", team, evalReq, &d); code != http.StatusOK || !d.Allow {
		t.Fatalf("eval: %d %+v", code, d)
	}

	// The next move is offered the library card too.
	dev.emit(event(t, "move.json", "lib-move-1"))
	if n := dev.waitEvent(operator, "lib-move-1"); n != 5 {
		t.Fatalf("move after the upload made %d proposals, want 5 (4 + library card)", n)
	}
	var mine proposalList
	dev.get("/api/v1/me/proposals", dev.token("c-1001", "citizen"), &mine)
	found := false
	for _, p := range mine.Items {
		found = found || p.Service == "library_card"
	}
	if !found {
		t.Fatalf("no library card proposal: %+v", mine)
	}
	var inbox struct {
		Items []struct{ Kind, Subject string } `json:"items"`
	}
	if code := dev.get("/api/v1/me/messages", dev.token("c-1001", "citizen"), &inbox); code != http.StatusOK || len(inbox.Items) != 5 {
		t.Fatalf("inbox: %d %+v", code, inbox)
	}
	// The same four eyes from the command line: the repository's folder
	// (the built-in revision) proposed by one, approved by another.
	api := "http://" + dev.http
	out := cli(t, nil, "policy", "upload", "../policies", "--api-url", api, "--token", team)
	if !strings.Contains(out, "revision "+before.Revision+" proposed") || !strings.Contains(out, "policy approve "+before.Revision) {
		t.Fatalf("policy upload printed %q", out)
	}
	if out := cli(t, nil, "policy", "list", "--api-url", api, "--token", team); !strings.Contains(out, "proposed  "+before.Revision+"  by policy-team") {
		t.Fatalf("policy list printed %q", out)
	}
	if msg := cliFails(t, nil, "policy", "approve", before.Revision, "--api-url", api, "--token", team); !strings.Contains(msg, "four_eyes") {
		t.Fatalf("approving one's own upload: %q", msg)
	}
	out = cli(t, nil, "policy", "approve", before.Revision, "--api-url", api, "--token", dev.token("policy-reviewer", "policy"))
	if !strings.Contains(out, "revision "+before.Revision+" is active") {
		t.Fatalf("policy approve printed %q", out)
	}
	if msg := cliFails(t, []string{"LIFEEVENTS_TOKEN="}, "policy", "upload", "../policies", "--api-url", api); !strings.Contains(msg, "--token") {
		t.Fatalf("upload without token: %q", msg)
	}

	dev.kill(syscall.SIGTERM)
}
