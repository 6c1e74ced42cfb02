package workflows

import (
	"errors"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/lifeevents/lifeevents/proposals"
)

// Names of the Proposal workflow's messages.
const (
	UpdateDecide       = "decide"
	SignalWithdraw     = "withdraw"
	SignalAgencyResult = "agency-result"
	QueryStatus        = "status"
)

// ProposalWorkflowID derives the Proposal workflow id from the proposal id
// (itself a hash: no personal data).
func ProposalWorkflowID(proposalID string) string { return "proposal/" + proposalID }

// ProposalInput starts the journey of one proposal.
type ProposalInput struct {
	Candidate Candidate
	// Siblings are the proposals of the same exclusive service to the
	// other members of the audience.
	Siblings []string
	// AgencyTimeout is how long to wait for the agency before escalating.
	AgencyTimeout time.Duration
}

// DecisionRequest is the citizen's answer, carried by the decide Update.
type DecisionRequest struct {
	CitizenID string
	Decision  proposals.Decision
	// Answers are the values the proposal asks for (fields with Ask),
	// given with an acceptance.
	Answers map[string]string `json:",omitempty"`
}

// Withdrawal asks a pending proposal to stop.
type Withdrawal struct {
	Reason string // proposals.ReasonConsentWithdrawn, ReasonSiblingAccepted, ReasonSuperseded
}

// AgencyResult is the agency's answer to a submission.
type AgencyResult struct {
	Status string // "granted" or "rejected"
	Note   string
}

// Errors the decide Update's validator returns; the API maps them to 404
// and 409. Their type names are what the client sees.
const (
	ErrTypeNotFound   = "proposal_not_found"
	ErrTypeNotPending = "proposal_not_pending"
	// ErrTypeInvalidAnswers: an acceptance without the asked values, or
	// with one that fails its check; the message is "field:code".
	ErrTypeInvalidAnswers = "invalid_answers"
)

