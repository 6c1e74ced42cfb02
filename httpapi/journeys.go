package httpapi

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/proposals"
)

// Journeys delivers decisions and agency results to running journeys.
type Journeys interface {
	Decide(ctx context.Context, citizenID, proposalID string, decision proposals.Decision, answers map[string]string) (proposals.Status, error)
	AgencyResult(ctx context.Context, proposalID, status, note string) error
}

// Submissions are the applications agencies pull and answer.
type Submissions interface {
	ListForAgency(ctx context.Context, agency, status string, since *time.Time) ([]agencies.Submission, error)
	Result(ctx context.Context, agency, id, status, note string) (agencies.Submission, error)
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		Decision proposals.Decision `json:"decision"`
		Answers  map[string]string  `json:"answers"`
	}
	if !s.decodeJSON(w, r, &req, 8192, false) {
		return
	}
	if !req.Decision.Valid() {
		s.fail(w, r, proposals.ErrInvalidDecision)
		return
	}
	id := r.PathValue("id")
	current, err := s.deps.Proposals.GetForCitizen(r.Context(), p.Subject, id)
	if err == nil && current.Status != proposals.StatusPending {
		err = proposals.ErrNotPending // the read model is the journey's: it has moved on
	}
	if err == nil && req.Decision == proposals.Accept {
		// The values the proposal asks for, checked before the journey
		// sees them (the journey checks them again).
		_, err = proposals.Fill(current.Fields, req.Answers)
	}
	var status proposals.Status
	if err == nil {
		status, err = s.deps.Journeys.Decide(r.Context(), p.Subject, id, req.Decision, req.Answers)
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"id": id, "status": status})
}

func (s *Server) listSubmissions(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	status := r.URL.Query().Get("status")
	if status != "" && status != "open" && status != "granted" && status != "rejected" {
		writeError(w, http.StatusBadRequest, "invalid_status", "status must be open, granted or rejected")
		return
	}
	var since *time.Time
	if v := r.URL.Query().Get("since"); v != "" {
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			writeError(w, http.StatusBadRequest, "invalid_since", "since must be a time in RFC 3339, e.g. 2026-11-02T09:14:00Z")
			return
		}
		since = &t
	}
	var all []agencies.Submission
	for _, a := range p.Agencies() {
		items, err := s.deps.Submissions.ListForAgency(r.Context(), a, status, since)
		if err != nil {
			s.internal(w, r, err)
			return
		}
		all = append(all, items...)
	}
	if all == nil {
		all = []agencies.Submission{}
	}
	writeJSON(w, http.StatusOK, list[agencies.Submission]{Items: all})
}

func (s *Server) submissionResult(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req struct {
		Status string `json:"status"`
		Note   string `json:"note"`
	}
	if !s.decodeJSON(w, r, &req, 16<<10, false) {
		return
	}
	if len(req.Note) > 2000 {
		writeError(w, http.StatusUnprocessableEntity, "invalid_result", "note is at most 2000 characters")
		return
	}
	id := r.PathValue("id")
	var sub agencies.Submission
	err := agencies.ErrNotFound
	for _, a := range p.Agencies() { // an agency reaches only its own submissions
		if sub, err = s.deps.Submissions.Result(r.Context(), a, id, req.Status, req.Note); !errors.Is(err, agencies.ErrNotFound) {
			break
		}
	}
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if err := s.deps.Journeys.AgencyResult(r.Context(), sub.ProposalID, sub.Status, req.Note); err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"id": sub.ID, "status": sub.Status})
}
