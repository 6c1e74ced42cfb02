package e2e

import (
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestConsentAPI: a citizen gives, inspects, downloads and withdraws
// consents; another citizen reaches none of it; bad requests change nothing.
func TestConsentAPI(t *testing.T) {
	dev := startDev(t, dataDir(t), newPorts(t))
	erika := dev.token("c-1001", "citizen")
	max := dev.token("c-1003", "citizen")

	// Erika moves: four proposals, among them waste bins.
	dev.emit(event(t, "move.json", "consent-move-1"))
	dev.waitProposals(erika, 4)

	give := map[string]any{"kind": "standing", "purpose": "waste_bins", "recipient": "abfallwirtschaft-landkreis",
		"fields": []string{"applicantId", "newAddress"}, "expiresAt": time.Now().Add(48 * time.Hour).UTC().Format(time.RFC3339)}
	var c struct {
		ID             string   `json:"id"`
		Status         string   `json:"status"`
		DataCategories []string `json:"dataCategories"`
	}
	if code := dev.post("/api/v1/me/consents", erika, give, &c); code != http.StatusCreated || c.Status != "active" || len(c.DataCategories) != 2 {
		t.Fatalf("give: %d %+v", code, c)
	}

	var apiErr struct {
		Error struct{ Code string } `json:"error"`
	}
	for code, change := range map[string]map[string]any{
		"unknown_purpose":   {"purpose": "free_beer"},
		"unknown_recipient": {"recipient": "nobody"},
		"no_fields":         {"fields": []string{}},
		"expiry_in_past":    {"expiresAt": "2020-01-01T00:00:00Z"},
	} {
		bad := map[string]any{}
		for k, v := range give {
			bad[k] = v
		}
		for k, v := range change {
			bad[k] = v
		}
		if got := dev.post("/api/v1/me/consents", erika, bad, &apiErr); got != http.StatusUnprocessableEntity || apiErr.Error.Code != code {
			t.Errorf("%s: %d %+v", code, got, apiErr)
		}
	}

	// Max reaches none of Erika's records.
	var list struct {
		Items []struct{ ID string } `json:"items"`
	}
	if code := dev.get("/api/v1/me/consents", max, &list); code != http.StatusOK || len(list.Items) != 0 {
		t.Fatalf("Max lists %d consents", len(list.Items))
	}
	if code := dev.get("/api/v1/me/consents/"+c.ID+"/receipt", max, nil); code != http.StatusNotFound {
		t.Fatalf("Max downloads Erika's receipt: %d", code)
	}
	if code := dev.post("/api/v1/me/consents/"+c.ID+"/withdraw", max, nil, nil); code != http.StatusNotFound {
		t.Fatalf("Max withdraws Erika's consent: %d", code)
	}
	if code := dev.get("/api/v1/me/consents", dev.token("op", "operator"), nil); code != http.StatusForbidden {
		t.Fatalf("operator on a citizen route: %d", code)
	}

	var receipt struct {
		ContentHash string `json:"contentHash"`
	}
	if code := dev.get("/api/v1/me/consents/"+c.ID+"/receipt", erika, &receipt); code != http.StatusOK || !strings.HasPrefix(receipt.ContentHash, "sha256:") {
		t.Fatalf("receipt: %d %+v", code, receipt)
	}

	// Withdrawing takes the pending waste-bins proposal back at once.
	var wd struct {
		Consent struct {
			Status string `json:"status"`
		} `json:"consent"`
		WithdrawnProposals []string `json:"withdrawnProposals"`
	}
	if code := dev.post("/api/v1/me/consents/"+c.ID+"/withdraw", erika, nil, &wd); code != http.StatusOK ||
		wd.Consent.Status != "withdrawn" || len(wd.WithdrawnProposals) != 1 {
		t.Fatalf("withdraw: %d %+v", code, wd)
	}
	if code := dev.post("/api/v1/me/consents/"+c.ID+"/withdraw", erika, nil, &apiErr); code != http.StatusConflict || apiErr.Error.Code != "already_withdrawn" {
		t.Fatalf("withdraw twice: %d %+v", code, apiErr)
	}
	var withdrawn proposalList
	dev.get("/api/v1/me/proposals?status=withdrawn", erika, &withdrawn)
	if len(withdrawn.Items) != 1 || withdrawn.Items[0].Service != "waste_bins" {
		t.Fatalf("withdrawn proposals: %+v", withdrawn)
	}

	var export struct {
		CitizenID string `json:"citizenId"`
		Consents  []any  `json:"consents"`
		Proposals []any  `json:"proposals"`
		Transfers []any  `json:"transfers"`
		Messages  []any  `json:"messages"`
	}
	if code := dev.get("/api/v1/me/export", erika, &export); code != http.StatusOK || export.CitizenID != "c-1001" ||
		len(export.Consents) != 1 || len(export.Proposals) != 4 || len(export.Messages) != 5 || export.Transfers == nil {
		t.Fatalf("export: %d %+v", code, export)
	}
	var transfers struct {
		Items []any `json:"items"`
	}
	if code := dev.get("/api/v1/me/transfers", erika, &transfers); code != http.StatusOK || transfers.Items == nil {
		t.Fatalf("transfers: %d", code)
	}
	dev.kill(syscall.SIGTERM)
}
