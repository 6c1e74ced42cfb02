package simulations

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"math/big"
	"net/http"
	"net/url"
	"sort"
	"sync"
	"time"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/internal/apiclient"
	"github.com/lifeevents/lifeevents/proposals"
)

// System is a running lifeevents that the full engine drives from outside,
// as its users would: life events go to its Kafka topic, citizens decide
// through its HTTP API with their own tokens, agencies answer through the
// agency API.
type System struct {
	// API is the server's address, e.g. http://127.0.0.1:8080.
	API string
	// Publish sends a life event to the life-events topic.
	Publish func(ctx context.Context, e events.Event) error
	// Token mints a bearer token for a subject with one role.
	Token func(subject, role string) (string, error)
	// TimeScale is the factor the system runs its journeys' durations at
	// (deadlines, reminders, agency timeouts); the engine compresses the
	// scenario's calendar by the same factor.
	TimeScale float64
	// Poll is how often agencies look for work and the engine for
	// finished journeys; 0 means 200 ms.
	Poll time.Duration
	Log  *slog.Logger
	// Failed, if set, reports a part of the system that stopped: the run
	// ends with that error instead of waiting for journeys that cannot
	// finish.
	Failed <-chan error
}

// Validate names what is missing.
func (s System) Validate() error {
	switch {
	case s.API == "":
		return errors.New("full engine: no API address")
	case s.Publish == nil:
		return errors.New("full engine: no way to publish life events")
	case s.Token == nil:
		return errors.New("full engine: no way to mint tokens")
	case !(s.TimeScale > 0) || s.TimeScale > 1:
		return fmt.Errorf("--time-scale %g: a factor above 0 and at most 1 (1/86400 runs a day in a second)", s.TimeScale)
	}
	return nil
}

// ErrUnfinished is returned when journeys have not ended in the time the
// scenario allows them.
var ErrUnfinished = errors.New("journeys did not finish")

// full is one run of the full engine.
type full struct {
	sc    *Scenario
	pop   *Population
	sys   System
	plan  *Result
	api   *apiclient.Client
	log   *slog.Logger
	shift time.Duration
	wall0 time.Time

	tokens sync.Map // subject + role → minted

	// byProposal indexes the plan's outcomes by proposal id.
	byProposal map[string]int
	byEvent    map[int][]int

	mu       sync.Mutex
	agencyOf map[string]agencyCase // proposal id → the agency agent's booking
	failures []error
}

// RunFull runs the scenario through a running system. The citizens'
// intents come from the same draws as the what-if engine's (so the two can
// be compared); what happens to them, the journeys, the consent checks,
// the transfers and the agencies' results, is the system's doing, read
// back through its API. What the rules decide before anything is proposed
// (notices, refusals) is candidate resolution, the same function in both
// engines; it is taken from the plan.
func RunFull(ctx context.Context, sc *Scenario, pop *Population, p Policies, sys System, opt Options) (*Result, error) {
	if err := sys.Validate(); err != nil {
		return nil, err
	}
	if sys.Poll <= 0 {
		sys.Poll = 200 * time.Millisecond
	}
	if sys.Log == nil {
		sys.Log = slog.New(slog.DiscardHandler)
	}
	plan, err := Run(ctx, sc, pop, p, Options{Workers: opt.Workers})
	if err != nil {
		return nil, err
	}
	api, err := apiclient.New(apiclient.Config{URL: sys.API, Token: "-", Timeout: 30 * time.Second})
	if err != nil {
		return nil, err
	}
	f := &full{sc: sc, pop: pop, sys: sys, plan: plan, api: api, log: sys.Log,
		shift: ShiftFor(sc, time.Now()), byProposal: map[string]int{}, byEvent: map[int][]int{}, agencyOf: map[string]agencyCase{}}
	for k, o := range plan.Proposals {
		f.byProposal[proposals.ID(o.EventID, o.Service, o.CitizenID)] = k
		f.byEvent[o.Event] = append(f.byEvent[o.Event], k)
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if sys.Failed != nil {
		go func() {
			select {
			case err := <-sys.Failed:
				f.fail(fmt.Errorf("full engine: the system stopped: %w", err))
				cancel()
			case <-ctx.Done():
			}
		}()
	}
	if err := f.attitudes(ctx); err != nil {
		return nil, f.firstError(err)
	}
	f.wall0 = time.Now().Add(time.Second)
	var agents sync.WaitGroup
	for _, id := range f.recipients() {
		agents.Add(1)
		go func() { defer agents.Done(); f.agency(ctx, id) }()
	}
	var actions sync.WaitGroup
	err = f.publish(ctx, &actions, opt.Progress)
	if err == nil {
		err = f.await(ctx, opt.Finishing)
	}
	cancel()
	actions.Wait()
	agents.Wait()
	if err := f.firstError(err); err != nil {
		return nil, err
	}
	return f.collect(parent)
}

// firstError is what went wrong first: a part that failed (an agent, the
// system) explains a cancelled run better than the cancellation.
func (f *full) firstError(err error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failures) > 0 {
		return errors.Join(f.failures...)
	}
	return err
}

