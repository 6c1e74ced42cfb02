package simulations

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lifeevents/lifeevents/candidates"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
)

// Policies is what a simulation needs of the policy engine: eligibility
// for candidate resolution, the sharing decision for the transfer gate.
type Policies interface {
	Catalog() policies.Catalog
	Eligibility(ctx context.Context, service string, input map[string]any) (policies.Decision, error)
	Sharing(ctx context.Context, in policies.SharingInput) (policies.Decision, error)
	Revision() string
}

// Options of a what-if run.
type Options struct {
	// Workers run events in parallel; 0 means one per core. The result
	// does not depend on it.
	Workers int
	// Progress, if set, hears how many events are done (the full engine:
	// published).
	Progress func(done, total int)
	// Finishing, if set, hears how many life events' journeys have ended
	// after the last was published (the full engine only).
	Finishing func(done, total int)
}

// Outcome is where one proposal ended.
type Outcome struct {
	Event     int // index into the population's events
	EventID   string
	CitizenID string
	Service   string
	Recipient string
	Basis     proposals.BasisKind
	Fields    []string
	Status    proposals.Status
	// Reason of a withdrawal or failure: superseded, sibling_accepted,
	// consent_withdrawn, agency_timeout.
	Reason     string
	Automatic  bool
	Reminded   bool
	Escalated  bool
	ProposedAt time.Time
	// EndedAt is when the proposal reached its final status.
	EndedAt time.Time
	// Transferred: the data went to the recipient (at SubmittedAt).
	Transferred bool
	SubmittedAt time.Time
	// WaitDays in the agency's queue before work started.
	WaitDays float64
	// Intent is what the citizen meant to do.
	Intent Intent
}

// Notice is a service the system could not decide for a citizen.
type Notice struct {
	Event     int
	CitizenID string
	// Service is empty when the citizen receives no offers at all.
	Service string
	// Missing are the missing_* reasons and missing fields.
	Missing          []string
	OffersNotAllowed bool
}

// Denial is a service the policy refused a citizen, with its reasons.
type Denial struct {
	Event     int
	CitizenID string
	Service   string
	Reasons   []string
}

// Engines that make a Result.
const (
	EngineWhatIf = "whatif"
	EngineFull   = "full"
)

// Result is a finished run.
type Result struct {
	// Engine made it: whatif (empty) or full.
	Engine     string
	Scenario   *Scenario
	Revision   string
	Catalog    policies.Catalog
	Population *Population
	Proposals  []Outcome
	Notices    []Notice
	Denials    []Denial
}

// unit is one event's share of the run.
type unit struct {
	outcomes []Outcome
	notices  []Notice
	denials  []Denial
}

// Run carries every event of the population through candidate resolution
// and every proposal through its lifecycle, then the agencies' queues.
func Run(ctx context.Context, sc *Scenario, pop *Population, p Policies, opt Options) (*Result, error) {
	if err := sc.CheckCatalog(p.Catalog()); err != nil {
		return nil, err
	}
	reg := registries.NewMemory()
	if err := reg.Load(ctx, pop.Registers); err != nil {
		return nil, err
	}
	start := sc.Start()
	store := consent.NewMemory(p, consent.Config{Controller: "simulation"})
	store.Clock = func() time.Time { return start }
	var ids atomic.Uint64
	store.NewID = func() string { return "cs-sim-" + strconv.FormatUint(ids.Add(1), 10) }
	optIn := sc.Offers == "opt-in"
	for _, c := range pop.Registers.Citizens {
		if req := attitude(sc, c.CitizenID); req != nil {
			if _, _, err := store.Give(ctx, c.CitizenID, *req); err != nil {
				return nil, fmt.Errorf("simulation: offers attitude of %s: %w", c.CitizenID, err)
			}
		}
	}
	s := &sim{sc: sc, pop: pop, store: store, moves: movesByCitizen(pop.Events),
		resolver: candidates.Resolver{Policies: p, Registry: reg, Offers: store, OffersOptIn: optIn}}

	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	units := make([]unit, len(pop.Events))
	var next, done atomic.Int64
	var wg sync.WaitGroup
	errs := make([]error, workers)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= len(units) || ctx.Err() != nil {
					return
				}
				u, err := s.event(ctx, i)
				if err != nil {
					errs[w] = fmt.Errorf("simulation: event %s: %w", pop.Events[i].ID, err)
					cancel()
					return
				}
				units[i] = u
				if n := done.Add(1); opt.Progress != nil && (n%256 == 0 || int(n) == len(units)) {
					opt.Progress(int(n), len(units))
				}
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	res := &Result{Scenario: sc, Revision: p.Revision(), Catalog: p.Catalog(), Population: pop}
	for _, u := range units {
		res.Proposals = append(res.Proposals, u.outcomes...)
		res.Notices = append(res.Notices, u.notices...)
		res.Denials = append(res.Denials, u.denials...)
	}
	s.agencies(res.Proposals)
	return res, nil
}

