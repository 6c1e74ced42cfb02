package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/proposals"
)

// Consents is the citizen's side of the consent records.
type Consents interface {
	List(ctx context.Context, citizenID string) ([]consent.Consent, error)
	Give(ctx context.Context, citizenID string, r consent.Request) (consent.Consent, []consent.Withdrawn, error)
	Withdraw(ctx context.Context, citizenID, id, method string) (consent.Consent, []consent.Withdrawn, error)
	Receipt(ctx context.Context, citizenID, id string) (consent.Receipt, error)
	Transfers(ctx context.Context, citizenID string) ([]consent.Record, error)
}

// WithdrawalNotifier tells the journeys of withdrawn proposals, so that no
// later step sends anything. Optional.
type WithdrawalNotifier interface {
	ProposalsWithdrawn(ctx context.Context, ws []consent.Withdrawn) error
}

func (s *Server) notifyWithdrawn(r *http.Request, ws []consent.Withdrawn) {
	if len(ws) == 0 || s.deps.Withdrawals == nil {
		return
	}
	if err := s.deps.Withdrawals.ProposalsWithdrawn(r.Context(), ws); err != nil {
		// The read model already shows them withdrawn and the journeys
		// re-check consent before any transfer; log and carry on.
		s.deps.Log.Warn("could not notify journeys of withdrawn proposals", "count", len(ws), "error", err)
	}
}

func (s *Server) listMyConsents(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	items, err := s.deps.Consents.List(r.Context(), p.Subject)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[consent.Consent]{Items: items})
}

func (s *Server) giveConsent(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	var req consent.Request
	if !s.decodeJSON(w, r, &req, 16<<10, true) {
		return
	}
	if req.ProposalID != "" {
		// A consent may name only one of the caller's own proposals; any
		// other id gets the same answer, so nobody learns another's.
		err := proposals.ErrNotFound
		if ValidID(req.ProposalID) {
			_, err = s.deps.Proposals.GetForCitizen(r.Context(), p.Subject, req.ProposalID)
		}
		if errors.Is(err, proposals.ErrNotFound) {
			writeError(w, http.StatusUnprocessableEntity, "unknown_proposal", "proposalId names none of your proposals")
			return
		}
		if err != nil {
			s.internal(w, r, err)
			return
		}
	}
	req.Method = "portal"
	c, withdrawn, err := s.deps.Consents.Give(r.Context(), p.Subject, req)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notifyWithdrawn(r, withdrawn)
	writeJSON(w, http.StatusCreated, c)
}

func (s *Server) withdrawConsent(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	c, withdrawn, err := s.deps.Consents.Withdraw(r.Context(), p.Subject, r.PathValue("id"), "portal")
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.notifyWithdrawn(r, withdrawn)
	ids := make([]string, len(withdrawn))
	for i, x := range withdrawn {
		ids[i] = x.ProposalID
	}
	writeJSON(w, http.StatusOK, map[string]any{"consent": c, "withdrawnProposals": ids})
}

func (s *Server) consentReceipt(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	rc, err := s.deps.Consents.Receipt(r.Context(), p.Subject, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Disposition", `attachment; filename="consent-`+rc.Consent.ID+`.json"`)
	writeJSON(w, http.StatusOK, rc)
}

func (s *Server) listMyTransfers(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	items, err := s.deps.Consents.Transfers(r.Context(), p.Subject)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[consent.Record]{Items: items})
}

// export gives the citizen everything held about them in one document.
func (s *Server) export(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	ctx := r.Context()
	cs, err := s.deps.Consents.List(ctx, p.Subject)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ps, err := s.deps.Proposals.ListForCitizen(ctx, p.Subject, "")
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ts, err := s.deps.Consents.Transfers(ctx, p.Subject)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	ms := []inbox.Message{}
	if s.deps.Messages != nil {
		if ms, err = s.deps.Messages.ListForCitizen(ctx, p.Subject); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	w.Header().Set("Content-Disposition", `attachment; filename="lifeevents-export.json"`)
	writeJSON(w, http.StatusOK, struct {
		CitizenID string               `json:"citizenId"`
		Consents  []consent.Consent    `json:"consents"`
		Proposals []proposals.Proposal `json:"proposals"`
		Transfers []consent.Record     `json:"transfers"`
		Messages  []inbox.Message      `json:"messages"`
	}{p.Subject, cs, ps, ts, s.render(r, ms)})
}