// ShiftFor is how far the full engine moves the scenario's dates back so
// that the period ends before today: the system refuses births in the
// future. Whole weeks, so each date keeps its weekday (month ends move).
func ShiftFor(sc *Scenario, now time.Time) time.Duration {
	y, m, d := now.UTC().Date()
	yesterday := time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Add(-day)
	if !sc.End().After(yesterday) {
		return 0
	}
	week := 7 * day
	return (sc.End().Sub(yesterday) + week - 1).Truncate(week)
}

// shifted is the event with every date moved back by d.
func shifted(e events.Event, d time.Duration) events.Event {
	if d == 0 {
		return e
	}
	e.Time = e.Time.Add(-d)
	back := func(x events.Date) events.Date { return events.Date{Time: x.Add(-d)} }
	if e.Move != nil {
		m := *e.Move
		m.MovedOn = back(m.MovedOn)
		m.Household = append([]events.Member(nil), m.Household...)
		for i := range m.Household {
			if b := m.Household[i].BirthDate; b != nil {
				v := back(*b)
				m.Household[i].BirthDate = &v
			}
		}
		e.Move = &m
	}
	if e.Birth != nil {
		b := *e.Birth
		b.BirthDate = back(b.BirthDate)
		e.Birth = &b
	}
	return e
}

// wall is when a moment of the scenario happens in the run.
func (f *full) wall(t time.Time) time.Time {
	return f.wall0.Add(time.Duration(float64(t.Sub(f.sc.Start())) * f.sys.TimeScale))
}

// virtual is the scenario's moment of a time the system reported.
func (f *full) virtual(w time.Time) time.Time {
	return f.sc.Start().Add(time.Duration(float64(w.Sub(f.wall0)) / f.sys.TimeScale))
}

// minted is a token and when it was made.
type minted struct {
	token string
	at    time.Time
}

// tokenAge is how long a token is used: tokens are valid for at most a
// day, and a slow run of a long scenario outlives one.
const tokenAge = 6 * time.Hour

// as is the API client of one subject in one role.
func (f *full) as(subject, role string) (*apiclient.Client, error) {
	key := role + "\x00" + subject
	if t, ok := f.tokens.Load(key); ok && time.Since(t.(minted).at) < tokenAge {
		return f.api.As(t.(minted).token), nil
	}
	t, err := f.sys.Token(subject, role)
	if err != nil {
		return nil, fmt.Errorf("token for %s: %w", subject, err)
	}
	f.tokens.Store(key, minted{t, time.Now()})
	return f.api.As(t), nil
}

func (f *full) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.failures) < 10 {
		f.failures = append(f.failures, err)
	}
}

