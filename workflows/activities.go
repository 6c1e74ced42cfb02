package workflows

import (
	"context"
	"fmt"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/proposals"
)

// Life event statuses as operators see them.
const (
	StatusReceived = "received"
	StatusProposed = "proposed"
)

// ProposalStore records proposals; creating an existing one is a no-op.
type ProposalStore interface {
	Create(ctx context.Context, p proposals.Proposal) (bool, error)
}

// EventLog records where each life event stands.
type EventLog interface {
	Record(ctx context.Context, e events.Status) error
}

// Activities hold the dependencies of the journey's activities.
type Activities struct {
	Proposals ProposalStore
	Events    EventLog
	Now       func() time.Time
}

// Candidate is one follow-up service for one citizen, with everything the
// proposal shows.
type Candidate struct {
	LifeEventID string
	CitizenID   string
	Service     string
	Recipient   proposals.Recipient
	Purpose     string
	Basis       proposals.Basis
	Fields      []proposals.Field
	DecideIn    time.Duration
}

// nonRetryable marks input that no retry can fix.
func nonRetryable(err error) error {
	return temporal.NewNonRetryableApplicationError(err.Error(), "invalid_input", err)
}

// RecordLifeEvent upserts the operator-facing status of the event.
func (a *Activities) RecordLifeEvent(ctx context.Context, in LifeEventInput, status string) error {
	if err := a.Events.Record(ctx, events.Status{
		ID: in.EventID, Type: in.Type, Source: in.Source, WorkflowID: WorkflowID(in.EventID), Status: status,
	}); err != nil {
		return fmt.Errorf("record life event %s: %w", in.EventID, err)
	}
	return nil
}

// ResolveCandidates works out which services the event triggers for whom.
//
// This is the walking skeleton's fixed rule set (waste bins after a move,
// child benefit after a birth); the policy-driven catalog replaces it.
func (a *Activities) ResolveCandidates(ctx context.Context, in LifeEventInput) ([]Candidate, error) {
	e, err := events.Decode(in.Event, nil, a.Now())
	if err != nil {
		return nil, nonRetryable(fmt.Errorf("decode life event %s: %w", in.EventID, err))
	}
	switch {
	case e.Move != nil:
		m := e.Move
		return []Candidate{{
			LifeEventID: e.ID, CitizenID: m.CitizenID, Service: "waste-bins",
			Recipient: proposals.Recipient{ID: "waste-" + m.To.Municipality, Name: "Abfallwirtschaft " + m.To.City},
			Purpose:   "Abfallbehälter für den neuen Haushalt bestellen",
			Basis:     proposals.Basis{Kind: "consent", Reference: "proactive-offers"},
			Fields: []proposals.Field{
				{Name: "address", Category: "address", Value: fmt.Sprintf("%s %s, %s %s", m.To.Street, m.To.HouseNumber, m.To.PostalCode, m.To.City)},
				{Name: "householdSize", Category: "household", Value: len(m.Household)},
				{Name: "movedOn", Category: "registration", Value: m.MovedOn.String()},
			},
			DecideIn: 14 * 24 * time.Hour,
		}}, nil
	case e.Birth != nil:
		b := e.Birth
		return []Candidate{{
			LifeEventID: e.ID, CitizenID: b.Parents[0].CitizenID, Service: "child-benefit",
			Recipient: proposals.Recipient{ID: "familienkasse", Name: "Familienkasse"},
			Purpose:   "Kindergeld beantragen",
			Basis:     proposals.Basis{Kind: "consent", Reference: "proactive-offers"},
			Fields: []proposals.Field{
				{Name: "childBirthDate", Category: "civil-status", Value: b.BirthDate.String()},
				{Name: "birthPlace", Category: "civil-status", Value: b.BirthPlace},
			},
			DecideIn: 28 * 24 * time.Hour,
		}}, nil
	}
	return nil, nil
}

// CreateProposal stores the candidate as a pending proposal and returns its
// id. Its id derives from the candidate, so a retry after a crash finds the
// row it wrote before instead of adding a second one.
func (a *Activities) CreateProposal(ctx context.Context, c Candidate) (string, error) {
	id := proposals.ID(c.LifeEventID, c.Service, c.CitizenID)
	deadline := a.Now().Add(c.DecideIn).UTC()
	_, err := a.Proposals.Create(ctx, proposals.Proposal{
		ID: id, LifeEventID: c.LifeEventID, CitizenID: c.CitizenID, Service: c.Service,
		Status: proposals.StatusPending, Recipient: c.Recipient, Purpose: c.Purpose, Basis: c.Basis,
		Fields: c.Fields, Deadline: &deadline,
	})
	if err != nil {
		return "", fmt.Errorf("create proposal: %w", err)
	}
	return id, nil
}