// attitude is the citizen's stance on proactive offers, held before the
// period starts: an objection (opt-out district) or a consent (opt-in),
// or nil for neither.
func attitude(sc *Scenario, citizenID string) *consent.Request {
	u := stream(sc.Seed, "attitude", citizenID).Float64()
	switch {
	case sc.Offers != "opt-in" && u < sc.Behaviour.ObjectionRate:
		return &consent.Request{Kind: consent.KindObjection, Purpose: consent.PurposeOffers, Method: "simulation"}
	case sc.Offers == "opt-in" && u < sc.Behaviour.OffersConsentRate:
		return &consent.Request{Kind: consent.KindOffers, Purpose: consent.PurposeOffers, Method: "simulation"}
	}
	return nil
}

type sim struct {
	sc       *Scenario
	pop      *Population
	store    *consent.Memory
	resolver candidates.Resolver
	// moves lists, per citizen, the indices of the move events that moved
	// them, in time order: a newer move supersedes an older one's
	// proposals.
	moves map[string][]int
}

func movesByCitizen(evs []events.Event) map[string][]int {
	out := map[string][]int{}
	for i, e := range evs {
		if e.Move == nil {
			continue
		}
		for _, m := range e.Move.Household {
			out[m.CitizenID] = append(out[m.CitizenID], i)
		}
	}
	return out
}

const day = 24 * time.Hour

func days(f float64) time.Duration { return time.Duration(f * float64(day)) }

// event resolves one event and runs its proposals to their decision and
// transfer (the agencies come after all events).
func (s *sim) event(ctx context.Context, i int) (unit, error) {
	e := s.pop.Events[i]
	res, err := s.resolver.Resolve(ctx, e)
	if err != nil {
		return unit{}, err
	}
	var u unit
	for _, n := range res.Notices {
		u.notices = append(u.notices, Notice{Event: i, CitizenID: n.CitizenID, Service: n.Service, Missing: n.Missing, OffersNotAllowed: n.OffersNotAllowed})
	}
	for _, d := range res.Denials {
		u.denials = append(u.denials, Denial{Event: i, CitizenID: d.CitizenID, Service: d.Service, Reasons: d.Reasons})
	}
	for _, c := range res.Candidates {
		o, err := s.decide(ctx, i, e, c)
		if err != nil {
			return unit{}, err
		}
		u.outcomes = append(u.outcomes, o)
	}
	s.exclusive(u.outcomes, res.Candidates)
	for k := range u.outcomes {
		if err := s.transfer(ctx, &u.outcomes[k], res.Candidates[k]); err != nil {
			return unit{}, err
		}
	}
	return u, nil
}

// Intent is what a citizen means to do with one proposal, drawn from the
// behaviour model before anything happens: the what-if engine works out
// which comes first on its virtual clock, the full engine's citizen
// agents carry it out through the API and the system decides.
type Intent struct {
	// Answer is accept, decline, or empty: the citizen lets it run out.
	Answer   string
	AnswerAt time.Time
	// WithdrawAt, if set, is when the citizen takes back their consent to
	// the service.
	WithdrawAt time.Time
	// Standing: the citizen holds a standing consent for the service, so
	// an auto-applying proposal needs no answer.
	Standing bool
}

// intentFor draws the citizen's intent for a candidate. The streams are
// named by the seed, the citizen, the service and the event: the same
// intent whichever engine, worker or variant asks.
func intentFor(sc *Scenario, e events.Event, c candidates.Candidate) Intent {
	b := sc.Behaviour
	var in Intent
	if c.AutoApply && c.Basis.Kind == proposals.BasisConsent {
		in.Standing = stream(sc.Seed, "standing", c.CitizenID, c.Service).Float64() < b.StandingConsentShare
	}
	r := stream(sc.Seed, "answer", c.CitizenID, c.Service, e.ID)
	a := b.AnswerFor(c.Service)
	switch pick(r, []float64{a.Accept, a.Decline, a.Ignore}) {
	case 0:
		in.Answer = "accept"
	case 1:
		in.Answer = "decline"
	}
	in.AnswerAt = e.Time.Add(days(b.ResponseDays.draw(r)))
	if c.Basis.Kind == proposals.BasisConsent && r.Float64() < b.WithdrawalRate {
		in.WithdrawAt = e.Time.Add(time.Duration(r.Float64() * float64(c.DecideIn)))
	}
	return in
}

