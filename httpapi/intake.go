package httpapi

import (
	"context"
	"net/http"
	"strconv"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/intake"
)

// Intake records initial applications.
type Intake interface {
	Submit(ctx context.Context, a intake.Application) (intake.Receipt, error)
}

// DeadLetterIndex lists and replays dead letters.
type DeadLetterIndex interface {
	List(ctx context.Context, limit int) ([]ingest.DeadLetter, error)
	Replay(ctx context.Context, id string) error
}

func (s *Server) postApplication(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var a intake.Application
	if !s.decodeJSON(w, r, &a, events.MaxSize+4096, false) {
		return
	}
	a.Offices = p.Registries()
	receipt, err := s.deps.Intake.Submit(r.Context(), a)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, receipt)
}

func (s *Server) listDeadLetters(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			writeError(w, http.StatusBadRequest, "invalid_limit", "limit must be 1 to 1000")
			return
		}
		limit = n
	}
	items, err := s.deps.DeadLetters.List(r.Context(), limit)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[ingest.DeadLetter]{Items: items})
}

func (s *Server) replayDeadLetter(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	id := r.PathValue("id")
	if err := s.deps.DeadLetters.Replay(r.Context(), id); err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"id": id, "status": "queued"})
}
