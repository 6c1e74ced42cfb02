package workflows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"

	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/proposals"
)

// Journeys talks to running journeys on behalf of the API.
type Journeys struct {
	Client client.Client
}

// Decide delivers the citizen's decision to the proposal's journey and
// returns the new status. The journey's validator refuses another citizen
// (proposals.ErrNotFound), a proposal no longer pending
// (proposals.ErrNotPending), a decision other than accept or decline
// (proposals.ErrInvalidDecision) and missing or invalid asked values
// (*proposals.AnswerError). Callers
// decide on proposals the read model shows pending, and a proposal is
// stored a moment before its journey starts: a journey not found yet is
// asked again for up to three seconds.
func (j Journeys) Decide(ctx context.Context, citizenID, proposalID string, decision proposals.Decision, answers map[string]string) (proposals.Status, error) {
	for attempt := 0; ; attempt++ {
		st, err := j.decide(ctx, citizenID, proposalID, decision, answers)
		if !errors.Is(err, proposals.ErrNotFound) || attempt == 30 {
			return st, err
		}
		select {
		case <-ctx.Done():
			return st, err
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (j Journeys) decide(ctx context.Context, citizenID, proposalID string, decision proposals.Decision, answers map[string]string) (proposals.Status, error) {
	h, err := j.Client.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{
		WorkflowID: ProposalWorkflowID(proposalID), UpdateName: UpdateDecide,
		Args:         []any{DecisionRequest{CitizenID: citizenID, Decision: decision, Answers: answers}},
		WaitForStage: client.WorkflowUpdateStageCompleted,
	})
	var st proposals.Status
	if err == nil {
		err = h.Get(ctx, &st)
	}
	var notFound *serviceerror.NotFound
	var appErr *temporal.ApplicationError
	switch {
	case err == nil:
		return st, nil
	case errors.As(err, &notFound):
		return "", proposals.ErrNotFound
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeNotFound:
		return "", proposals.ErrNotFound
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeNotPending:
		return "", proposals.ErrNotPending
	case errors.As(err, &appErr) && appErr.Type() == ErrTypeInvalidAnswers:
		field, code, _ := strings.Cut(appErr.Message(), ":")
		return "", &proposals.AnswerError{Field: field, Code: code}
	case errors.As(err, &appErr):
		return "", fmt.Errorf("%w: %s", proposals.ErrInvalidDecision, appErr.Message())
	}
	return "", fmt.Errorf("workflows: decide %s: %w", proposalID, err)
}

// AgencyResult tells the proposal's journey what the agency decided.
func (j Journeys) AgencyResult(ctx context.Context, proposalID, status, note string) error {
	err := j.Client.SignalWorkflow(ctx, ProposalWorkflowID(proposalID), "", SignalAgencyResult, AgencyResult{Status: status, Note: note})
	if err != nil {
		return fmt.Errorf("workflows: agency result for %s: %w", proposalID, err)
	}
	return nil
}

// ProposalsWithdrawn tells the journeys of proposals a consent withdrawal
// took back; a journey that already ended is skipped.
func (j Journeys) ProposalsWithdrawn(ctx context.Context, ws []consent.Withdrawn) error {
	var errs []error
	for _, w := range ws {
		err := j.Client.SignalWorkflow(ctx, ProposalWorkflowID(w.ProposalID), "", SignalWithdraw, Withdrawal{Reason: proposals.ReasonConsentWithdrawn})
		var notFound *serviceerror.NotFound
		if err != nil && !errors.As(err, &notFound) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
