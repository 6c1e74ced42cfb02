package simulations

import (
	"bytes"
	"cmp"
	_ "embed"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/lifeevents/lifeevents/proposals"
)

// ErrOutNotEmpty refuses to mix a report into another folder's files.
var ErrOutNotEmpty = errors.New("the output folder is not empty (use --force to write into it)")

// CheckOut refuses an existing non-empty folder unless force: checked
// before a run, so a refused run writes nothing.
func CheckOut(dir string, force bool) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	if len(entries) > 0 && !force {
		return fmt.Errorf("--out %s: %w", dir, ErrOutNotEmpty)
	}
	return nil
}

// Comparison is two variants of a scenario on the same people: compare's
// summary.json.
type Comparison struct {
	A Summary `json:"a"`
	B Summary `json:"b"`
	// Services is B minus A per service; Weeks the same per week, where
	// they differ.
	Services []ServiceDiff `json:"services"`
	Weeks    []WeekDiff    `json:"weeks"`
	// Flips lists the citizens whose outcome differs, with the rules'
	// reasons on either side.
	FlipCount int    `json:"flipCount"`
	Flips     []Flip `json:"flips"`
}

// ServiceDiff is one service's change from A to B.
type ServiceDiff struct {
	Service     string `json:"service"`
	Eligible    int    `json:"eligible"`
	NotEligible int    `json:"notEligible"`
	Manual      int    `json:"manual"`
	Proposed    int    `json:"proposed"`
	Accepted    int    `json:"accepted"`
	Transferred int    `json:"transferred"`
	Granted     int    `json:"granted"`
}

// WeekDiff is one service's weekly change from A to B.
type WeekDiff struct {
	Week     int    `json:"week"`
	Service  string `json:"service"`
	Proposed int    `json:"proposed"`
	Accepted int    `json:"accepted"`
}

// Flip is a citizen whose outcome for a service differs between A and B.
type Flip struct {
	EventID   string `json:"eventId"`
	CitizenID string `json:"citizenId"`
	Service   string `json:"service"`
	A         string `json:"a"`
	B         string `json:"b"`
	Reason    string `json:"reason"`
}

type outcomeKey struct{ event, citizen, service string }

type verdict struct{ outcome, why string }

// verdicts says, per event, citizen and service, how a run ended and why.
func (r *Result) verdicts() map[outcomeKey]verdict {
	out := map[outcomeKey]verdict{}
	ev := r.Population.Events
	for _, o := range r.Proposals {
		v := string(o.Status)
		if o.Reason != "" {
			v += ":" + o.Reason
		}
		out[outcomeKey{o.EventID, o.CitizenID, o.Service}] = verdict{v, "eligible"}
	}
	for _, n := range r.Notices {
		if n.OffersNotAllowed {
			out[outcomeKey{ev[n.Event].ID, n.CitizenID, "*"}] = verdict{"no_offers", "offers not allowed (objection or no consent)"}
			continue
		}
		var missing []string
		for _, m := range n.Missing {
			missing = append(missing, "missing_"+m)
		}
		out[outcomeKey{ev[n.Event].ID, n.CitizenID, n.Service}] = verdict{"manual", strings.Join(missing, ", ")}
	}
	for _, d := range r.Denials {
		out[outcomeKey{ev[d.Event].ID, d.CitizenID, d.Service}] = verdict{"not_eligible", strings.Join(d.Reasons, ", ")}
	}
	return out
}

