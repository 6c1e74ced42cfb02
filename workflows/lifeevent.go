// Package workflows holds the durable journeys: one LifeEvent workflow per
// life event, which works out the follow-up services and records a proposal
// for each. Workflows stay deterministic and thin; everything that needs
// data happens in activities.
package workflows

import (
	"time"

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
}

// LifeEvent resolves the follow-up services of one life event and records a
// proposal for each candidate.
func LifeEvent(ctx workflow.Context, in LifeEventInput) (LifeEventResult, error) {
	ctx = workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: time.Minute,
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
	return res, nil
}