// attitudes gives, before the period starts, the objections to offers
// (opt-out) or the consents to them (opt-in) of everyone the events touch.
func (f *full) attitudes(ctx context.Context) error {
	seen := map[string]bool{}
	var citizens []string
	for _, e := range f.pop.Events {
		for _, id := range subjects(e) {
			if !seen[id] {
				seen[id] = true
				citizens = append(citizens, id)
			}
		}
	}
	return parallel(ctx, 8, len(citizens), func(i int) error {
		req := attitude(f.sc, citizens[i])
		if req == nil {
			return nil
		}
		c, err := f.as(citizens[i], "citizen")
		if err != nil {
			return err
		}
		if _, err := c.Do(ctx, http.MethodPost, "/api/v1/me/consents", "application/json", req, nil); err != nil {
			return fmt.Errorf("offers attitude of %s: %w", citizens[i], err)
		}
		return nil
	})
}

// subjects are the citizens an event may propose something to.
func subjects(e events.Event) []string {
	var out []string
	if e.Move != nil {
		for _, m := range e.Move.Household {
			out = append(out, m.CitizenID)
		}
	}
	if e.Birth != nil {
		for _, p := range e.Birth.Parents {
			out = append(out, p.CitizenID)
		}
	}
	return out
}

// parallel runs do(0..n-1) on at most width goroutines; the first error
// stops it.
func parallel(ctx context.Context, width, n int, do func(i int) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	errs := make(chan error, width)
	var wg sync.WaitGroup
	for range width {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if err := do(i); err != nil {
					errs <- err
					cancel()
					return
				}
			}
		}()
	}
	func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	return ctx.Err()
}

// recipients are the agencies the proposals may go to: a service's
// recipient may depend on where the citizen lives.
func (f *full) recipients() []string {
	set := map[string]bool{}
	for _, svc := range f.plan.Catalog {
		set[svc.Recipient.ID] = true
	}
	for _, o := range f.plan.Proposals {
		set[o.Recipient] = true
	}
	return sortedKeys(set)
}

// sleepUntil waits for a wall time; false if ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return ctx.Err() == nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// publish sends each event at its moment, after the standing consents its
// citizens hold, and hands the citizens' intents to their agents.
func (f *full) publish(ctx context.Context, actions *sync.WaitGroup, progress func(done, total int)) error {
	given := map[string]bool{}
	sem := make(chan struct{}, 16)
	lagWarned := false
	for i, e := range f.pop.Events {
		if !sleepUntil(ctx, f.wall(e.Time)) {
			return ctx.Err()
		}
		if lag := time.Since(f.wall(e.Time)); lag > 10*time.Second && !lagWarned {
			f.log.Warn("the system falls behind the scenario's clock: raise --time-scale for timings that match", "event", i, "behind", lag.Round(time.Second))
			lagWarned = true
		}
		for _, k := range f.byEvent[i] {
			o := f.plan.Proposals[k]
			key := o.CitizenID + "\x00" + o.Service + "\x00" + o.Recipient
			if !o.Intent.Standing || given[key] {
				continue
			}
			given[key] = true
			c, err := f.as(o.CitizenID, "citizen")
			if err != nil {
				return err
			}
			if _, err := c.Do(ctx, http.MethodPost, "/api/v1/me/consents", "application/json",
				standingRequest(o.Service, o.Recipient, o.Fields), nil); err != nil {
				return fmt.Errorf("standing consent of %s for %s: %w", o.CitizenID, o.Service, err)
			}
		}
		if err := f.sys.Publish(ctx, shifted(e, f.shift)); err != nil {
			return err
		}
		for _, k := range f.byEvent[i] {
			o := f.plan.Proposals[k]
			if o.Automatic {
				continue // the standing consent answers for the citizen
			}
			id := proposals.ID(o.EventID, o.Service, o.CitizenID)
			// The proposal must exist by its deadline, however far the
			// system is behind, or the journeys and the plan disagree.
			until := f.wall(o.ProposedAt.Add(time.Duration(f.plan.Catalog[o.Service].DecisionDays) * day)).Add(time.Minute)
			what := o.Service + " of event " + o.EventID
			if o.Intent.Answer != "" {
				f.later(ctx, actions, sem, f.wall(o.Intent.AnswerAt), until, what, func() (bool, error) { return f.answer(ctx, o, id) })
			}
			if !o.Intent.WithdrawAt.IsZero() {
				f.later(ctx, actions, sem, f.wall(o.Intent.WithdrawAt), until, what, func() (bool, error) { return f.withdraw(ctx, o, id) })
			}
		}
		if progress != nil && (i%64 == 63 || i == len(f.pop.Events)-1) {
			progress(i+1, len(f.pop.Events))
		}
	}
	return nil
}

