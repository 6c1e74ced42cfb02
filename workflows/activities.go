package workflows

import (
	"context"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeevents/lifeevents/candidates"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/proposals"
)

// Life event statuses as operators see them.
const (
	StatusReceived  = "received"
	StatusProposed  = "proposed"
	StatusCompleted = "completed"
)

// ProposalStore records proposals; creating an existing one is a no-op.
type ProposalStore interface {
	Create(ctx context.Context, p proposals.Proposal) (bool, error)
}

// EventLog records where each life event stands.
type EventLog interface {
	Record(ctx context.Context, e events.Status) error
}

// The rules' interfaces are the candidates package's: the journeys, the
// simulator and the tests resolve candidates with one implementation.
type (
	Policies    = candidates.Policies
	DecisionLog = candidates.DecisionLog
	Registry    = candidates.Registry
	Offers      = candidates.Offers
	// Candidate and Notice travel in workflow histories; their encoding is
	// the candidates package's, unchanged.
	Candidate = candidates.Candidate
	Notice    = candidates.Notice
)

// Inbox delivers messages to citizens; sending one twice is a no-op.
type Inbox interface {
	Send(ctx context.Context, m inbox.Message) error
}

// Activities hold the dependencies of the journey's activities.
type Activities struct {
	Proposals ProposalStore
	Events    EventLog
	Policies  Policies
	Decisions DecisionLog
	Registry  Registry
	Inbox     Inbox
	// Offers may be nil: then every citizen receives offers.
	Offers      Offers
	OffersOptIn bool
	Statuses    StatusStore
	Consents    Consents
	Submissions Submissions
	Deliverer   Deliverer
	// TimeScale multiplies every duration of the journeys (deadlines,
	// reminders, agency timeouts); 0 means 1.
	TimeScale     float64
	AgencyTimeout time.Duration
	Now           func() time.Time
}

func (a *Activities) scaled(d time.Duration) time.Duration {
	if a.TimeScale <= 0 {
		return d
	}
	return time.Duration(float64(d) * a.TimeScale)
}

// Resolution is what a life event leads to.
type Resolution struct {
	Candidates    []Candidate
	Notices       []Notice
	AgencyTimeout time.Duration
	// Movers are the people a move moves (empty for a birth).
	Movers []string
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

// ResolveCandidates decodes the event and resolves its candidates with the
// rules of the candidates package.
func (a *Activities) ResolveCandidates(ctx context.Context, in LifeEventInput) (Resolution, error) {
	e, err := events.Decode(in.Event, nil, a.Now())
	if err != nil {
		return Resolution{}, nonRetryable(fmt.Errorf("decode life event %s: %w", in.EventID, err))
	}
	r, err := a.resolver().Resolve(ctx, e)
	if err != nil {
		return Resolution{}, err
	}
	return Resolution{Candidates: r.Candidates, Notices: r.Notices, Movers: r.Movers, AgencyTimeout: a.scaled(a.AgencyTimeout)}, nil
}

// resolver is the candidate resolution the activity runs (unexported: every
// exported method of Activities is registered as an activity).
func (a *Activities) resolver() candidates.Resolver {
	return candidates.Resolver{
		Policies: a.Policies, Registry: a.Registry, Offers: a.Offers, OffersOptIn: a.OffersOptIn,
		Decisions: a.Decisions, Scale: a.scaled,
	}
}

// CreateProposal stores the candidate as a pending proposal with an inbox
// message and returns its id. Ids derive from the candidate, so a retry
// after a crash finds the rows it wrote before instead of adding more.
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
	err = a.Inbox.Send(ctx, inbox.Message{
		ID: inbox.ID(id, "proposed"), CitizenID: c.CitizenID, Kind: inbox.KindProposal, ProposalID: id,
		Key: "proposed", Args: map[string]string{"service": c.Service, "serviceName": c.ServiceName,
			"recipient": c.Recipient.Name, "deadline": deadline.Format(time.RFC3339)},
	})
	if err != nil {
		return "", err
	}
	return id, nil
}

// SendNotice tells the citizen what could not be decided and how to apply
// by hand, or that offers await them once they allow them.
func (a *Activities) SendNotice(ctx context.Context, n Notice) error {
	if n.OffersNotAllowed {
		return a.Inbox.Send(ctx, inbox.Message{
			ID: inbox.ID(n.LifeEventID, n.CitizenID, "offers"), CitizenID: n.CitizenID, Kind: inbox.KindOffersNotAllowed,
			Key: "offers_not_allowed",
		})
	}
	return a.Inbox.Send(ctx, inbox.Message{
		ID: inbox.ID(n.LifeEventID, n.Service, n.CitizenID, "unknown"), CitizenID: n.CitizenID, Kind: inbox.KindEligibilityUnknown,
		Key: "eligibility_unknown", Args: map[string]string{"service": n.Service, "serviceName": n.ServiceName,
			"recipient": n.Recipient, "missing": strings.Join(n.Missing, ",")},
	})
}
