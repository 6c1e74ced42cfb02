package httpapi

import (
	_ "embed"
	"net/http"
)

//go:embed portal/index.html
var portalPage []byte

// portal serves the citizen portal: a static page that talks to the API
// with the citizen's token.
func portal(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'")
	_, _ = w.Write(portalPage)
}
