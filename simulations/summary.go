package simulations

import (
	"cmp"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/lifeevents/lifeevents/proposals"
)

// Summary is a run's figures: summary.json. Its keys are stable and
// documented in docs/simulations.md; lists are sorted, so the same run
// gives the same bytes.
type Summary struct {
	Scenario   ScenarioInfo     `json:"scenario"`
	Population PopulationInfo   `json:"population"`
	Services   []ServiceSummary `json:"services"`
	// NoOffers counts the citizens per event who receive no proactive
	// offers at all (objected, or no consent in an opt-in district).
	NoOffers    int             `json:"noOffers"`
	Manual      []ManualCount   `json:"manual"`
	Transfers   []TransferCount `json:"transfers"`
	Agencies    []AgencySummary `json:"agencies"`
	Weeks       []WeekRow       `json:"weeks"`
	AgencyWeeks []AgencyWeek    `json:"agencyWeeks"`
}

// ScenarioInfo says what ran.
type ScenarioInfo struct {
	Name string `json:"name"`
	// Engine is whatif or full.
	Engine         string `json:"engine"`
	Seed           uint64 `json:"seed"`
	Start          string `json:"start"`
	End            string `json:"end"`
	Offers         string `json:"offers"`
	PolicyRevision string `json:"policyRevision"`
}

// PopulationInfo is the generated district.
type PopulationInfo struct {
	Flows
	Citizens int `json:"citizensInRegisters"`
	Events   int `json:"events"`
}

// ServiceSummary is one service's funnel and outcomes.
type ServiceSummary struct {
	Service string              `json:"service"`
	Name    string              `json:"name"`
	Basis   proposals.BasisKind `json:"basis"`
	// Eligible: the policy allowed it (proposed) or only lacked data
	// (manual); NotEligible: the policy refused.
	Eligible    int `json:"eligible"`
	NotEligible int `json:"notEligible"`
	Manual      int `json:"manual"`
	Proposed    int `json:"proposed"`
	Reminded    int `json:"reminded"`
	Accepted    int `json:"accepted"`
	Automatic   int `json:"automatic"`
	Declined    int `json:"declined"`
	Expired     int `json:"expired"`
	Withdrawn   int `json:"withdrawn"`
	// WithdrawnBy splits Withdrawn by reason.
	WithdrawnBy map[string]int `json:"withdrawnBy"`
	Transferred int            `json:"transferred"`
	Granted     int            `json:"granted"`
	Rejected    int            `json:"rejected"`
	Failed      int            `json:"failed"`
}

// ManualCount is how often a service could not be served automatically
// for one reason.
type ManualCount struct {
	Service string `json:"service"`
	Reason  string `json:"reason"`
	Count   int    `json:"count"`
}

// TransferCount is how often which data went to which agency on which
// basis.
type TransferCount struct {
	Recipient string              `json:"recipient"`
	Service   string              `json:"service"`
	Basis     proposals.BasisKind `json:"basis"`
	Fields    string              `json:"fields"`
	Count     int                 `json:"count"`
}

// AgencySummary is one agency's queue over the run.
type AgencySummary struct {
	Recipient       string  `json:"recipient"`
	Name            string  `json:"name"`
	CapacityPerWeek int     `json:"capacityPerWeek"`
	Submissions     int     `json:"submissions"`
	Granted         int     `json:"granted"`
	Rejected        int     `json:"rejected"`
	Escalated       int     `json:"escalated"`
	Failed          int     `json:"failed"`
	MaxBacklog      int     `json:"maxBacklog"`
	MeanWaitDays    float64 `json:"meanWaitDays"`
	P90WaitDays     float64 `json:"p90WaitDays"`
}

// WeekRow is one service's week: proposals made, and proposals that
// reached each final status that week.
type WeekRow struct {
	Week      int    `json:"week"`
	Service   string `json:"service"`
	Proposed  int    `json:"proposed"`
	Accepted  int    `json:"accepted"`
	Declined  int    `json:"declined"`
	Expired   int    `json:"expired"`
	Withdrawn int    `json:"withdrawn"`
	Granted   int    `json:"granted"`
	Rejected  int    `json:"rejected"`
	Failed    int    `json:"failed"`
}

// AgencyWeek is one agency's week: applications arrived, and the backlog
// (arrived, not yet started) at the week's end.
type AgencyWeek struct {
	Week      int    `json:"week"`
	Recipient string `json:"recipient"`
	Arrivals  int    `json:"arrivals"`
	Backlog   int    `json:"backlog"`
}

func round2(f float64) float64 { return math.Round(f*100) / 100 }

