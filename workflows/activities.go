package workflows

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
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

// Policies decide eligibility from the active catalog.
type Policies interface {
	Catalog() policies.Catalog
	Eligibility(ctx context.Context, service string, input map[string]any) (policies.Decision, error)
}

// DecisionLog keeps the audit record of each decision.
type DecisionLog interface {
	Record(ctx context.Context, query string, d policies.Decision) error
}

// Registry looks up what the registers know about a citizen at an address.
type Registry interface {
	Lookup(ctx context.Context, citizenID, municipality, street string) (registries.Facts, error)
}

// Inbox delivers messages to citizens; sending one twice is a no-op.
type Inbox interface {
	Send(ctx context.Context, m inbox.Message) error
}

// Offers says whether a citizen may receive proactive offers: in an
// opt-out district unless they objected, in an opt-in one only with their
// consent.
type Offers interface {
	OffersAllowed(ctx context.Context, citizenID string, optIn bool) (bool, error)
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

// Candidate is one follow-up service for one citizen, with everything the
// proposal shows.
type Candidate struct {
	LifeEventID string
	CitizenID   string
	Service     string
	ServiceName string
	Recipient   proposals.Recipient
	Purpose     string
	Basis       proposals.Basis
	Fields      []proposals.Field
	DecideIn    time.Duration
	// RemindBefore the deadline; 0 for no reminder.
	RemindBefore time.Duration
	Municipality string
	AutoApply    bool
	Exclusive    bool
}

// Notice tells a citizen about a service the system could not decide for
// them, so they can apply by hand: never a silent drop.
type Notice struct {
	LifeEventID string
	CitizenID   string
	Service     string
	ServiceName string
	Recipient   string
	Missing     []string
	// OffersNotAllowed: there are offers, but the citizen has not allowed
	// proactive offers (objected, or an opt-in district without consent).
	OffersNotAllowed bool
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

// subject is one person a service may be offered to.
type subject struct {
	CitizenID string
	Role      string
}

// audience lists who in the event a service is for.
func audience(e events.Event, who string) []subject {
	var out []subject
	switch {
	case e.Move != nil:
		switch who {
		case "mover", "household":
			out = append(out, subject{e.Move.CitizenID, events.RoleAdult})
		case "adults":
			for _, m := range e.Move.Household {
				if m.Role == events.RoleAdult {
					out = append(out, subject{m.CitizenID, m.Role})
				}
			}
		}
	case e.Birth != nil && who == "parents":
		for _, p := range e.Birth.Parents {
			out = append(out, subject{p.CitizenID, "parent"})
		}
	}
	return out
}

// place is where the services of the event are provided.
func place(e events.Event) (municipality, street string) {
	if e.Move != nil {
		return e.Move.To.Municipality, e.Move.To.Street
	}
	return e.Birth.Municipality, ""
}

// toMap renders v as the generic JSON document the policies and the field
// sources read.
func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// ResolveCandidates works out which catalog services the event triggers
// for whom: each service's audience, the registers' facts about each
// person, and the service's eligibility policy. Services the policy cannot
// decide for lack of data become notices.
func (a *Activities) ResolveCandidates(ctx context.Context, in LifeEventInput) (Resolution, error) {
	e, err := events.Decode(in.Event, nil, a.Now())
	if err != nil {
		return Resolution{}, nonRetryable(fmt.Errorf("decode life event %s: %w", in.EventID, err))
	}
	municipality, street := place(e)
	eventDoc := map[string]any{"type": e.Type, "data": toMap(e.Data())}
	facts := map[string]registries.Facts{}
	allowed := map[string]bool{}
	res := Resolution{AgencyTimeout: a.scaled(a.AgencyTimeout)}
	if e.Move != nil {
		for _, m := range e.Move.Household {
			res.Movers = append(res.Movers, m.CitizenID)
		}
	}
	for _, svc := range a.Policies.Catalog().TriggeredBy(e.Type) {
		for _, sub := range audience(e, svc.Audience) {
			ok, seen := allowed[sub.CitizenID]
			if !seen {
				ok = true
				if a.Offers != nil {
					if ok, err = a.Offers.OffersAllowed(ctx, sub.CitizenID, a.OffersOptIn); err != nil {
						return Resolution{}, fmt.Errorf("offers allowed: %w", err)
					}
				}
				allowed[sub.CitizenID] = ok
				if !ok {
					res.Notices = append(res.Notices, Notice{LifeEventID: e.ID, CitizenID: sub.CitizenID, OffersNotAllowed: true})
				}
			}
			if !ok {
				continue
			}
			f, ok := facts[sub.CitizenID]
			if !ok {
				if f, err = a.Registry.Lookup(ctx, sub.CitizenID, municipality, street); err != nil {
					return Resolution{}, fmt.Errorf("registry lookup: %w", err)
				}
				facts[sub.CitizenID] = f
			}
			subjectDoc := map[string]any{"citizenId": sub.CitizenID, "role": sub.Role}
			registryDoc := toMap(f)
			registryDoc["vehicle"] = firstCar(f.Vehicles)
			input := map[string]any{"event": eventDoc, "subject": subjectDoc, "registry": registryDoc}
			d, err := a.Policies.Eligibility(ctx, svc.ID, input)
			if errors.Is(err, policies.ErrUnknownService) {
				continue // removed from the catalog by a reload meanwhile
			}
			if err != nil {
				return Resolution{}, fmt.Errorf("eligibility of %s: %w", svc.ID, err)
			}
			if err := a.Decisions.Record(ctx, "data."+svc.Policy+".decision", d); err != nil {
				return Resolution{}, err
			}
			recipient := svc.RecipientFor(municipality)
			notice := Notice{LifeEventID: e.ID, CitizenID: sub.CitizenID, Service: svc.ID, ServiceName: svc.Name["de"], Recipient: recipient.Name}
			if !d.Allow {
				for _, r := range d.Reasons {
					if m, ok := strings.CutPrefix(r, "missing_"); ok {
						notice.Missing = append(notice.Missing, m)
					}
				}
				if len(notice.Missing) > 0 {
					res.Notices = append(res.Notices, notice)
				}
				continue
			}
			doc := map[string]any{"event": eventDoc["data"], "subject": subjectDoc, "registry": registryDoc, "decision": d.Values}
			c := Candidate{
				LifeEventID: e.ID, CitizenID: sub.CitizenID, Service: svc.ID, ServiceName: svc.Name["de"],
				Recipient: proposals.Recipient{ID: recipient.ID, Name: recipient.Name},
				Purpose:   svc.Purpose, Basis: proposals.Basis{Kind: svc.Basis.Kind, Reference: svc.Basis.Reference},
				DecideIn:     a.scaled(time.Duration(svc.DecisionDays) * 24 * time.Hour),
				RemindBefore: a.scaled(time.Duration(svc.ReminderDays) * 24 * time.Hour),
				Municipality: municipality, AutoApply: svc.AutoApply, Exclusive: svc.Exclusive,
			}
			allowed := map[string]bool{}
			for _, name := range d.Fields {
				allowed[name] = true
			}
			for _, fld := range svc.Fields {
				if fld.Optional || !allowed[fld.Name] {
					continue // optional data only ever on its own consent
				}
				v, ok := resolve(doc, fld.Source)
				if !ok {
					notice.Missing = append(notice.Missing, fld.Name)
					continue
				}
				c.Fields = append(c.Fields, proposals.Field{Name: fld.Name, Category: fld.Category, Value: v})
			}
			if len(notice.Missing) > 0 {
				res.Notices = append(res.Notices, notice)
				continue
			}
			res.Candidates = append(res.Candidates, c)
		}
	}
	return res, nil
}

func firstCar(vs []registries.Vehicle) any {
	for _, v := range vs {
		if v.Kind == "car" {
			return toMap(v)
		}
	}
	return nil
}

// resolve follows a dotted path such as event.to.street through doc.
func resolve(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
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
		Subject: "Neuer Vorschlag: " + c.ServiceName,
		Body: fmt.Sprintf("Wir können %s für Sie beantragen: %s. Empfänger: %s. Bitte entscheiden Sie bis %s.",
			c.ServiceName, c.Purpose, c.Recipient.Name, deadline.Format("02.01.2006")),
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
			Subject: "Es gibt Leistungen, die wir Ihnen vorschlagen könnten",
			Body: "Nach Ihrer Meldung kämen Leistungen für Sie in Frage. Sie haben proaktive Angebote nicht erlaubt, " +
				"darum schlagen wir nichts vor. Unter „Einwilligungen“ im Portal können Sie sie jederzeit erlauben.",
		})
	}
	return a.Inbox.Send(ctx, inbox.Message{
		ID: inbox.ID(n.LifeEventID, n.Service, n.CitizenID, "unknown"), CitizenID: n.CitizenID, Kind: inbox.KindEligibilityUnknown,
		Subject: n.ServiceName + ": bitte selbst beantragen",
		Body: fmt.Sprintf("Für %s fehlen uns Angaben (%s), darum können wir es Ihnen nicht vorschlagen. "+
			"Sie können den Antrag direkt bei %s stellen.", n.ServiceName, strings.Join(n.Missing, ", "), n.Recipient),
	})
}