// decide works out, on the virtual clock, which comes first: the
// citizen's answer, a withdrawal, a newer move, or the deadline. An
// accepted proposal stays accepted here; exclusive siblings and the
// transfer are settled after.
func (s *sim) decide(ctx context.Context, i int, e events.Event, c candidates.Candidate) (Outcome, error) {
	o := Outcome{Event: i, EventID: e.ID, CitizenID: c.CitizenID, Service: c.Service, Recipient: c.Recipient.ID,
		Basis: c.Basis.Kind, ProposedAt: e.Time, Intent: intentFor(s.sc, e, c)}
	for _, f := range c.Fields {
		o.Fields = append(o.Fields, f.Name)
	}
	in := o.Intent
	if c.AutoApply && c.Basis.Kind == proposals.BasisConsent {
		if in.Standing {
			// The citizen gave the standing consent before; given here
			// lazily because its recipient depends on where they live.
			if _, _, err := s.store.Give(ctx, c.CitizenID, standingRequest(c.Service, c.Recipient.ID, o.Fields)); err != nil {
				return o, fmt.Errorf("standing consent: %w", err)
			}
		}
		auto, err := s.store.StandingCovers(ctx, c.CitizenID, c.Service, c.Recipient.ID, o.Fields)
		if err != nil {
			return o, err
		}
		if auto {
			o.Status, o.Automatic, o.EndedAt = proposals.StatusAccepted, true, e.Time
			return o, nil
		}
	}
	deadline := e.Time.Add(c.DecideIn)
	end, status, reason := deadline, proposals.StatusExpired, "deadline passed"
	if in.Answer != "" && in.AnswerAt.Before(deadline) {
		end, status, reason = in.AnswerAt, proposals.StatusAccepted, ""
		if in.Answer == "decline" {
			status = proposals.StatusDeclined
		}
	}
	if c.RemindBefore > 0 && c.RemindBefore < c.DecideIn && end.After(deadline.Add(-c.RemindBefore)) {
		o.Reminded = true
	}
	if !in.WithdrawAt.IsZero() && in.WithdrawAt.Before(end) {
		end, status, reason = in.WithdrawAt, proposals.StatusWithdrawn, "consent_withdrawn"
	}
	if e.Move != nil {
		for _, j := range s.moves[c.CitizenID] {
			if at := s.pop.Events[j].Time; j != i && at.After(e.Time) && at.Before(end) {
				end, status, reason = at, proposals.StatusWithdrawn, "superseded"
				break
			}
		}
	}
	o.Status, o.EndedAt = status, end
	if status != proposals.StatusAccepted {
		o.Reason = reason
	}
	return o, nil
}

// standingRequest is the standing consent a citizen of the model holds.
func standingRequest(service, recipient string, fields []string) consent.Request {
	return consent.Request{Kind: consent.KindStanding, Purpose: service, Recipient: recipient, Fields: fields, Method: "simulation"}
}

