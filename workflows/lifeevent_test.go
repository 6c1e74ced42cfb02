package workflows_test

import (
	"context"
	"github.com/lifeevents/lifeevents/texts"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"go.temporal.io/sdk/testsuite"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
	"github.com/lifeevents/lifeevents/workflows"
)

// fakes keeps everything the activities write in memory.
type fakes struct {
	mu           sync.Mutex
	proposals    map[string]proposals.Proposal
	messages     map[string]inbox.Message
	statuses     []string
	decisions    int
	claims       map[string]string
	consents     []consent.Request
	standing     bool
	transfers    []consent.Transfer
	applications []any
	refuseSubmit bool
}

func (f *fakes) SetStatus(_ context.Context, id string, st proposals.Status, reason string) (proposals.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	p := f.proposals[id]
	if p.Status.Final() {
		return p.Status, nil
	}
	p.Status, p.Reason = st, reason
	f.proposals[id] = p
	return st, nil
}

func (f *fakes) Superseded(_ context.Context, event string, citizens []string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for id, p := range f.proposals {
		if p.LifeEventID != event && p.Status == proposals.StatusPending && slices.Contains(citizens, p.CitizenID) {
			out = append(out, id)
		}
	}
	return out, nil
}

func (f *fakes) ClaimExclusive(_ context.Context, event, service, id string) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := event + "/" + service
	if h, ok := f.claims[k]; ok {
		return h == id, nil
	}
	f.claims[k] = id
	return true, nil
}

func (f *fakes) Give(_ context.Context, citizen string, r consent.Request) (consent.Consent, []consent.Withdrawn, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.consents = append(f.consents, r)
	return consent.Consent{ID: "cs-" + r.ProposalID}, nil, nil
}

func (f *fakes) ForProposal(_ context.Context, citizen, proposal string) (string, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.consents {
		if c.ProposalID == proposal {
			return "cs-" + proposal, true, nil
		}
	}
	return "", false, nil
}

func (f *fakes) StandingCovers(context.Context, string, string, string, []string) (bool, error) {
	return f.standing, nil
}

// subs are the fakes' submissions side.
type subs struct{ f *fakes }

func (s subs) ForProposal(_ context.Context, proposalID string) (agencies.Submission, error) {
	return agencies.Submission{ID: "s-" + proposalID, ProposalID: proposalID}, nil
}

func (s subs) Submit(ctx context.Context, t consent.Transfer, app any) (agencies.Submission, error) {
	return s.f.submit(ctx, t, app)
}

func (f *fakes) submit(_ context.Context, t consent.Transfer, app any) (agencies.Submission, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuseSubmit {
		return agencies.Submission{}, consent.ErrNoConsent
	}
	f.transfers = append(f.transfers, t)
	f.applications = append(f.applications, app)
	return agencies.Submission{ID: "s-" + t.ProposalID}, nil
}

func (f *fakes) Create(_ context.Context, p proposals.Proposal) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.proposals[p.ID]; ok {
		return false, nil
	}
	f.proposals[p.ID] = p
	return true, nil
}

func (f *fakes) Record(_ context.Context, s events.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, s.Status)
	return nil
}

func (f *fakes) Send(_ context.Context, m inbox.Message) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.messages[m.ID] = m
	return nil
}

type decisionCounter struct{ f *fakes }

func (d decisionCounter) Record(context.Context, string, policies.Decision) error {
	d.f.mu.Lock()
	defer d.f.mu.Unlock()
	d.f.decisions++
	return nil
}

var now = time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)

func newEnv(t *testing.T) (*testsuite.TestWorkflowEnvironment, *fakes) {
	return newEnvWith(t, func(*registries.Data) {}, nil)
}

