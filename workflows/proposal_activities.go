package workflows

import (
	"context"
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/proposals"
)

// ErrTypeNoBasis marks a transfer refused at the moment of transfer: the
// consent was withdrawn or the policy changed after the citizen accepted.
const ErrTypeNoBasis = "no_basis_for_transfer"

// StatusStore moves proposals through their statuses.
type StatusStore interface {
	// SetStatus returns the status the proposal has afterwards: a final
	// one reached first (a withdrawal) stays.
	SetStatus(ctx context.Context, id string, status proposals.Status, reason string) (proposals.Status, error)
	ClaimExclusive(ctx context.Context, lifeEventID, service, proposalID string) (bool, error)
	Superseded(ctx context.Context, lifeEventID string, citizens []string) ([]string, error)
}

// SupersedeRequest names a move and the people it moves.
type SupersedeRequest struct {
	LifeEventID string
	Citizens    []string
}

// Supersede finds the pending proposals of earlier moves of these citizens;
// the workflow then asks their journeys to withdraw.
func (a *Activities) Supersede(ctx context.Context, r SupersedeRequest) ([]string, error) {
	return a.Statuses.Superseded(ctx, r.LifeEventID, r.Citizens)
}

// Consents gives the per-proposal consent and knows standing ones.
type Consents interface {
	Give(ctx context.Context, citizenID string, r consent.Request) (consent.Consent, []consent.Withdrawn, error)
	ForProposal(ctx context.Context, citizenID, proposalID string) (string, bool, error)
	StandingCovers(ctx context.Context, citizenID, service, recipient string, fields []string) (bool, error)
}

// Submissions authorise, log and record a transfer to an agency.
type Submissions interface {
	Submit(ctx context.Context, t consent.Transfer, application any) (agencies.Submission, error)
	ForProposal(ctx context.Context, proposalID string) (agencies.Submission, error)
}

// Deliverer hands a recorded submission to its agency (webhook push; agencies
// that pull need nothing).
type Deliverer interface {
	Deliver(ctx context.Context, sub agencies.Submission) error
}

// RecordedResult returns the agency's answer if the submission has one.
func (a *Activities) RecordedResult(ctx context.Context, c Candidate) (AgencyResult, error) {
	sub, err := a.Submissions.ForProposal(ctx, proposalID(c))
	if errors.Is(err, agencies.ErrNotFound) || (err == nil && sub.Status == "open") {
		return AgencyResult{}, nil
	}
	if err != nil {
		return AgencyResult{}, err
	}
	return AgencyResult{Status: sub.Status, Note: sub.Note}, nil
}

// Deliver pushes the submission to agencies with a webhook; transient
// failures are retried by Temporal with backoff, a refusal is final.
func (a *Activities) Deliver(ctx context.Context, c Candidate) error {
	if a.Deliverer == nil {
		return nil
	}
	sub, err := a.Submissions.ForProposal(ctx, proposalID(c))
	if err != nil {
		return err
	}
	err = a.Deliverer.Deliver(ctx, sub)
	if errors.Is(err, agencies.ErrRefused) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "delivery_refused", err)
	}
	return err
}

// StatusChange is a proposal reaching a new status.
type StatusChange struct {
	Candidate Candidate
	Status    proposals.Status
	Reason    string
}

// AcceptRequest records the citizen's acceptance.
type AcceptRequest struct {
	Candidate Candidate
	Automatic bool
}

func fieldNames(fs []proposals.Field) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Name
	}
	return out
}

// AutoApply reports whether the service may be applied for without asking:
// the catalog allows it and a standing consent covers the preview.
func (a *Activities) AutoApply(ctx context.Context, c Candidate) (bool, error) {
	if !c.AutoApply || c.Basis.Kind != proposals.BasisConsent || a.Consents == nil || proposals.Asks(c.Fields) {
		// A proposal that asks the citizen for a value waits for them.
		return false, nil
	}
	return a.Consents.StandingCovers(ctx, c.CitizenID, c.Service, c.Recipient.ID, fieldNames(c.Fields))
}

// Remind tells the citizen the deadline is near.
func (a *Activities) Remind(ctx context.Context, c Candidate) error {
	id := proposalID(c)
	return a.Inbox.Send(ctx, inbox.Message{ID: inbox.ID(id, "reminder"), CitizenID: c.CitizenID, Kind: "reminder", ProposalID: id,
		Key: "reminder", Args: serviceArgs(c)})
}

// Escalate tells the citizen (and the logs) that an agency is late.
func (a *Activities) Escalate(ctx context.Context, c Candidate) error {
	id := proposalID(c)
	return a.Inbox.Send(ctx, inbox.Message{ID: inbox.ID(id, "escalated"), CitizenID: c.CitizenID, Kind: "escalation", ProposalID: id,
		Key: "escalated", Args: serviceArgs(c)})
}

