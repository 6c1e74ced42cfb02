package workflows_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/workflows"
)

func candidate(service, citizen string) workflows.Candidate {
	return workflows.Candidate{
		LifeEventID: "ev-1", CitizenID: citizen, Service: service, ServiceName: service,
		Recipient: proposals.Recipient{ID: "familienkasse", Name: "Familienkasse"}, Purpose: "p",
		Basis:    proposals.Basis{Kind: "consent", Reference: "Einwilligung"},
		Fields:   []proposals.Field{{Name: "applicantId", Category: "identity", Value: citizen}},
		DecideIn: 14 * 24 * time.Hour, RemindBefore: 3 * 24 * time.Hour, Municipality: "03353022",
	}
}

type run struct {
	env *testsuite.TestWorkflowEnvironment
	f   *fakes
	t   *testing.T
}

func newRun(t *testing.T) run {
	env, f := newEnv(t)
	return run{env, f, t}
}

func (r run) decide(after time.Duration, citizen string, decision proposals.Decision, rejected *string) {
	r.answer(after, citizen, decision, nil, rejected)
}

func (r run) answer(after time.Duration, citizen string, decision proposals.Decision, answers map[string]string, rejected *string) {
	r.env.RegisterDelayedCallback(func() {
		r.env.UpdateWorkflow(workflows.UpdateDecide, "u-"+citizen+string(decision)+after.String(), &testsuite.TestUpdateCallback{
			OnAccept: func() {},
			OnReject: func(err error) {
				if rejected != nil {
					*rejected = err.Error()
				}
			},
			OnComplete: func(any, error) {},
		}, workflows.DecisionRequest{CitizenID: citizen, Decision: decision, Answers: answers})
	}, after)
}

func (r run) signal(after time.Duration, name string, arg any) {
	r.env.RegisterDelayedCallback(func() { r.env.SignalWorkflow(name, arg) }, after)
}

func (r run) execute(in workflows.ProposalInput) proposals.Status {
	r.t.Helper()
	r.env.ExecuteWorkflow(workflows.Proposal, in)
	if err := r.env.GetWorkflowError(); err != nil {
		r.t.Fatal(err)
	}
	var st proposals.Status
	if err := r.env.GetWorkflowResult(&st); err != nil {
		r.t.Fatal(err)
	}
	return st
}

func (r run) messageKinds(citizen string) string {
	var kinds []string
	for _, m := range r.f.messages {
		if m.CitizenID == citizen {
			kinds = append(kinds, m.Kind+":"+strings.TrimPrefix(m.Key, "status."))
		}
	}
	return strings.Join(sortStrings(kinds), ",")
}

func sortStrings(s []string) []string {
	for i := range s {
		for j := i + 1; j < len(s); j++ {
			if s[j] < s[i] {
				s[i], s[j] = s[j], s[i]
			}
		}
	}
	return s
}

func TestAcceptSubmitGranted(t *testing.T) {
	r := newRun(t)
	var rejected string
	r.decide(time.Hour, "c-other", "accept", &rejected) // not the owner
	r.decide(2*time.Hour, "c-1", "accept", nil)
	r.decide(3*time.Hour, "c-1", "decline", &rejected) // no longer pending
	r.signal(48*time.Hour, workflows.SignalAgencyResult, workflows.AgencyResult{Status: "granted"})
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusGranted {
		t.Fatalf("final status %s", st)
	}
	if len(r.f.transfers) != 1 || r.f.transfers[0].Fields[0] != "applicantId" || len(r.f.consents) != 1 {
		t.Fatalf("transfers %+v consents %+v", r.f.transfers, r.f.consents)
	}
	if !strings.Contains(rejected, "no longer pending") {
		t.Fatalf("second decision not refused as not pending: %q", rejected)
	}
}

// TestAskedValuesTravelWithTheApplication: a proposal that asks for an
// IBAN takes no acceptance without a valid one, and the one given goes to
// the agency (normalised) and into the consent's fields.
func TestAskedValuesTravelWithTheApplication(t *testing.T) {
	r := newRun(t)
	c := candidate("child_benefit", "c-1")
	c.AutoApply = true // a standing consent cannot answer for the citizen
	c.Fields = append(c.Fields, proposals.Field{Name: "iban", Category: "bank", Ask: proposals.AskIBAN})
	var missing, invalid, unasked string
	r.answer(time.Hour, "c-1", "accept", nil, &missing)
	r.answer(2*time.Hour, "c-1", "accept", map[string]string{"iban": "DE89370400440532013001"}, &invalid)
	r.answer(3*time.Hour, "c-1", "accept", map[string]string{"iban": "DE89370400440532013000", "x": "1"}, &unasked)
	r.answer(4*time.Hour, "c-1", "accept", map[string]string{"iban": "de89 3704 0044 0532 0130 00"}, nil)
	r.signal(48*time.Hour, workflows.SignalAgencyResult, workflows.AgencyResult{Status: "granted"})
	if st := r.execute(workflows.ProposalInput{Candidate: c}); st != proposals.StatusGranted {
		t.Fatalf("final status %s", st)
	}
	if !strings.HasPrefix(missing, "iban:missing ") || !strings.HasPrefix(invalid, "iban:invalid_iban ") || !strings.HasPrefix(unasked, "x:not_asked ") {
		t.Fatalf("rejections: %q %q %q", missing, invalid, unasked)
	}
	if len(r.f.applications) != 1 || !strings.Contains(fmt.Sprint(r.f.applications[0]), "DE89370400440532013000") {
		t.Fatalf("applications: %v", r.f.applications)
	}
	if len(r.f.transfers) != 1 || strings.Join(r.f.transfers[0].Fields, ",") != "applicantId,iban" {
		t.Fatalf("transfers: %+v", r.f.transfers)
	}
}

