package httpapi_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/lifeevents/lifeevents/httpapi"
	"github.com/lifeevents/lifeevents/portal"
)

type fakePortal struct{ served []string }

func (f *fakePortal) Routes() []portal.Route {
	return []portal.Route{{Method: "GET", Path: "/{$}"}, {Method: "GET", Path: "/consents", Citizen: true}, {Method: "POST", Path: "/consents/{id}/withdraw", Citizen: true}}
}

func (f *fakePortal) FormActions() []string { return []string{"https://id.example.de"} }

func (f *fakePortal) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.served = append(f.served, r.Method+" "+r.URL.Path)
}

// TestPortalRoutesBesideTheAPI: the portal's pages are in the route table
// with their roles, carry the API's headers (the CSP letting forms go on to
// the identity provider) and are never in the API's description.
func TestPortalRoutesBesideTheAPI(t *testing.T) {
	p := &fakePortal{}
	s := httpapi.New(httpapi.Deps{Verifier: verifier{}, Portal: p, DevIdP: p,
		Metrics: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler)})
	roles := map[string]httpapi.Role{}
	for _, rt := range s.Routes() {
		if rt.Page {
			roles[rt.Method+" "+rt.Path] = rt.Role
		}
	}
	if roles["GET /{$}"] != httpapi.Public || roles["GET /consents"] != httpapi.Session || roles["POST /consents/{id}/withdraw"] != httpapi.Session || roles[" /dev/idp/"] != httpapi.Public {
		t.Fatalf("portal roles: %v", roles)
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/consents", nil))
	csp := rec.Header().Get("Content-Security-Policy")
	if !strings.Contains(csp, "form-action 'self' https://id.example.de;") || rec.Header().Get("Cache-Control") != "no-store" {
		t.Fatalf("headers: %v", rec.Header())
	}
	s.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/dev/idp/keys", nil))
	if strings.Join(p.served, ",") != "GET /consents,GET /dev/idp/keys" {
		t.Fatalf("served: %v", p.served)
	}
	for path := range s.OpenAPI()["paths"].(map[string]map[string]any) {
		if !strings.HasPrefix(path, "/api/") && !strings.HasPrefix(path, "/codec/") && path != "/healthz" && path != "/readyz" && path != "/metrics" {
			t.Errorf("%s in the API description", path)
		}
	}
}