// serviceArgs are what every message about a proposal may mention; the
// texts themselves are the catalogs' (package texts), in the reader's
// language.
func serviceArgs(c Candidate) map[string]string {
	return map[string]string{"service": c.Service, "serviceName": c.ServiceName, "recipient": c.Recipient.Name}
}

// SetStatus records the proposal's new status and tells the citizen, and
// returns the proposal's outcome: the status asked for, or the final one a
// withdrawal recorded first (the citizen was told of that one then).
func (a *Activities) SetStatus(ctx context.Context, ch StatusChange) (proposals.Status, error) {
	id := proposalID(ch.Candidate)
	now, err := a.Statuses.SetStatus(ctx, id, ch.Status, ch.Reason)
	if errors.Is(err, proposals.ErrTransition) {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "invalid_transition", err)
	}
	if err != nil {
		return "", err
	}
	if now != ch.Status {
		return now, nil
	}
	key, args := "status."+string(ch.Status), serviceArgs(ch.Candidate)
	switch ch.Reason {
	case proposals.ReasonSiblingAccepted, proposals.ReasonSuperseded:
		key = "status." + ch.Reason
	case "":
	default:
		if ch.Status == proposals.StatusRejected || ch.Status == proposals.StatusFailed {
			args["reason"] = ch.Reason
		}
	}
	return now, a.Inbox.Send(ctx, inbox.Message{ID: inbox.ID(id, string(ch.Status)), CitizenID: ch.Candidate.CitizenID, Kind: "status",
		ProposalID: id, Key: key, Args: args})
}

// ClaimExclusive claims an exclusive service for this proposal.
func (a *Activities) ClaimExclusive(ctx context.Context, c Candidate) (bool, error) {
	return a.Statuses.ClaimExclusive(ctx, c.LifeEventID, c.Service, proposalID(c))
}

// Accept records the acceptance: the status, then the per-proposal consent
// covering exactly the preview's fields (where the service rests on
// consent). A proposal a withdrawal ended first gets no consent: its
// submission is refused and the journey ends withdrawn.
func (a *Activities) Accept(ctx context.Context, r AcceptRequest) error {
	c := r.Candidate
	id := proposalID(c)
	now, err := a.Statuses.SetStatus(ctx, id, proposals.StatusAccepted, "")
	if errors.Is(err, proposals.ErrTransition) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "invalid_transition", err)
	}
	if err != nil || now != proposals.StatusAccepted {
		return err
	}
	if c.Basis.Kind == proposals.BasisConsent && !r.Automatic {
		_, exists, err := a.Consents.ForProposal(ctx, c.CitizenID, id)
		if err != nil {
			return err
		}
		if !exists {
			_, _, err := a.Consents.Give(ctx, c.CitizenID, consent.Request{Kind: consent.KindProposal, Purpose: c.Service,
				Recipient: c.Recipient.ID, Fields: fieldNames(c.Fields), ProposalID: id, Method: "proposal-accept"})
			var inv *consent.InvalidError
			if errors.As(err, &inv) {
				return temporal.NewNonRetryableApplicationError(inv.Error(), "invalid_consent", err)
			}
			if err != nil {
				return err
			}
		}
	}
	if r.Automatic {
		return a.Inbox.Send(ctx, inbox.Message{ID: inbox.ID(id, "auto"), CitizenID: c.CitizenID, Kind: "automatic", ProposalID: id,
			Key: "automatic", Args: serviceArgs(c)})
	}
	return nil
}

// Submit transfers the pre-filled application to the agency: consent and
// policy are checked again at this moment, and the transfer is logged, in
// the transaction that records the submission.
func (a *Activities) Submit(ctx context.Context, c Candidate) (bool, error) {
	id := proposalID(c)
	values := map[string]any{}
	for _, f := range c.Fields {
		values[f.Name] = f.Value
	}
	_, err := a.Submissions.Submit(ctx, consent.Transfer{
		CitizenID: c.CitizenID, ProposalID: id, Service: c.Service, Municipality: c.Municipality,
		Recipient: c.Recipient.ID, Purpose: c.Service, BasisKind: c.Basis.Kind, BasisReference: c.Basis.Reference,
		Fields: fieldNames(c.Fields),
	}, map[string]any{"proposalId": id, "service": c.Service, "citizenId": c.CitizenID, "fields": values})
	// A withdrawal that came first leaves no ground for the transfer
	// either: the journey ends the proposal as withdrawn.
	if errors.Is(err, consent.ErrNoConsent) || errors.Is(err, consent.ErrPolicyDenied) || errors.Is(err, proposals.ErrNotAccepted) {
		return false, temporal.NewNonRetryableApplicationError(err.Error(), ErrTypeNoBasis, err)
	}
	if err != nil {
		return false, fmt.Errorf("submit: %w", err)
	}
	return true, nil
}