// errNotYet says the proposal an action is for has not been made yet.
var errNotYet = errors.New("not made yet")

// later runs act at wall time at, on at most cap(sem) goroutines at once;
// while act finds its proposal not yet made, it tries again every poll
// until the wall time until, without holding its slot in between.
func (f *full) later(ctx context.Context, wg *sync.WaitGroup, sem chan struct{}, at, until time.Time, what string, act func() (bool, error)) {
	wg.Add(1)
	go func() {
		defer wg.Done()
		wait := f.sys.Poll
		for sleepUntil(ctx, at) {
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				return
			}
			notYet, err := act()
			<-sem
			switch {
			case ctx.Err() != nil:
				return
			case err != nil:
				f.fail(err)
				return
			case !notYet:
				return
			case time.Now().After(until):
				f.fail(fmt.Errorf("full engine: the system has not made, or not answered on, a proposal that candidate resolution made (%s) by its deadline", what))
				return
			}
			// Back off: a system far behind the clock has thousands of
			// proposals still to make, and asking for each again and
			// again would only slow it further.
			wait = min(2*wait, 5*time.Second)
			at = time.Now().Add(wait)
		}
	}()
}

// answer posts the citizen's decision; notYet when the system, behind the
// clock, has not made the proposal yet. A proposal that has ended
// (expired, superseded, a sibling's) is the system's outcome, not an
// error.
func (f *full) answer(ctx context.Context, o Outcome, id string) (notYet bool, err error) {
	c, err := f.as(o.CitizenID, "citizen")
	if err != nil {
		return false, err
	}
	body := map[string]any{"decision": o.Intent.Answer}
	if o.Intent.Answer == "accept" {
		// What the registers lack, the citizen types in: a proposal that
		// asks gets plausible answers.
		var p proposals.Proposal
		_, err = c.Do(ctx, http.MethodGet, "/api/v1/me/proposals/"+id, "", nil, &p)
		if answers := sampleAnswers(p.Fields, o.CitizenID); err == nil && len(answers) > 0 {
			body["answers"] = answers
		}
	}
	_, err = c.Do(ctx, http.MethodPost, "/api/v1/me/proposals/"+id+"/decision", "application/json", body, nil)
	var apiErr *apiclient.Error
	switch {
	case err == nil, errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict:
		return false, nil
	case errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound, transient(err):
		return true, nil
	case ctx.Err() != nil:
		return false, nil
	}
	return false, fmt.Errorf("decision of %s on %s: %w", o.CitizenID, o.Service, err)
}

// transient is an answer worth asking again: an overloaded system that
// did not answer in time or answered 5xx. A decision asked again after it
// took effect is refused as no longer pending, which is its outcome.
func transient(err error) bool {
	var apiErr *apiclient.Error
	if errors.As(err, &apiErr) {
		return apiErr.Status >= 500
	}
	return err != nil
}