// Summarize counts a run.
func (r *Result) Summarize() Summary {
	sc := r.Scenario
	s := Summary{
		Scenario: ScenarioInfo{Name: sc.Name, Engine: cmp.Or(r.Engine, EngineWhatIf), Seed: sc.Seed, Start: sc.Period.Start, End: sc.Period.End, Offers: sc.Offers,
			PolicyRevision: r.Revision},
		Population: PopulationInfo{Flows: r.Population.Flows, Citizens: len(r.Population.Registers.Citizens), Events: len(r.Population.Events)},
		Services:   []ServiceSummary{}, Manual: []ManualCount{}, Transfers: []TransferCount{}, Agencies: []AgencySummary{},
		Weeks: []WeekRow{}, AgencyWeeks: []AgencyWeek{},
	}
	idx := map[string]int{}
	for _, svc := range r.Catalog.Sorted() {
		idx[svc.ID] = len(s.Services)
		s.Services = append(s.Services, ServiceSummary{Service: svc.ID, Name: svc.Name["en"], Basis: svc.Basis.Kind, WithdrawnBy: map[string]int{}})
	}
	service := func(id string) *ServiceSummary {
		i, ok := idx[id]
		if !ok { // a service the catalog no longer has
			idx[id] = len(s.Services)
			s.Services = append(s.Services, ServiceSummary{Service: id, Name: id, WithdrawnBy: map[string]int{}})
			i = idx[id]
		}
		return &s.Services[i]
	}
	manual := map[[2]string]int{}
	for _, n := range r.Notices {
		if n.OffersNotAllowed {
			s.NoOffers++
			continue
		}
		ss := service(n.Service)
		ss.Eligible++
		ss.Manual++
		for _, m := range n.Missing {
			manual[[2]string{n.Service, "missing_" + m}]++
		}
	}
	for _, d := range r.Denials {
		service(d.Service).NotEligible++
	}
	weeks := map[[2]any]*WeekRow{}
	week := func(w int, svc string) *WeekRow {
		k := [2]any{w, svc}
		if weeks[k] == nil {
			weeks[k] = &WeekRow{Week: w, Service: svc}
		}
		return weeks[k]
	}
	transfers := map[TransferCount]int{}
	for _, o := range r.Proposals {
		ss := service(o.Service)
		ss.Eligible++
		ss.Proposed++
		week(sc.week(o.ProposedAt), o.Service).Proposed++
		wr := week(sc.week(o.EndedAt), o.Service)
		if o.Reminded {
			ss.Reminded++
		}
		if o.Automatic {
			ss.Automatic++
		}
		if o.Transferred {
			ss.Accepted++
			ss.Transferred++
			wr.Accepted++
			transfers[TransferCount{Recipient: o.Recipient, Service: o.Service, Basis: o.Basis, Fields: strings.Join(o.Fields, " ")}]++
		}
		switch o.Status {
		case proposals.StatusDeclined:
			ss.Declined++
			wr.Declined++
		case proposals.StatusExpired:
			ss.Expired++
			wr.Expired++
		case proposals.StatusWithdrawn:
			ss.Withdrawn++
			ss.WithdrawnBy[o.Reason]++
			wr.Withdrawn++
		case proposals.StatusGranted:
			ss.Granted++
			wr.Granted++
		case proposals.StatusRejected:
			ss.Rejected++
			wr.Rejected++
		case proposals.StatusFailed:
			ss.Failed++
			wr.Failed++
		}
	}
	for k, n := range manual {
		s.Manual = append(s.Manual, ManualCount{Service: k[0], Reason: k[1], Count: n})
	}
	sort.Slice(s.Manual, func(i, j int) bool {
		a, b := s.Manual[i], s.Manual[j]
		return a.Service < b.Service || a.Service == b.Service && a.Reason < b.Reason
	})
	for k, n := range transfers {
		k.Count = n
		s.Transfers = append(s.Transfers, k)
	}
	slices.SortFunc(s.Transfers, func(a, b TransferCount) int {
		return cmp.Or(strings.Compare(a.Recipient, b.Recipient), strings.Compare(a.Service, b.Service),
			strings.Compare(string(a.Basis), string(b.Basis)), strings.Compare(a.Fields, b.Fields))
	})
	for _, w := range weeks {
		s.Weeks = append(s.Weeks, *w)
	}
	sort.Slice(s.Weeks, func(i, j int) bool {
		a, b := s.Weeks[i], s.Weeks[j]
		return a.Week < b.Week || a.Week == b.Week && a.Service < b.Service
	})
	s.Agencies, s.AgencyWeeks = r.agencySummaries()
	return s
}

func (r *Result) agencySummaries() ([]AgencySummary, []AgencyWeek) {
	sc := r.Scenario
	names := map[string]string{}
	for _, svc := range r.Catalog {
		names[svc.Recipient.ID] = svc.Recipient.Name
		for _, a := range svc.RecipientsByMunicipality {
			names[a.ID] = a.Name
		}
	}
	by := map[string][]Outcome{}
	for _, o := range r.Proposals {
		if o.Transferred {
			by[o.Recipient] = append(by[o.Recipient], o)
		}
	}
	out, weeks := []AgencySummary{}, []AgencyWeek{}
	for _, id := range sortedKeys(by) {
		os := by[id]
		a := AgencySummary{Recipient: id, Name: names[id], CapacityPerWeek: sc.Agencies.For(id).CapacityPerWeek, Submissions: len(os)}
		arrivals, started := map[int]int{}, map[int]int{}
		last := 0
		waits := make([]float64, 0, len(os))
		for _, o := range os {
			switch o.Status {
			case proposals.StatusGranted:
				a.Granted++
			case proposals.StatusRejected:
				a.Rejected++
			case proposals.StatusFailed:
				a.Failed++
			}
			if o.Escalated {
				a.Escalated++
			}
			w := sc.week(o.SubmittedAt)
			arrivals[w]++
			sw := sc.week(o.SubmittedAt.Add(days(o.WaitDays)))
			started[sw]++
			last = max(last, sw, w)
			waits = append(waits, o.WaitDays)
		}
		backlog := 0
		for w := 0; w <= last; w++ {
			backlog += arrivals[w] - started[w]
			a.MaxBacklog = max(a.MaxBacklog, backlog)
			if arrivals[w] > 0 || backlog > 0 {
				weeks = append(weeks, AgencyWeek{Week: w, Recipient: id, Arrivals: arrivals[w], Backlog: backlog})
			}
		}
		slices.Sort(waits)
		sum := 0.0
		for _, w := range waits {
			sum += w
		}
		a.MeanWaitDays = round2(sum / float64(len(waits)))
		a.P90WaitDays = round2(waits[int(math.Ceil(0.9*float64(len(waits))))-1])
		out = append(out, a)
	}
	return out, weeks
}
