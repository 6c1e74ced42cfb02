package httpapi

import (
	"embed"
	"net/http"
	"path"
)

//go:embed portal
var portalFS embed.FS

// portal serves the citizen portal: a static page that talks to the API
// with the citizen's token. Its script and style are files of their own,
// so the Content-Security-Policy needs no 'unsafe-inline'.
func portal(w http.ResponseWriter, r *http.Request) {
	page, _ := portalFS.ReadFile("portal/index.html")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write(page)
}

// portalAsset serves the portal's script and style.
func portalAsset(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	types := map[string]string{".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}
	ct, ok := types[path.Ext(name)]
	b, err := portalFS.ReadFile("portal/" + name)
	if !ok || err != nil {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", ct)
	w.Header().Set("Cache-Control", "no-cache")
	_, _ = w.Write(b)
}