// Proposal carries one proposal from the question to the agency's answer.
func Proposal(ctx workflow.Context, in ProposalInput) (proposals.Status, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute},
	})
	var a *Activities
	c := in.Candidate
	status := proposals.StatusPending
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (proposals.Status, error) { return status, nil }); err != nil {
		return status, err
	}

	var decision proposals.Decision
	var answers map[string]string
	var withdrawal *Withdrawal
	if err := workflow.SetUpdateHandlerWithOptions(ctx, UpdateDecide,
		func(ctx workflow.Context, req DecisionRequest) (proposals.Status, error) {
			decision = req.Decision
			if req.Decision == proposals.Accept {
				answers = req.Answers
				return proposals.StatusAccepted, nil
			}
			return proposals.StatusDeclined, nil
		},
		workflow.UpdateHandlerOptions{Validator: func(ctx workflow.Context, req DecisionRequest) error {
			if req.CitizenID != c.CitizenID {
				return temporal.NewApplicationError("no such proposal", ErrTypeNotFound)
			}
			if status != proposals.StatusPending || decision != "" || withdrawal != nil {
				return temporal.NewApplicationError("the proposal is no longer pending", ErrTypeNotPending)
			}
			if !req.Decision.Valid() {
				return temporal.NewApplicationError("decision must be accept or decline", "invalid_decision")
			}
			if req.Decision == proposals.Accept && (proposals.Asks(c.Fields) || len(req.Answers) > 0) {
				var ae *proposals.AnswerError
				if _, err := proposals.Fill(c.Fields, req.Answers); errors.As(err, &ae) {
					return temporal.NewApplicationError(ae.Field+":"+ae.Code, ErrTypeInvalidAnswers)
				}
			}
			return nil
		}},
	); err != nil {
		return status, err
	}
	withdrawCh := workflow.GetSignalChannel(ctx, SignalWithdraw)

	var auto bool
	if err := workflow.ExecuteActivity(ctx, a.AutoApply, c).Get(ctx, &auto); err != nil {
		return status, err
	}
	if auto {
		decision = proposals.Accept
	}

	// Wait for the decision, reminding once before the deadline.
	deadline := workflow.Now(ctx).Add(c.DecideIn)
	remindCtx, cancelRemind := workflow.WithCancel(ctx)
	if c.RemindBefore > 0 && c.RemindBefore < c.DecideIn && decision == "" {
		workflow.Go(remindCtx, func(gctx workflow.Context) {
			if err := workflow.Sleep(gctx, c.DecideIn-c.RemindBefore); err == nil {
				_ = workflow.ExecuteActivity(gctx, a.Remind, c).Get(gctx, nil)
			}
		})
	}
	workflow.Go(ctx, func(gctx workflow.Context) {
		var w Withdrawal
		withdrawCh.Receive(gctx, &w)
		if withdrawal == nil {
			withdrawal = &w
		}
	})
	ok, err := workflow.AwaitWithTimeout(ctx, deadline.Sub(workflow.Now(ctx)), func() bool {
		return decision != "" || withdrawal != nil
	})
	cancelRemind()
	if err != nil {
		return status, err
	}
	// finish ends the journey with the proposal's outcome: s, or the final
	// status a withdrawal recorded before (histories from before the
	// activity returned it carry no result, and s stands).
	finish := func(s proposals.Status, reason string) (proposals.Status, error) {
		var now proposals.Status
		err := workflow.ExecuteActivity(ctx, a.SetStatus, StatusChange{Candidate: c, Status: s, Reason: reason}).Get(ctx, &now)
		if now != "" {
			s = now
		}
		status = s
		return s, err
	}
	switch {
	case withdrawal != nil && decision != proposals.Accept:
		return finish(proposals.StatusWithdrawn, withdrawal.Reason)
	case !ok:
		return finish(proposals.StatusExpired, proposals.ReasonDeadline)
	case decision == proposals.Decline:
		return finish(proposals.StatusDeclined, "")
	}

	// Accepted (by the citizen, or on a standing consent).
	if len(in.Siblings) > 0 {
		var won bool
		if err := workflow.ExecuteActivity(ctx, a.ClaimExclusive, c).Get(ctx, &won); err != nil {
			return status, err
		}
		if !won {
			return finish(proposals.StatusWithdrawn, proposals.ReasonSiblingAccepted)
		}
		for _, sib := range in.Siblings {
			// A sibling that already ended has nothing to withdraw.
			_ = workflow.SignalExternalWorkflow(ctx, ProposalWorkflowID(sib), "", SignalWithdraw, Withdrawal{Reason: proposals.ReasonSiblingAccepted}).Get(ctx, nil)
		}
	}
	status = proposals.StatusAccepted
	// The values the citizen gave travel with the application. Only
	// proposals that ask reach the version marker, so histories of those
	// that do not replay as before.
	if proposals.Asks(c.Fields) && workflow.GetVersion(ctx, "decision-answers", workflow.DefaultVersion, 1) == 1 {
		filled, err := proposals.Fill(c.Fields, answers)
		if err != nil { // the Update's validator let no such acceptance in
			return finish(proposals.StatusFailed, proposals.ReasonAnswersMissing)
		}
		c.Fields = filled
	}
	if err := workflow.ExecuteActivity(ctx, a.Accept, AcceptRequest{Candidate: c, Automatic: auto}).Get(ctx, nil); err != nil {
		return status, err
	}
	// Consent, policy and the transfer log are checked again at the moment
	// of transfer, in the transaction that creates the submission.
	var submitted bool
	err = workflow.ExecuteActivity(ctx, a.Submit, c).Get(ctx, &submitted)
	var appErr *temporal.ApplicationError
	if errors.As(err, &appErr) && appErr.Type() == ErrTypeNoBasis {
		return finish(proposals.StatusWithdrawn, proposals.ReasonConsentWithdrawn)
	}
	if err != nil {
		return finish(proposals.StatusFailed, proposals.ReasonSubmission)
	}
	status = proposals.StatusSubmitted
	// Webhook delivery came after the first release.
	if workflow.GetVersion(ctx, "deliver-webhook", workflow.DefaultVersion, 1) == 1 {
		dctx := workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
			StartToCloseTimeout: time.Minute,
			RetryPolicy: &temporal.RetryPolicy{InitialInterval: 5 * time.Second, BackoffCoefficient: 2,
				MaximumInterval: time.Hour, MaximumAttempts: 50},
		})
		if err := workflow.ExecuteActivity(dctx, a.Deliver, c).Get(ctx, nil); err != nil {
			return finish(proposals.StatusFailed, "the agency refused the delivery")
		}
	}

	// Wait for the agency, escalate once, then give up with a reason.
	resultCh := workflow.GetSignalChannel(ctx, SignalAgencyResult)
	timeout := in.AgencyTimeout
	if timeout <= 0 {
		timeout = 14 * 24 * time.Hour
	}
	for attempt := 0; attempt < 2; attempt++ {
		var res AgencyResult
		got := false
		sel := workflow.NewSelector(ctx)
		sel.AddReceive(resultCh, func(ch workflow.ReceiveChannel, _ bool) { ch.Receive(ctx, &res); got = true })
		sel.AddFuture(workflow.NewTimer(ctx, timeout), func(workflow.Future) {})
		sel.Select(ctx)
		if !got && workflow.GetVersion(ctx, "check-recorded-result", workflow.DefaultVersion, 1) == 1 {
			// The agency's answer may be recorded while its signal was lost
			// (a crash between the two): look before escalating.
			if err := workflow.ExecuteActivity(ctx, a.RecordedResult, c).Get(ctx, &res); err != nil {
				return status, err
			}
			got = res.Status != ""
		}
		if got {
			s := proposals.StatusGranted
			if res.Status == "rejected" {
				s = proposals.StatusRejected
			}
			return finish(s, res.Note)
		}
		if attempt == 0 {
			if err := workflow.ExecuteActivity(ctx, a.Escalate, c).Get(ctx, nil); err != nil {
				return status, err
			}
		}
	}
	return finish(proposals.StatusFailed, "the agency did not answer")
}

func proposalID(c Candidate) string { return proposals.ID(c.LifeEventID, c.Service, c.CitizenID) }