// withdraw takes back the citizen's consent to the service while the
// proposal is still open: the API's only way to do so before deciding is
// a consent for the service that is then withdrawn, which withdraws
// every open proposal of that service and recipient, as the model says.
func (f *full) withdraw(ctx context.Context, o Outcome, id string) (notYet bool, err error) {
	c, err := f.as(o.CitizenID, "citizen")
	if err != nil {
		return false, err
	}
	var p proposals.Proposal
	if _, err := c.Do(ctx, http.MethodGet, "/api/v1/me/proposals/"+id, "", nil, &p); err != nil {
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound || transient(err) {
			return true, nil
		}
		return false, fmt.Errorf("withdrawal of %s: %w", o.CitizenID, err)
	}
	if p.Status != proposals.StatusPending && p.Status != proposals.StatusAccepted {
		return false, nil
	}
	var given consent.Consent
	if _, err := c.Do(ctx, http.MethodPost, "/api/v1/me/consents", "application/json",
		standingRequest(o.Service, o.Recipient, o.Fields), &given); err != nil {
		return false, fmt.Errorf("withdrawal of %s: %w", o.CitizenID, err)
	}
	if _, err := c.Do(ctx, http.MethodPost, "/api/v1/me/consents/"+given.ID+"/withdraw", "", nil, nil); err != nil {
		return false, fmt.Errorf("withdrawal of %s: %w", o.CitizenID, err)
	}
	return false, nil
}

// agency is one agency's clerk: it takes new applications from the
// agency API in the order they arrived, books them into its queue (the
// what-if engine's) and reports each result when the queue says it is
// done.
func (f *full) agency(ctx context.Context, recipient string) {
	c, err := f.as("simulation-"+recipient, "agency:"+recipient)
	if err != nil {
		f.fail(err)
		return
	}
	q := newAgencyQueue(f.sc, f.plan.Catalog, recipient)
	seen := map[string]bool{}
	var since time.Time // the newest submission seen: a long queue is read on from there
	var results sync.WaitGroup
	defer results.Wait()
	for sleepUntil(ctx, time.Now().Add(f.sys.Poll)) {
		var list struct {
			Items []agencies.Submission `json:"items"`
		}
		path := "/api/v1/agency/submissions?status=open"
		if !since.IsZero() {
			path += "&since=" + url.QueryEscape(since.Format(time.RFC3339Nano))
		}
		if _, err := c.Do(ctx, http.MethodGet, path, "", nil, &list); err != nil {
			if ctx.Err() == nil {
				f.log.Warn("agency cannot list its submissions", "agency", recipient, "error", err)
			}
			continue
		}
		sort.SliceStable(list.Items, func(a, b int) bool { return list.Items[a].CreatedAt.Before(list.Items[b].CreatedAt) })
		for _, s := range list.Items {
			if s.CreatedAt.After(since) {
				since = s.CreatedAt
			}
			if seen[s.ID] {
				continue
			}
			seen[s.ID] = true
			eventID, citizen := s.ProposalID, ""
			if k, ok := f.byProposal[s.ProposalID]; ok {
				eventID, citizen = f.plan.Proposals[k].EventID, f.plan.Proposals[k].CitizenID
			}
			bk := q.serve(f.virtual(s.CreatedAt), eventID, citizen, s.Service)
			f.mu.Lock()
			f.agencyOf[s.ProposalID] = bk
			f.mu.Unlock()
			status := "rejected"
			if bk.Granted {
				status = "granted"
			}
			id := s.ID
			results.Add(1)
			go func() {
				defer results.Done()
				if !sleepUntil(ctx, f.wall(bk.Done)) {
					return
				}
				var err error
				for try, wait := 0, time.Second; try < 6; try, wait = try+1, 2*wait {
					_, err = c.Do(ctx, http.MethodPost, "/api/v1/agency/submissions/"+id+"/result", "application/json",
						map[string]string{"status": status, "note": "simulation"}, nil)
					if !transient(err) || !sleepUntil(ctx, time.Now().Add(wait)) {
						break
					}
				}
				var apiErr *apiclient.Error
				if err != nil && ctx.Err() == nil && !(errors.As(err, &apiErr) && apiErr.Status == http.StatusConflict) {
					f.fail(fmt.Errorf("agency %s result: %w", recipient, err))
				}
			}()
		}
	}
}

