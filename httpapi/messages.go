package httpapi

import (
	"context"
	"net/http"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/inbox"
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
	writeJSON(w, http.StatusOK, list[inbox.Message]{Items: items})
}
