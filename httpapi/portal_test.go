package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestPortalIsServedWithoutToken(t *testing.T) {
	rec := httptest.NewRecorder()
	portal(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), "/me/proposals") ||
		!strings.Contains(rec.Header().Get("Content-Security-Policy"), "default-src 'self'") {
		t.Fatalf("portal: %d %q", rec.Code, rec.Header())
	}
}