// Compare sets two runs on the same population side by side.
func Compare(a, b *Result) Comparison {
	c := Comparison{A: a.Summarize(), B: b.Summarize(), Services: []ServiceDiff{}, Weeks: []WeekDiff{}, Flips: []Flip{}}
	bs := map[string]ServiceSummary{}
	for _, s := range c.B.Services {
		bs[s.Service] = s
	}
	seen := map[string]bool{}
	for _, s := range append(append([]ServiceSummary{}, c.A.Services...), c.B.Services...) {
		if seen[s.Service] {
			continue
		}
		seen[s.Service] = true
		x := ServiceSummary{}
		for _, as := range c.A.Services {
			if as.Service == s.Service {
				x = as
			}
		}
		y := bs[s.Service]
		c.Services = append(c.Services, ServiceDiff{Service: s.Service, Eligible: y.Eligible - x.Eligible,
			NotEligible: y.NotEligible - x.NotEligible, Manual: y.Manual - x.Manual, Proposed: y.Proposed - x.Proposed,
			Accepted: y.Accepted - x.Accepted, Transferred: y.Transferred - x.Transferred, Granted: y.Granted - x.Granted})
	}
	weeks := map[[2]any]*WeekDiff{}
	add := func(rows []WeekRow, sign int) {
		for _, w := range rows {
			k := [2]any{w.Week, w.Service}
			if weeks[k] == nil {
				weeks[k] = &WeekDiff{Week: w.Week, Service: w.Service}
			}
			weeks[k].Proposed += sign * w.Proposed
			weeks[k].Accepted += sign * w.Accepted
		}
	}
	add(c.A.Weeks, -1)
	add(c.B.Weeks, 1)
	for _, w := range weeks {
		if w.Proposed != 0 || w.Accepted != 0 {
			c.Weeks = append(c.Weeks, *w)
		}
	}
	sort.Slice(c.Weeks, func(i, j int) bool {
		x, y := c.Weeks[i], c.Weeks[j]
		return x.Week < y.Week || x.Week == y.Week && x.Service < y.Service
	})
	va, vb := a.verdicts(), b.verdicts()
	keys := map[outcomeKey]bool{}
	for k := range va {
		keys[k] = true
	}
	for k := range vb {
		keys[k] = true
	}
	for k := range keys {
		x, ok1 := va[k]
		y, ok2 := vb[k]
		if !ok1 {
			x = verdict{"none", "not in the audience"}
		}
		if !ok2 {
			y = verdict{"none", "not in the audience"}
		}
		if x.outcome == y.outcome {
			continue
		}
		c.Flips = append(c.Flips, Flip{EventID: k.event, CitizenID: k.citizen, Service: k.service, A: x.outcome, B: y.outcome,
			Reason: "a: " + x.why + "; b: " + y.why})
	}
	slices.SortFunc(c.Flips, func(x, y Flip) int {
		return cmp.Or(strings.Compare(x.EventID, y.EventID), strings.Compare(x.CitizenID, y.CitizenID), strings.Compare(x.Service, y.Service))
	})
	c.FlipCount = len(c.Flips)
	return c
}

// files is a report's content by file name, written together.
type files map[string][]byte

func (f files) json(name string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	f[name] = append(b, '\n')
	return nil
}

func (f files) csv(name string, header []string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.Write(header); err != nil {
		return err
	}
	if err := w.WriteAll(rows); err != nil {
		return err
	}
	f[name] = b.Bytes()
	return nil
}

func (f files) write(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--out %s: %w", dir, err)
	}
	names := make([]string, 0, len(f))
	for n := range f {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := os.WriteFile(filepath.Join(dir, n), f[n], 0o644); err != nil {
			return fmt.Errorf("--out %s: %w", dir, err)
		}
	}
	return nil
}

