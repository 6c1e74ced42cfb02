package workflows

import (
	"context"
	"errors"
	"fmt"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"

	"github.com/lifeevents/lifeevents/events"
)

// Starter starts journeys on a Temporal cluster.
type Starter struct {
	Client client.Client
}

// StartLifeEvent starts the LifeEvent workflow of the event. An event that
// already started its workflow (a redelivery, a replay, a duplicate) is a
// success and starts nothing: the workflow id is the guard.
func (s Starter) StartLifeEvent(ctx context.Context, e events.Event) error {
	raw, err := events.Encode(e)
	if err != nil {
		return fmt.Errorf("workflows: encode event %s: %w", e.ID, err)
	}
	_, err = s.Client.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID:        WorkflowID(e.ID),
		TaskQueue: TaskQueue,
		// A closed journey is never started again for the same event, and a
		// running one is left alone.
		WorkflowIDReusePolicy:    enumspb.WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
		WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
	}, LifeEvent, LifeEventInput{EventID: e.ID, Type: e.Type, Source: e.Source, Event: raw})
	var started *serviceerror.WorkflowExecutionAlreadyStarted
	if errors.As(err, &started) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("workflows: start %s: %w", WorkflowID(e.ID), err)
	}
	return nil
}