// eventView is the operator's view of one life event.
type eventView struct {
	Status    string               `json:"status"`
	Proposals []proposals.Proposal `json:"proposals"`
}

// deadline is the latest wall time by which every journey must have
// ended: the last event, the longest decision period, twice the agency
// timeout and a week, on the scenario's clock, and two minutes for a slow
// system.
func (f *full) deadline() time.Time {
	last := f.sc.Start()
	if n := len(f.pop.Events); n > 0 {
		last = f.pop.Events[n-1].Time
	}
	longest := 0
	for _, s := range f.plan.Catalog {
		longest = max(longest, s.DecisionDays)
	}
	tail := time.Duration(longest)*day + 2*days(f.sc.Agencies.TimeoutDays) + 7*day
	return f.wall(last.Add(tail)).Add(2 * time.Minute)
}

// await waits until every life event's journey has ended.
func (f *full) await(ctx context.Context, progress func(done, total int)) error {
	op, err := f.as("simulation-operator", "operator")
	if err != nil {
		return err
	}
	open := make([]int, len(f.pop.Events))
	for i := range open {
		open[i] = i
	}
	total := len(open)
	limit := f.deadline()
	for len(open) > 0 {
		var still []int
		for n, i := range open {
			if n >= 100 {
				// Journeys end about in the order they began: the oldest
				// open ones say enough, and asking for all would load
				// the system the run measures.
				still = append(still, open[n:]...)
				break
			}
			var v eventView
			_, err := op.Do(ctx, http.MethodGet, "/api/v1/ops/events/"+f.pop.Events[i].ID, "", nil, &v)
			var apiErr *apiclient.Error
			switch {
			case err == nil && v.Status == "completed":
				continue
			case err == nil, errors.As(err, &apiErr) && apiErr.Status == http.StatusNotFound:
				still = append(still, i)
			case ctx.Err() != nil:
				return ctx.Err()
			default:
				return fmt.Errorf("full engine: where event %s stands: %w", f.pop.Events[i].ID, err)
			}
		}
		open = still
		if progress != nil {
			progress(total-len(open), total)
		}
		if len(open) == 0 {
			break
		}
		if time.Now().After(limit) {
			return fmt.Errorf("%w: %d of %d life events still open when the scenario's longest journey should have ended; the system is too slow for --time-scale %g (try a larger one)",
				ErrUnfinished, len(open), total, f.sys.TimeScale)
		}
		if !sleepUntil(ctx, time.Now().Add(max(f.sys.Poll, time.Second))) {
			return ctx.Err()
		}
	}
	return nil
}

