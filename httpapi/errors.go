package httpapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/intake"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
)

// clientErrors is the one mapping from what the packages' sentinel errors
// mean to what a client is told: the status, a stable code and a message.
// Handlers hand every error to fail; an error not listed here is ours, is
// logged and answered with 500 "internal" only.
var clientErrors = []struct {
	err           error
	status        int
	code, message string
}{
	{proposals.ErrNotFound, http.StatusNotFound, "not_found", "no such proposal"},
	{proposals.ErrNotPending, http.StatusConflict, "not_pending", "this proposal has already been decided or has ended"},
	{proposals.ErrInvalidDecision, http.StatusBadRequest, "invalid_decision", `expected {"decision":"accept"} or {"decision":"decline"}`},
	{consent.ErrNotFound, http.StatusNotFound, "not_found", "no such consent"},
	{consent.ErrAlreadyWithdrawn, http.StatusConflict, "already_withdrawn", "this consent is already withdrawn"},
	{consent.ErrExpired, http.StatusConflict, "expired", "this consent has expired"},
	{agencies.ErrNotFound, http.StatusNotFound, "not_found", "no such submission"},
	{agencies.ErrDecided, http.StatusConflict, "already_decided", "this submission already has a result"},
	{agencies.ErrBadResult, http.StatusUnprocessableEntity, "invalid_result", "status must be granted or rejected"},
	{events.ErrUnknownEvent, http.StatusNotFound, "not_found", "no such life event"},
	{intake.ErrForeignOffice, http.StatusForbidden, "foreign_office", "you may post applications only for your own registry office and municipality"},
	{ingest.ErrNoDeadLetter, http.StatusNotFound, "not_found", "no such dead letter"},
	{policies.ErrRevisionTaken, http.StatusConflict, "revision_taken", "this revision names another bundle already: give the manifest a new revision"},
	{policies.ErrUnknownRevision, http.StatusNotFound, "not_found", "no such proposed revision"},
	{policies.ErrAlreadyActive, http.StatusConflict, "already_active", "this revision is already active"},
	{policies.ErrSameApprover, http.StatusConflict, "four_eyes", "you already approved (or uploaded) this revision: a different person must approve it"},
	{policies.ErrUnknownService, http.StatusNotFound, "unknown_service", "no such service or query in the active revision"},
	{policies.ErrTimeout, http.StatusUnprocessableEntity, "policy_timeout", "the policy did not decide within its deadline"},
}

// fail answers err: a refusal the client can act on with its status, code
// and message (errors that carry their own details with them), anything
// else as internal.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var (
		answer   *proposals.AnswerError
		invalid  *consent.InvalidError
		conflict *intake.ConflictError
	)
	if rej, ok := events.AsRejection(err); ok {
		writeError(w, http.StatusUnprocessableEntity, rej.Code, rej.Message)
		return
	}
	switch {
	case errors.As(err, &answer):
		// 422 with the field and a stable reason (missing, invalid_iban,
		// invalid_date, invalid_choice, invalid_text, not_asked).
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{"error": map[string]string{
			"code": "invalid_answer", "field": answer.Field, "reason": answer.Code,
			"message": "the answer for " + answer.Field + " is " + strings.ReplaceAll(answer.Code, "_", " "),
		}})
		return
	case errors.As(err, &invalid):
		writeError(w, http.StatusUnprocessableEntity, invalid.Code, invalid.Message)
		return
	case errors.As(err, &conflict):
		writeJSON(w, http.StatusConflict, map[string]any{
			"error":   apiError{Code: "reference_conflict", Message: "this reference was posted before with other data; the first application stands"},
			"eventId": conflict.EventID,
		})
		return
	}
	for _, e := range clientErrors {
		if errors.Is(err, e.err) {
			writeError(w, e.status, e.code, e.message)
			return
		}
	}
	s.internal(w, r, err)
}