func TestValidatorRefusesAnotherCitizen(t *testing.T) {
	r := newRun(t)
	var rejected string
	r.decide(time.Hour, "c-other", "accept", &rejected)
	r.decide(2*time.Hour, "c-1", "decline", nil)
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusDeclined {
		t.Fatalf("final status %s", st)
	}
	if !strings.Contains(rejected, "no such proposal") || len(r.f.transfers) != 0 {
		t.Fatalf("rejection %q, transfers %d", rejected, len(r.f.transfers))
	}
}

func TestReminderThenExpiry(t *testing.T) {
	r := newRun(t)
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusExpired {
		t.Fatalf("final status %s", st)
	}
	if got := r.messageKinds("c-1"); !strings.Contains(got, "reminder:") || !strings.Contains(got, "status:expired") {
		t.Fatalf("messages %s", got)
	}
	if len(r.f.transfers) != 0 {
		t.Fatal("an expired proposal transferred data")
	}
}

func TestWithdrawalWhilePending(t *testing.T) {
	r := newRun(t)
	r.signal(time.Hour, workflows.SignalWithdraw, workflows.Withdrawal{Reason: "consent_withdrawn"})
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusWithdrawn {
		t.Fatalf("final status %s", st)
	}
}

func TestConsentWithdrawnAfterAcceptBeforeTransfer(t *testing.T) {
	r := newRun(t)
	r.f.refuseSubmit = true // the gate finds no consent any more
	r.decide(time.Hour, "c-1", "accept", nil)
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusWithdrawn {
		t.Fatalf("final status %s", st)
	}
	if len(r.f.transfers) != 0 {
		t.Fatal("transferred without consent")
	}
}

func TestAgencyRejects(t *testing.T) {
	r := newRun(t)
	r.decide(time.Hour, "c-1", "accept", nil)
	r.signal(24*time.Hour, workflows.SignalAgencyResult, workflows.AgencyResult{Status: "rejected", Note: "income too high"})
	if st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1")}); st != proposals.StatusRejected {
		t.Fatalf("final status %s", st)
	}
}

func TestAgencyTimeoutEscalatesThenFails(t *testing.T) {
	r := newRun(t)
	r.decide(time.Hour, "c-1", "accept", nil)
	st := r.execute(workflows.ProposalInput{Candidate: candidate("child_benefit", "c-1"), AgencyTimeout: 7 * 24 * time.Hour})
	if st != proposals.StatusFailed {
		t.Fatalf("final status %s", st)
	}
	if got := r.messageKinds("c-1"); !strings.Contains(got, "escalation:") {
		t.Fatalf("no escalation: %s", got)
	}
}

func TestAutomaticApplication(t *testing.T) {
	r := newRun(t)
	r.f.standing = true
	c := candidate("waste_bins", "c-1")
	c.AutoApply = true
	r.signal(time.Hour, workflows.SignalAgencyResult, workflows.AgencyResult{Status: "granted"})
	if st := r.execute(workflows.ProposalInput{Candidate: c}); st != proposals.StatusGranted {
		t.Fatalf("final status %s", st)
	}
	if got := r.messageKinds("c-1"); !strings.Contains(got, "automatic:") || len(r.f.consents) != 0 || len(r.f.transfers) != 1 {
		t.Fatalf("messages %s, consents %d, transfers %d", got, len(r.f.consents), len(r.f.transfers))
	}
}

// TestSiblingAcceptedFirst: the other parent claimed child benefit first,
// so this parent's acceptance ends in a withdrawal with a reason.
func TestSiblingAcceptedFirst(t *testing.T) {
	r := newRun(t)
	r.f.claims["ev-1/child_benefit"] = "p-someone-else"
	c := candidate("child_benefit", "c-1")
	c.Exclusive = true
	r.decide(time.Hour, "c-1", "accept", nil)
	st := r.execute(workflows.ProposalInput{Candidate: c, Siblings: []string{"p-someone-else"}})
	if st != proposals.StatusWithdrawn || len(r.f.transfers) != 0 {
		t.Fatalf("final status %s, transfers %d", st, len(r.f.transfers))
	}
	if got := r.messageKinds("c-1"); !strings.Contains(got, "status:sibling_accepted") {
		t.Fatalf("messages %s", got)
	}
}

// TestOutcomeIsTheProposals: a withdrawal recorded while its signal never
// reached the journey (it had not started yet, or the process died before
// signalling). The journey runs to its deadline, and ends with the
// proposal's status, withdrawn, not with expired: the read model and the
// journey agree, and the citizen is not told twice.
func TestOutcomeIsTheProposals(t *testing.T) {
	r := newRun(t)
	c := candidate("waste_bins", "c-1")
	id := proposals.ID(c.LifeEventID, c.Service, c.CitizenID)
	r.env.RegisterDelayedCallback(func() {
		r.f.mu.Lock()
		r.f.proposals[id] = proposals.Proposal{ID: id, Status: proposals.StatusWithdrawn, Reason: proposals.ReasonConsentWithdrawn}
		r.f.mu.Unlock()
	}, time.Hour)
	if st := r.execute(workflows.ProposalInput{Candidate: c}); st != proposals.StatusWithdrawn {
		t.Fatalf("final status %s, want the proposal's: withdrawn", st)
	}
	if got := r.messageKinds("c-1"); strings.Contains(got, "expired") {
		t.Fatalf("the citizen was told of an expiry after the withdrawal: %s", got)
	}
}