// collect reads back what the system did: each event's proposals and
// their statuses (operator API), and each citizen's transfers and
// messages (the citizen's API).
func (f *full) collect(ctx context.Context) (*Result, error) {
	op, err := f.as("simulation-operator", "operator")
	if err != nil {
		return nil, err
	}
	res := &Result{Scenario: f.sc, Revision: f.plan.Revision, Catalog: f.plan.Catalog, Population: f.pop,
		Notices: f.plan.Notices, Denials: f.plan.Denials, Engine: EngineFull}
	var unknown int
	made := map[string]bool{}
	for i, e := range f.pop.Events {
		var v eventView
		if _, err := op.Do(ctx, http.MethodGet, "/api/v1/ops/events/"+e.ID, "", nil, &v); err != nil {
			return nil, fmt.Errorf("full engine: event %s: %w", e.ID, err)
		}
		for _, p := range v.Proposals {
			k, ok := f.byProposal[p.ID]
			if !ok {
				unknown++
				continue
			}
			made[p.ID] = true
			planned := f.plan.Proposals[k]
			o := Outcome{Event: i, EventID: e.ID, CitizenID: planned.CitizenID, Service: p.Service, Recipient: p.Recipient.ID,
				Basis: p.Basis.Kind, Status: p.Status, Reason: p.Reason,
				ProposedAt: f.virtual(p.CreatedAt), EndedAt: f.virtual(p.UpdatedAt), Intent: planned.Intent}
			for _, fl := range p.Fields {
				o.Fields = append(o.Fields, fl.Name)
			}
			res.Proposals = append(res.Proposals, o)
		}
	}
	if unknown > 0 {
		return nil, fmt.Errorf("full engine: the system made %d proposals that candidate resolution did not: are its registers and policies the scenario's?", unknown)
	}
	if missing := len(f.byProposal) - len(made); missing > 0 {
		return nil, fmt.Errorf("full engine: candidate resolution made %d proposals that the system did not: are its registers and policies the scenario's?", missing)
	}
	// Each citizen's transfers and messages, once per citizen.
	idx := map[string][]int{}
	for k, o := range res.Proposals {
		idx[o.CitizenID] = append(idx[o.CitizenID], k)
	}
	citizens := sortedKeys(idx)
	var mu sync.Mutex
	err = parallel(ctx, 8, len(citizens), func(n int) error {
		c, err := f.as(citizens[n], "citizen")
		if err != nil {
			return err
		}
		var transfers struct {
			Items []consent.Record `json:"items"`
		}
		if _, err := c.Do(ctx, http.MethodGet, "/api/v1/me/transfers", "", nil, &transfers); err != nil {
			return fmt.Errorf("full engine: transfers of %s: %w", citizens[n], err)
		}
		var messages struct {
			Items []inbox.Message `json:"items"`
		}
		if _, err := c.Do(ctx, http.MethodGet, "/api/v1/me/messages", "", nil, &messages); err != nil {
			return fmt.Errorf("full engine: messages of %s: %w", citizens[n], err)
		}
		mu.Lock()
		defer mu.Unlock()
		for _, k := range idx[citizens[n]] {
			o := &res.Proposals[k]
			id := proposals.ID(o.EventID, o.Service, o.CitizenID)
			for _, t := range transfers.Items {
				if t.ProposalID == id {
					o.Transferred, o.SubmittedAt = true, f.virtual(t.At)
				}
			}
			for _, m := range messages.Items {
				if m.ProposalID != id {
					continue
				}
				switch m.Kind {
				case "reminder":
					o.Reminded = true
				case "automatic":
					o.Automatic = true
				case "escalation":
					o.Escalated = true
				}
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for k := range res.Proposals {
		o := &res.Proposals[k]
		if bk, ok := f.agencyOf[proposals.ID(o.EventID, o.Service, o.CitizenID)]; ok && o.Transferred {
			o.WaitDays = math.Max(0, bk.Begin.Sub(o.SubmittedAt).Hours()/24)
		}
	}
	return res, nil
}

// sampleAnswers answers the fields a proposal asks for as a citizen would:
// an IBAN of their own (valid check digits, derived from their id), today,
// the first choice, a short text.
func sampleAnswers(fields []proposals.Field, citizenID string) map[string]string {
	out := map[string]string{}
	for _, f := range fields {
		switch f.Ask {
		case proposals.AskIBAN:
			out[f.Name] = sampleIBAN(citizenID)
		case proposals.AskDate:
			out[f.Name] = time.Now().Format("2006-01-02")
		case proposals.AskChoice:
			if len(f.Choices) > 0 {
				out[f.Name] = f.Choices[0]
			}
		case proposals.AskText:
			out[f.Name] = "simulation"
		}
	}
	return out
}

// sampleIBAN is a German IBAN with correct check digits whose account
// number comes from seed.
func sampleIBAN(seed string) string {
	h := fnv.New64a()
	h.Write([]byte(seed))
	bban := fmt.Sprintf("37040044%010d", h.Sum64()%10_000_000_000)
	// Check digits: 98 minus the BBAN followed by "DE00" (1314 00) mod 97.
	n, _ := new(big.Int).SetString(bban+"131400", 10)
	check := 98 - new(big.Int).Mod(n, big.NewInt(97)).Int64()
	return fmt.Sprintf("DE%02d%s", check, bban)
}