func newEnvWith(t *testing.T, change func(*registries.Data), offers workflows.Offers) (*testsuite.TestWorkflowEnvironment, *fakes) {
	t.Helper()
	b, err := policies.DefaultBundle()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	sample, err := registries.Sample()
	if err != nil {
		t.Fatal(err)
	}
	change(&sample)
	// The in-memory registers answer as the Postgres ones (registries'
	// contract test holds both to it).
	registers := registries.NewMemory()
	if err := registers.Load(context.Background(), sample); err != nil {
		t.Fatal(err)
	}
	f := &fakes{proposals: map[string]proposals.Proposal{}, messages: map[string]inbox.Message{}, claims: map[string]string{}}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflow(workflows.Proposal)
	env.RegisterActivity(&workflows.Activities{Proposals: f, Events: f, Inbox: f, Policies: engine,
		Decisions: decisionCounter{f}, Registry: registers, Offers: offers,
		Statuses: f, Consents: f, Submissions: subs{f}, Now: func() time.Time { return now }})
	return env, f
}

func input(t *testing.T, name string) workflows.LifeEventInput {
	t.Helper()
	raw, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(raw, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return workflows.LifeEventInput{EventID: e.ID, Type: e.Type, Source: e.Source, Event: raw}
}

func services(f *fakes, citizen string) string {
	var out []string
	for _, p := range f.proposals {
		if p.CitizenID == citizen {
			out = append(out, p.Service)
		}
	}
	sort.Strings(out)
	return strings.Join(out, ",")
}

// TestMoveJourney: Erika (c-1001) moves from Buchholz into Winsen's old town
// with her daughter; she holds a car and a dog registered in Buchholz.
func TestMoveJourney(t *testing.T) {
	env, f := newEnv(t)
	env.ExecuteWorkflow(workflows.LifeEvent, input(t, "move.json"))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := services(f, "c-1001"); got != "dog_tax,parking_permit,vehicle_address,waste_bins" {
		t.Fatalf("proposals for c-1001: %s", got)
	}
	if got := services(f, "c-1002"); got != "" {
		t.Fatalf("the child got proposals: %s", got)
	}
	waste := f.proposals[proposals.ID(input(t, "move.json").EventID, "waste_bins", "c-1001")]
	fields := map[string]any{}
	for _, fl := range waste.Fields {
		fields[fl.Name] = fl.Value
	}
	if fields["newAddress"] != "Am Markt 12, 21423 Winsen (Luhe)" || fields["applicantId"] != "c-1001" || fields["householdSize"] != float64(2) ||
		waste.Recipient.ID != "abfallwirtschaft-landkreis" || waste.Deadline == nil || !waste.Deadline.Equal(now.Add(14*24*time.Hour)) {
		t.Fatalf("waste bins proposal: %+v", waste)
	}
	va := f.proposals[proposals.ID(input(t, "move.json").EventID, "vehicle_address", "c-1001")]
	if va.Basis.Kind != "law" {
		t.Fatalf("vehicle address basis: %+v", va.Basis)
	}
	if f.decisions != 4 {
		t.Fatalf("%d messages, %d decisions recorded", len(f.messages), f.decisions)
	}
	if strings.Join(f.statuses, ",") != "received,proposed,completed" {
		t.Fatalf("statuses %v", f.statuses)
	}
}

// TestBirthJourney: both parents are offered the ELFE trio.
func TestBirthJourney(t *testing.T) {
	env, f := newEnv(t)
	env.ExecuteWorkflow(workflows.LifeEvent, input(t, "birth.json"))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	for _, parent := range []string{"c-1001", "c-1003"} {
		if got := services(f, parent); got != "birth_certificate,child_benefit,parental_allowance" {
			t.Fatalf("proposals for %s: %s", parent, got)
		}
	}
	for _, p := range f.proposals {
		for _, fl := range p.Fields {
			if fl.Name == "salary" {
				t.Fatalf("salary proposed without its separate consent: %+v", p)
			}
		}
	}
}

// TestBirthNeedsNoRegistryRecord: the ELFE trio is decided from the event
// alone, so a parent the resident register does not know is offered it too.
func TestBirthNeedsNoRegistryRecord(t *testing.T) {
	env, f := newEnv(t)
	in := input(t, "birth.json")
	in.Event = []byte(strings.ReplaceAll(string(in.Event), "c-1003", "c-7777"))
	env.ExecuteWorkflow(workflows.LifeEvent, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := services(f, "c-7777"); got != "birth_certificate,child_benefit,parental_allowance" {
		t.Fatalf("proposals for a parent unknown to the register: %s", got)
	}
}

// TestMissingDataGetsNoticeNotSilence: a car holder the resident register
// does not know cannot be offered the parking permit (the application needs
// their name): they get a message saying what is missing and where to
// apply by hand.
func TestMissingDataGetsNoticeNotSilence(t *testing.T) {
	env, f := newEnvWith(t, func(d *registries.Data) {
		d.Vehicles = append(d.Vehicles, registries.Vehicle{Plate: "WL-X 7777", HolderID: "c-7777", Kind: "car"})
	}, nil)
	in := input(t, "move.json")
	in.Event = []byte(strings.ReplaceAll(string(in.Event), "c-1001", "c-7777"))
	env.ExecuteWorkflow(workflows.LifeEvent, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := services(f, "c-7777"); got != "waste_bins" {
		t.Fatalf("proposals: %s", got)
	}
	var notices []string
	for _, m := range f.messages {
		if m.CitizenID == "c-7777" && m.Kind == inbox.KindEligibilityUnknown {
			m = m.Render(catalog(t), texts.German, nil)
			notices = append(notices, m.Subject)
			if !strings.Contains(m.Body, "Name") || !strings.Contains(m.Body, "direkt bei") {
				t.Fatalf("notice does not say what is missing and where to apply: %s", m.Body)
			}
		}
	}
	sort.Strings(notices)
	if len(notices) != 2 { // parking permit and vehicle address both need the name
		t.Fatalf("notices: %v", notices)
	}
}

func TestLifeEventRejectsUndecodableInput(t *testing.T) {
	env, _ := newEnv(t)
	env.ExecuteWorkflow(workflows.LifeEvent, workflows.LifeEventInput{EventID: "x", Event: []byte("garbage")})
	if env.GetWorkflowError() == nil {
		t.Fatal("workflow accepted an undecodable event")
	}
}

type objector map[string]bool

func (o objector) OffersAllowed(_ context.Context, citizen string, _ bool) (bool, error) {
	return !o[citizen], nil
}

// TestObjectionMeansNoProposalsButAMessage: a parent who objected to
// proactive offers gets none, and a message that offers exist.
func TestObjectionMeansNoProposalsButAMessage(t *testing.T) {
	env, f := newEnvWith(t, func(*registries.Data) {}, objector{"c-1003": true})
	env.ExecuteWorkflow(workflows.LifeEvent, input(t, "birth.json"))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if got := services(f, "c-1003"); got != "" {
		t.Fatalf("proposals despite the objection: %s", got)
	}
	if got := services(f, "c-1001"); got != "birth_certificate,child_benefit,parental_allowance" {
		t.Fatalf("the other parent: %s", got)
	}
	n := 0
	for _, m := range f.messages {
		if m.CitizenID == "c-1003" && m.Kind == inbox.KindOffersNotAllowed {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d offers-not-allowed messages, want 1", n)
	}
}

// TestSecondMoveSupersedesTheFirst: a move while an earlier move's
// proposals are pending withdraws them and tells their journeys.
func TestSecondMoveSupersedesTheFirst(t *testing.T) {
	env, f := newEnv(t)
	f.proposals["p-old"] = proposals.Proposal{ID: "p-old", LifeEventID: "earlier-move", CitizenID: "c-1001", Status: proposals.StatusPending}
	f.proposals["p-other"] = proposals.Proposal{ID: "p-other", LifeEventID: "earlier-move", CitizenID: "c-5555", Status: proposals.StatusPending}
	signalled := false
	env.OnSignalExternalWorkflow(mock.Anything, "proposal/p-old", "", workflows.SignalWithdraw, mock.Anything).Return(
		func(_, _, _, _ string, arg any) error {
			signalled = arg.(workflows.Withdrawal).Reason == "superseded"
			return nil
		})
	env.ExecuteWorkflow(workflows.LifeEvent, input(t, "move.json"))
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	if !signalled {
		t.Fatal("the earlier move's journey was not asked to withdraw")
	}
}

func catalog(t *testing.T) *texts.Catalog {
	t.Helper()
	c, err := texts.New()
	if err != nil {
		t.Fatal(err)
	}
	return c
}