func itoa(i int) string { return strconv.Itoa(i) }

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// tables renders a summary's CSV tables, each name prefixed.
func (f files) tables(prefix string, s Summary) error {
	var rows [][]string
	for _, x := range s.Services {
		rows = append(rows, []string{x.Service, string(x.Basis), itoa(x.Eligible), itoa(x.NotEligible), itoa(x.Manual), itoa(x.Proposed),
			itoa(x.Reminded), itoa(x.Accepted), itoa(x.Automatic), itoa(x.Declined), itoa(x.Expired), itoa(x.Withdrawn),
			itoa(x.Transferred), itoa(x.Granted), itoa(x.Rejected), itoa(x.Failed)})
	}
	if err := f.csv(prefix+"services.csv", []string{"service", "basis", "eligible", "not_eligible", "manual", "proposed", "reminded",
		"accepted", "automatic", "declined", "expired", "withdrawn", "transferred", "granted", "rejected", "failed"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range s.Weeks {
		rows = append(rows, []string{itoa(x.Week), x.Service, itoa(x.Proposed), itoa(x.Accepted), itoa(x.Declined), itoa(x.Expired),
			itoa(x.Withdrawn), itoa(x.Granted), itoa(x.Rejected), itoa(x.Failed)})
	}
	if err := f.csv(prefix+"weeks.csv", []string{"week", "service", "proposed", "accepted", "declined", "expired", "withdrawn",
		"granted", "rejected", "failed"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range s.Transfers {
		rows = append(rows, []string{x.Recipient, x.Service, string(x.Basis), x.Fields, itoa(x.Count)})
	}
	if err := f.csv(prefix+"transfers.csv", []string{"recipient", "service", "basis", "fields", "count"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range s.Manual {
		rows = append(rows, []string{x.Service, x.Reason, itoa(x.Count)})
	}
	if err := f.csv(prefix+"manual.csv", []string{"service", "reason", "count"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range s.Agencies {
		rows = append(rows, []string{x.Recipient, x.Name, itoa(x.CapacityPerWeek), itoa(x.Submissions), itoa(x.Granted), itoa(x.Rejected),
			itoa(x.Escalated), itoa(x.Failed), itoa(x.MaxBacklog), ftoa(x.MeanWaitDays), ftoa(x.P90WaitDays)})
	}
	if err := f.csv(prefix+"agencies.csv", []string{"recipient", "name", "capacity_per_week", "submissions", "granted", "rejected",
		"escalated", "failed", "max_backlog", "mean_wait_days", "p90_wait_days"}, rows); err != nil {
		return err
	}
	rows = nil
	for _, x := range s.AgencyWeeks {
		rows = append(rows, []string{itoa(x.Week), x.Recipient, itoa(x.Arrivals), itoa(x.Backlog)})
	}
	return f.csv(prefix+"agency_weeks.csv", []string{"week", "recipient", "arrivals", "backlog"}, rows)
}

//go:embed report.html.tmpl
var reportHTML string

var reportTemplate = template.Must(template.New("report").Parse(reportHTML))

// figures are a summary's plots.
type figures struct {
	Weekly, Funnel, Transfers, Backlog, Manual template.HTML
}

func drawFigures(s Summary, weeks int) (figures, error) {
	var f figures
	var err error
	names, series := weekly(s.Weeks, weeks, func(r WeekRow) string { return r.Service },
		func(r WeekRow) int { return r.Week }, func(r WeekRow) float64 { return float64(r.Proposed) })
	if f.Weekly, err = lines("Proposals per week and service", "proposals", names, series); err != nil {
		return f, plotError("weekly", err)
	}
	var labels []string
	funnel := make([][]float64, 5)
	for _, x := range s.Services {
		labels = append(labels, x.Service)
		for i, v := range []int{x.Eligible, x.Proposed, x.Accepted, x.Transferred, x.Granted} {
			funnel[i] = append(funnel[i], float64(v))
		}
	}
	if f.Funnel, err = bars("Funnel per service", "citizens", labels,
		[]string{"eligible", "proposed", "accepted", "transferred", "granted"}, funnel, false); err != nil {
		return f, plotError("funnel", err)
	}
	recipients, idx := []string{}, map[string]int{}
	basis := [][]float64{nil, nil}
	for _, t := range s.Transfers {
		i, ok := idx[t.Recipient]
		if !ok {
			i = len(recipients)
			idx[t.Recipient] = i
			recipients = append(recipients, t.Recipient)
			basis[0], basis[1] = append(basis[0], 0), append(basis[1], 0)
		}
		if t.Basis == proposals.BasisLaw {
			basis[0][i] += float64(t.Count)
		} else {
			basis[1][i] += float64(t.Count)
		}
	}
	if len(recipients) > 0 {
		if f.Transfers, err = bars("Transfers per recipient and basis", "transfers", recipients, []string{"law", "consent"}, basis, true); err != nil {
			return f, plotError("transfers", err)
		}
	}
	names, series = weekly(s.AgencyWeeks, weeks+26, func(r AgencyWeek) string { return r.Recipient },
		func(r AgencyWeek) int { return r.Week }, func(r AgencyWeek) float64 { return float64(r.Backlog) })
	if len(names) > 0 {
		if f.Backlog, err = lines("Backlog per agency at each week's end", "applications waiting", names, series); err != nil {
			return f, plotError("backlog", err)
		}
	}
	if len(s.Manual) > 0 {
		var labels []string
		var counts []float64
		for _, m := range s.Manual {
			labels = append(labels, m.Service+": "+m.Reason)
			counts = append(counts, float64(m.Count))
		}
		if f.Manual, err = bars("Cases that need a manual application, by reason", "cases", labels, []string{"cases"}, [][]float64{counts}, true); err != nil {
			return f, plotError("manual", err)
		}
	}
	return f, nil
}

type page struct {
	Title   string
	Summary Summary
	Fig     figures
	// Compare only.
	B       *Summary
	FigB    figures
	Diff    *Comparison
	DiffFig template.HTML
	Flips   []Flip
}

// WriteRun writes a run's report.html, summary.json and CSV tables.
func WriteRun(dir string, r *Result) error {
	s := r.Summarize()
	f := files{}
	if err := f.json("summary.json", s); err != nil {
		return err
	}
	if err := f.tables("", s); err != nil {
		return err
	}
	fig, err := drawFigures(s, r.Scenario.week(r.Scenario.End())+1)
	if err != nil {
		return err
	}
	var html bytes.Buffer
	if err := reportTemplate.Execute(&html, page{Title: s.Scenario.Name, Summary: s, Fig: fig}); err != nil {
		return fmt.Errorf("simulation report: %w", err)
	}
	f["report.html"] = html.Bytes()
	return f.write(dir)
}

// MaxFlipsShown bounds the flips listed in the HTML page; flips.csv and
// summary.json hold them all.
const MaxFlipsShown = 500

// WriteComparison writes compare's report.html, summary.json, the flips
// and each variant's CSV tables (a_*.csv, b_*.csv).
func WriteComparison(dir string, a, b *Result) error {
	c := Compare(a, b)
	f := files{}
	if err := f.json("summary.json", c); err != nil {
		return err
	}
	if err := f.tables("a_", c.A); err != nil {
		return err
	}
	if err := f.tables("b_", c.B); err != nil {
		return err
	}
	var rows [][]string
	for _, x := range c.Flips {
		rows = append(rows, []string{x.EventID, x.CitizenID, x.Service, x.A, x.B, x.Reason})
	}
	if err := f.csv("flips.csv", []string{"event_id", "citizen_id", "service", "a", "b", "reason"}, rows); err != nil {
		return err
	}
	weeks := a.Scenario.week(a.Scenario.End()) + 1
	figA, err := drawFigures(c.A, weeks)
	if err != nil {
		return err
	}
	figB, err := drawFigures(c.B, weeks)
	if err != nil {
		return err
	}
	var labels []string
	delta := [][]float64{nil, nil}
	for _, d := range c.Services {
		labels = append(labels, d.Service)
		delta[0], delta[1] = append(delta[0], float64(d.Proposed)), append(delta[1], float64(d.Accepted))
	}
	diffFig, err := bars("Change per service, B minus A", "citizens", labels, []string{"proposed", "accepted"}, delta, false)
	if err != nil {
		return plotError("difference", err)
	}
	shown := c.Flips
	if len(shown) > MaxFlipsShown {
		shown = shown[:MaxFlipsShown]
	}
	var html bytes.Buffer
	if err := reportTemplate.Execute(&html, page{Title: c.A.Scenario.Name + ": A and B", Summary: c.A, Fig: figA,
		B: &c.B, FigB: figB, Diff: &c, DiffFig: diffFig, Flips: shown}); err != nil {
		return fmt.Errorf("simulation report: %w", err)
	}
	f["report.html"] = html.Bytes()
	return f.write(dir)
}
