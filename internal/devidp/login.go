package devidp

import (
	"bytes"
	"errors"
	"net/http"
	"strconv"

	"github.com/zitadel/oidc/v3/pkg/op"
)

// pagesTemplate holds every page the IdP renders itself. The pages carry no
// inline script or style so they work under a strict CSP.
const pagesTemplate = `{{define "head"}}<!DOCTYPE html>
<html lang="de">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}}</title>
{{with .Stylesheet}}<link rel="stylesheet" href="{{.}}">
{{end}}</head>
<body>
<main class="kern-container">
<h1 class="kern-heading-large">{{.Title}}</h1>
{{end}}

{{define "foot"}}</main>
</body>
</html>
{{end}}

{{define "login"}}{{template "head" .}}<p>Nur für die Entwicklung: Es findet keine echte Authentisierung statt. / For development only: nobody is actually authenticated.</p>
<form method="post" action="{{.Action}}">
<input type="hidden" name="authRequestID" value="{{.AuthRequestID}}">
<fieldset class="kern-fieldset">
<legend class="kern-label">Person auswählen / Choose a person</legend>
<div class="kern-fieldset__body">
{{range .Users}}<div class="kern-form-check">
<input class="kern-form-check__radio" type="radio" id="{{.InputID}}" name="user" value="{{.Value}}"{{if .Checked}} checked{{end}}>
<label class="kern-label" for="{{.InputID}}">{{.Label}}</label>
</div>
{{end}}</div>
</fieldset>
<fieldset class="kern-fieldset">
<legend class="kern-label">Vertrauensniveau auswählen / Choose a trust level</legend>
<div class="kern-fieldset__body">
{{range .Levels}}<div class="kern-form-check">
<input class="kern-form-check__radio" type="radio" id="{{.InputID}}" name="level" value="{{.Value}}"{{if .Checked}} checked{{end}}>
<label class="kern-label" for="{{.InputID}}">{{.Label}}</label>
</div>
{{end}}</div>
</fieldset>
<button class="kern-btn kern-btn--primary" type="submit"><span class="kern-label">Anmelden</span></button>
</form>
{{template "foot" .}}{{end}}

{{define "message"}}{{template "head" .}}<p>{{.Text}}</p>
{{template "foot" .}}{{end}}
`

const loginTitle = "Anmeldung (Entwicklungsumgebung) / Sign in (development)"

type option struct {
	InputID, Value, Label string
	Checked               bool
}

type loginData struct {
	Title, Stylesheet     string
	Action, AuthRequestID string
	Users, Levels         []option
}

type messageData struct {
	Title, Stylesheet, Text string
}

func (p *IdP) loginPage(w http.ResponseWriter, r *http.Request) {
	id := r.URL.Query().Get("authRequestID")
	req, err := p.store.pendingAuthRequest(id)
	if err != nil {
		p.notFound(w)
		return
	}
	data := loginData{
		Title:         loginTitle,
		Stylesheet:    p.stylesheet,
		Action:        p.issuerURLPath + loginPath,
		AuthRequestID: req.id,
	}
	for i, u := range p.users {
		label := u.ID
		if u.Name != "" {
			label = u.Name + " (" + u.ID + ")"
		}
		// Input ids derive from the position, not the user id, which may
		// contain characters that are awkward in an id attribute.
		data.Users = append(data.Users, option{
			InputID: "user-" + strconv.Itoa(i),
			Value:   u.ID,
			Label:   label,
			Checked: i == 0,
		})
	}
	preselected := preselectedLevel(req.acrValues)
	for i, l := range Levels() {
		data.Levels = append(data.Levels, option{
			InputID: "level-" + strconv.Itoa(i),
			Value:   l.Value,
			Label:   l.Label,
			Checked: l.Value == preselected,
		})
	}
	p.render(w, http.StatusOK, "login", data)
}

// preselectedLevel honours the relying party's acr_values, so testing a
// service that asks for "hoch" does not need an extra click; the user can
// still pick any level, as with BundID's own choice of means.
func preselectedLevel(acrValues []string) string {
	for _, v := range acrValues {
		if isLevel(v) {
			return v
		}
	}
	return defaultLevel
}

func (p *IdP) loginSubmit(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(w, "invalid form", http.StatusBadRequest)
		return
	}
	// PostForm only: the choice must come from the submitted form, not from
	// query parameters someone appended to the action URL.
	id := r.PostForm.Get("authRequestID")
	userID := r.PostForm.Get("user")
	level := r.PostForm.Get("level")
	if !p.hasUser(userID) {
		http.Error(w, "unknown user", http.StatusBadRequest)
		return
	}
	if !isLevel(level) {
		http.Error(w, "unknown trust level", http.StatusBadRequest)
		return
	}
	if err := p.store.completeLogin(id, userID, level); err != nil {
		if errors.Is(err, errUnknownAuthRequest) {
			p.notFound(w)
			return
		}
		http.Error(w, "login failed", http.StatusBadRequest)
		return
	}
	// The callback URL is built from the issuer in the context, which the
	// op's interceptor only sets on its own routes.
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	http.Redirect(w, r, op.AuthCallbackURL(p.provider)(ctx, id), http.StatusSeeOther)
}

func (p *IdP) hasUser(id string) bool {
	for _, u := range p.users {
		if u.ID == id {
			return true
		}
	}
	return false
}

func (p *IdP) loggedOutPage(w http.ResponseWriter, _ *http.Request) {
	p.render(w, http.StatusOK, "message", messageData{
		Title:      "Abgemeldet / Signed out",
		Stylesheet: p.stylesheet,
		Text:       "Sie wurden abgemeldet. / You have been signed out.",
	})
}

func (p *IdP) notFound(w http.ResponseWriter) {
	p.render(w, http.StatusNotFound, "message", messageData{
		Title:      "Anmeldevorgang nicht gefunden / Sign-in request not found",
		Stylesheet: p.stylesheet,
		Text: "Der Anmeldevorgang ist unbekannt, abgelaufen oder bereits abgeschlossen. " +
			"Bitte starten Sie die Anmeldung in der Anwendung neu. / " +
			"The sign-in request is unknown, expired or already completed. " +
			"Please start signing in again from the application.",
	})
}

func (p *IdP) render(w http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := p.pages.ExecuteTemplate(&buf, name, data); err != nil {
		p.log.Error("devidp: render page", "page", name, "error", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", p.csp)
	// The login URL carries the auth request id; keep it out of Referer.
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}
