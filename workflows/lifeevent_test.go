package workflows_test

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/workflows"
)

type fakeProposals struct {
	mu sync.Mutex
	m  map[string]proposals.Proposal
}

func (f *fakeProposals) Create(_ context.Context, p proposals.Proposal) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.m[p.ID]; ok {
		return false, nil
	}
	f.m[p.ID] = p
	return true, nil
}

type fakeLog struct {
	mu       sync.Mutex
	statuses []string
}

func (f *fakeLog) Record(_ context.Context, s events.Status) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, s.Status)
	return nil
}

func input(t *testing.T, name string) workflows.LifeEventInput {
	t.Helper()
	raw, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC)
	e, err := events.Decode(raw, nil, now)
	if err != nil {
		t.Fatal(err)
	}
	return workflows.LifeEventInput{EventID: e.ID, Type: e.Type, Source: e.Source, Event: raw}
}

func TestLifeEventCreatesProposal(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	props := &fakeProposals{m: map[string]proposals.Proposal{}}
	log := &fakeLog{}
	env.RegisterActivity(&workflows.Activities{Proposals: props, Events: log,
		Now: func() time.Time { return time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC) }})
	in := input(t, "move.json")
	env.ExecuteWorkflow(workflows.LifeEvent, in)
	if err := env.GetWorkflowError(); err != nil {
		t.Fatal(err)
	}
	var res workflows.LifeEventResult
	if err := env.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	want := proposals.ID(in.EventID, "waste-bins", "c-1001")
	if len(res.Proposals) != 1 || res.Proposals[0] != want {
		t.Fatalf("result %+v, want proposal %s", res, want)
	}
	p := props.m[want]
	if p.CitizenID != "c-1001" || p.Status != proposals.StatusPending || p.Recipient.ID != "waste-03353022" {
		t.Fatalf("stored %+v", p)
	}
	if len(log.statuses) != 2 || log.statuses[0] != workflows.StatusReceived || log.statuses[1] != workflows.StatusProposed {
		t.Fatalf("statuses %v", log.statuses)
	}
}

func TestLifeEventRejectsUndecodableInput(t *testing.T) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterActivity(&workflows.Activities{Proposals: &fakeProposals{m: map[string]proposals.Proposal{}}, Events: &fakeLog{}, Now: time.Now})
	env.ExecuteWorkflow(workflows.LifeEvent, workflows.LifeEventInput{EventID: "x", Event: []byte("garbage")})
	if env.GetWorkflowError() == nil {
		t.Fatal("workflow accepted an undecodable event")
	}
}
