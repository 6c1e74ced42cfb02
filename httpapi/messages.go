package httpapi

import (
	"context"
	"net/http"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/texts"
)

// MessageReader reads citizens' inboxes.
type MessageReader interface {
	ListForCitizen(ctx context.Context, citizenID string) ([]inbox.Message, error)
}

func (s *Server) listMyMessages(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	items, err := s.deps.Messages.ListForCitizen(r.Context(), p.Subject)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[inbox.Message]{Items: s.render(r, items)})
}

// render fills in the messages' subject and body in the caller's language:
// ?lang=de|en, else Accept-Language, else German.
func (s *Server) render(r *http.Request, ms []inbox.Message) []inbox.Message {
	if s.deps.Texts == nil {
		return ms
	}
	lang, ok := texts.ParseLang(r.URL.Query().Get("lang"))
	if !ok {
		lang = texts.FromAcceptLanguage(r.Header.Get("Accept-Language"))
	}
	for i, m := range ms {
		ms[i] = m.Render(s.deps.Texts, lang, s.deps.ServiceNames)
	}
	return ms
}
