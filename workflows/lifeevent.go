// Package workflows holds the durable journeys: one LifeEvent workflow per
// life event, which works out the follow-up services and records a proposal
// for each. Workflows stay deterministic and thin; everything that needs
// data happens in activities.
package workflows

import (
	"time"

	enumspb "go.temporal.io/api/enums/v1"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/proposals"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// TaskQueue the worker polls.
const TaskQueue = "lifeevents"

// WorkflowID derives the LifeEvent workflow id from the event id: one event,
// one workflow, and no personal data in the id.
func WorkflowID(eventID string) string { return "lifeevent/" + eventID }

// LifeEventInput starts a journey.
type LifeEventInput struct {
	EventID string
	Type    string
	Source  string
	// Event is the validated event, structured-mode encoded.
	Event []byte
}

// LifeEventResult says what the journey produced.
type LifeEventResult struct {
	Proposals []string
	// Final statuses of the proposals, in the same order.
	Final []string
}

// LifeEvent resolves the follow-up services of one life event and records a
// proposal for each candidate.
func LifeEvent(ctx workflow.Context, in LifeEventInput) (LifeEventResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy: &temporal.RetryPolicy{
			InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: time.Minute,
		},
	})
	var a *Activities
	if err := workflow.ExecuteActivity(ctx, a.RecordLifeEvent, in, StatusReceived).Get(ctx, nil); err != nil {
		return LifeEventResult{}, err
	}
	var resolved Resolution
	if err := workflow.ExecuteActivity(ctx, a.ResolveCandidates, in).Get(ctx, &resolved); err != nil {
		return LifeEventResult{}, err
	}
	var res LifeEventResult
	for _, c := range resolved.Candidates {
		var id string
		if err := workflow.ExecuteActivity(ctx, a.CreateProposal, c).Get(ctx, &id); err != nil {
			return res, err
		}
		res.Proposals = append(res.Proposals, id)
	}
	for _, n := range resolved.Notices {
		if err := workflow.ExecuteActivity(ctx, a.SendNotice, n).Get(ctx, nil); err != nil {
			return res, err
		}
	}
	if err := workflow.ExecuteActivity(ctx, a.RecordLifeEvent, in, StatusProposed).Get(ctx, nil); err != nil {
		return res, err
	}

	// A newer move supersedes what an earlier, unfinished one proposed.
	// Added after the first release: histories from before replay without it.
	if v := workflow.GetVersion(ctx, "supersede-earlier-moves", workflow.DefaultVersion, 1); v == 1 && in.Type == events.TypeMove {
		var old []string
		if err := workflow.ExecuteActivity(ctx, a.Supersede, SupersedeRequest{LifeEventID: in.EventID, Citizens: resolved.Movers}).Get(ctx, &old); err != nil {
			return res, err
		}
		for _, id := range old {
			// A journey that already ended has nothing to withdraw.
			_ = workflow.SignalExternalWorkflow(ctx, ProposalWorkflowID(id), "", SignalWithdraw, Withdrawal{Reason: proposals.ReasonSuperseded}).Get(ctx, nil)
		}
	}

	// One Proposal workflow per candidate carries it to its end.
	var children []workflow.ChildWorkflowFuture
	for i, c := range resolved.Candidates {
		var siblings []string
		if c.Exclusive {
			for j, o := range resolved.Candidates {
				if j != i && o.Service == c.Service {
					siblings = append(siblings, res.Proposals[j])
				}
			}
		}
		cctx := workflow.WithChildOptions(ctx, workflow.ChildWorkflowOptions{
			WorkflowID:            ProposalWorkflowID(res.Proposals[i]),
			WorkflowIDReusePolicy: enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		})
		children = append(children, workflow.ExecuteChildWorkflow(cctx, Proposal,
			ProposalInput{Candidate: c, Siblings: siblings, AgencyTimeout: resolved.AgencyTimeout}))
	}
	for _, ch := range children {
		var st proposals.Status
		_ = ch.Get(ctx, &st) // a failed proposal has recorded its own status
		res.Final = append(res.Final, string(st))
	}
	if err := workflow.ExecuteActivity(ctx, a.RecordLifeEvent, in, StatusCompleted).Get(ctx, nil); err != nil {
		return res, err
	}
	return res, nil
}