// exclusive lets the first to accept an exclusive service have it; the
// other proposals of the service that were still open then, or accepted
// later, end withdrawn, as ClaimExclusive and the siblings' signal do.
func (s *sim) exclusive(out []Outcome, cs []candidates.Candidate) {
	winner := map[string]int{}
	for k, c := range cs {
		if !c.Exclusive || out[k].Status != proposals.StatusAccepted {
			continue
		}
		if w, ok := winner[c.Service]; !ok || out[k].EndedAt.Before(out[w].EndedAt) {
			winner[c.Service] = k
		}
	}
	for k, c := range cs {
		w, ok := winner[c.Service]
		if !c.Exclusive || !ok || w == k {
			continue
		}
		won := out[w].EndedAt
		if out[k].Status == proposals.StatusAccepted || out[k].EndedAt.After(won) {
			out[k].Status, out[k].Reason = proposals.StatusWithdrawn, "sibling_accepted"
			out[k].EndedAt = maxTime(won, out[k].ProposedAt)
			if out[k].Automatic {
				out[k].EndedAt = out[k].ProposedAt
			}
		}
	}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// transfer records the acceptance as the journey's Accept does (the
// per-proposal consent) and passes the real transfer gate: the sharing
// policy and the consents that cover every field.
func (s *sim) transfer(ctx context.Context, o *Outcome, c candidates.Candidate) error {
	if o.Status != proposals.StatusAccepted {
		return nil
	}
	id := proposals.ID(c.LifeEventID, c.Service, c.CitizenID)
	if c.Basis.Kind == proposals.BasisConsent && !o.Automatic {
		if _, _, err := s.store.Give(ctx, c.CitizenID, consent.Request{Kind: consent.KindProposal, Purpose: c.Service,
			Recipient: c.Recipient.ID, Fields: o.Fields, ProposalID: id, Method: "proposal-accept"}); err != nil {
			return fmt.Errorf("accept %s: %w", c.Service, err)
		}
	}
	_, err := s.store.Authorize(ctx, consent.Transfer{CitizenID: c.CitizenID, ProposalID: id, Service: c.Service,
		Municipality: c.Municipality, Recipient: c.Recipient.ID, Purpose: c.Service, BasisKind: c.Basis.Kind,
		BasisReference: c.Basis.Reference, Fields: o.Fields})
	if errors.Is(err, consent.ErrNoConsent) || errors.Is(err, consent.ErrPolicyDenied) {
		o.Status, o.Reason = proposals.StatusWithdrawn, "consent_withdrawn"
		return nil
	}
	if err != nil {
		return err
	}
	o.Status, o.Transferred, o.SubmittedAt = proposals.StatusSubmitted, true, o.EndedAt
	return nil
}

// agencies runs each agency's queue over the submissions in the order
// they arrived.
func (s *sim) agencies(out []Outcome) {
	byAgency := map[string][]int{}
	for k := range out {
		if out[k].Status == proposals.StatusSubmitted {
			byAgency[out[k].Recipient] = append(byAgency[out[k].Recipient], k)
		}
	}
	timeout := days(s.sc.Agencies.TimeoutDays)
	for _, id := range sortedKeys(byAgency) {
		queue := byAgency[id]
		sort.SliceStable(queue, func(a, b int) bool {
			return out[queue[a]].SubmittedAt.Before(out[queue[b]].SubmittedAt)
		})
		q := newAgencyQueue(s.sc, s.resolver.Policies.Catalog(), id)
		for _, k := range queue {
			o := &out[k]
			c := q.serve(o.SubmittedAt, o.EventID, o.CitizenID, o.Service)
			o.WaitDays = c.Begin.Sub(o.SubmittedAt).Hours() / 24
			took := c.Done.Sub(o.SubmittedAt)
			o.Escalated = took > timeout
			switch {
			case took > 2*timeout:
				o.Status, o.Reason, o.EndedAt = proposals.StatusFailed, "agency_timeout", o.SubmittedAt.Add(2*timeout)
			case c.Granted:
				o.Status, o.EndedAt = proposals.StatusGranted, c.Done
			default:
				o.Status, o.EndedAt = proposals.StatusRejected, c.Done
			}
		}
	}
}

// agencyQueue is one agency at work: first come, first served, at most
// its capacity started per week; a case's result comes after its
// processing time. Both engines book cases through it, in the order they
// arrive.
type agencyQueue struct {
	seed       uint64
	catalog    policies.Catalog
	start      time.Time
	ag         Agency
	week, used int
}

func newAgencyQueue(sc *Scenario, c policies.Catalog, recipient string) *agencyQueue {
	return &agencyQueue{seed: sc.Seed, catalog: c, start: sc.Start(), ag: sc.Agencies.For(recipient), week: -1}
}

// agencyCase is what the agency does with one application.
type agencyCase struct {
	Begin, Done time.Time
	Granted     bool
}

// serve books an application that arrived at submittedAt.
func (q *agencyQueue) serve(submittedAt time.Time, eventID, citizenID, service string) agencyCase {
	w := int(submittedAt.Sub(q.start) / (7 * day))
	if w > q.week {
		q.week, q.used = w, 0
	}
	for q.used >= q.ag.CapacityPerWeek {
		q.week, q.used = q.week+1, 0
	}
	q.used++
	begin := maxTime(submittedAt, q.start.Add(time.Duration(q.week)*7*day))
	if q.catalog[service].Exclusive {
		// One application per family, whichever parent claimed it first:
		// the agency's answer must not hang on who was quicker.
		citizenID = ""
	}
	r := stream(q.seed, "agency", eventID, citizenID, service)
	done := begin.Add(days(q.ag.ProcessingDays.draw(r)))
	return agencyCase{Begin: begin, Done: done, Granted: r.Float64() < q.ag.GrantRate}
}

// week of a time, counted from the period's start.
func (sc *Scenario) week(t time.Time) int {
	return int(math.Floor(t.Sub(sc.Start()).Hours() / (24 * 7)))
}
