package simulations_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/simulations"
)

const small = "scenarios/small-district.yaml"

func engine(t testing.TB) *policies.Engine {
	t.Helper()
	e, err := simulations.LoadPolicies(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func load(t testing.TB, path string) *simulations.Scenario {
	t.Helper()
	sc, err := simulations.LoadScenario(path)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

func run(t testing.TB, sc *simulations.Scenario, e *policies.Engine, workers int) *simulations.Result {
	t.Helper()
	pop := simulations.Generate(sc)
	res, err := simulations.Run(context.Background(), sc, &pop, e, simulations.Options{Workers: workers})
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestDeterministic: the same scenario and seed give the same summary, byte
// for byte, with one worker and with two.
func TestDeterministic(t *testing.T) {
	e := engine(t)
	var outs [][]byte
	for _, workers := range []int{1, 2, 2} {
		b, err := json.Marshal(run(t, load(t, small), e, workers).Summarize())
		if err != nil {
			t.Fatal(err)
		}
		outs = append(outs, b)
	}
	if !bytes.Equal(outs[0], outs[1]) || !bytes.Equal(outs[1], outs[2]) {
		t.Fatalf("summaries differ between runs:\n%s\n%s", outs[0], outs[1])
	}
	if !bytes.Contains(outs[0], []byte(`"proposed":`)) {
		t.Fatalf("summary without proposals: %s", outs[0])
	}
}

// analytic is a district whose counts follow from its rates: single
// adults who all own a car and live in parking zones, moving within
// the district at 100 per 1,000 a year; they answer in a day.
const analytic = `name: analytic
seed: 11
period: {start: "2027-01-01", end: "2027-12-31"}
district:
  municipalities:
    - {key: "03353022", name: Winsen (Luhe), postalCode: "21423", residents: 10000, streets: 50, wasteDistrict: Nord, parkingZoneShare: 1}
households: {sizes: {1: 1}, carPerAdult: 1, dogPerHousehold: 0}
rates: {movesWithin: 100, movesInto: 0, movesOut: 0, births: 0}
behaviour:
  objectionRate: 0.1
  responseDays: {median: 1, p90: 1}
  answer: {accept: 0.5, decline: 0.3, ignore: 0.2}
agencies:
  default: {grantRate: 0.9, processingDays: {median: 2, p90: 2}, capacityPerWeek: 100000}
`

// within fails unless got lies within k standard deviations of a
// binomial (or Poisson, p = 0) count's expectation.
func within(t *testing.T, what string, got int, n, p float64) {
	t.Helper()
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	if p == 0 {
		mean, sd = n, math.Sqrt(n)
	}
	if math.Abs(float64(got)-mean) > 4.5*sd+1 {
		t.Errorf("%s = %d, expected %.0f ± %.0f", what, got, mean, 4.5*sd)
	} else {
		t.Logf("%s = %d (expected %.0f ± %.0f)", what, got, mean, 4.5*sd)
	}
}

// TestAnalyticScenario: every count within its statistical bound.
func TestAnalyticScenario(t *testing.T) {
	sc, err := simulations.ParseScenario("analytic.yaml", []byte(analytic))
	if err != nil {
		t.Fatal(err)
	}
	res := run(t, sc, engine(t), 2)
	s := res.Summarize()
	moves := s.Population.Events
	within(t, "moves", moves, 1000, 0)
	within(t, "citizens without offers", s.NoOffers, float64(moves), 0.1)
	offered := moves - s.NoOffers
	by := map[string]simulations.ServiceSummary{}
	for _, x := range s.Services {
		by[x.Service] = x
	}
	for _, svc := range []string{"parking_permit", "vehicle_address", "waste_bins"} {
		x := by[svc]
		if x.Proposed != offered {
			t.Errorf("%s proposed %d, want every offered mover (%d)", svc, x.Proposed, offered)
		}
		within(t, svc+" accepted", x.Accepted, float64(x.Proposed), 0.5)
		within(t, svc+" declined", x.Declined, float64(x.Proposed), 0.3)
		within(t, svc+" expired", x.Expired, float64(x.Proposed), 0.2)
		within(t, svc+" granted", x.Granted, float64(x.Accepted), 0.9)
		if x.Accepted != x.Transferred || x.Granted+x.Rejected != x.Transferred {
			t.Errorf("%s: accepted %d, transferred %d, granted %d + rejected %d", svc, x.Accepted, x.Transferred, x.Granted, x.Rejected)
		}
	}
	if x := by["dog_tax"]; x.Proposed != 0 || x.NotEligible != offered {
		t.Errorf("dog_tax without dogs: %+v", x)
	}
	for _, a := range s.Agencies {
		if a.MeanWaitDays != 0 || a.Failed != 0 {
			t.Errorf("agency %s with room to spare kept people waiting: %+v", a.Recipient, a)
		}
	}
}

// TestCompareZoneStreet: adding one street to a parking zone flips exactly
// the movers into that street who get a parking permit proposal, each
// with the rule's reason.
func TestCompareZoneStreet(t *testing.T) {
	e := engine(t)
	scA := load(t, small)
	pop := simulations.Generate(scA)
	zoned := map[string]bool{}
	for _, z := range pop.Registers.ParkingZones {
		zoned[z.Municipality+"/"+z.Street] = true
	}
	counts := map[string]int{}
	for _, ev := range pop.Events {
		if ev.Move != nil && ev.Move.To.Municipality == "03353022" && !zoned["03353022/"+ev.Move.To.Street] {
			counts[ev.Move.To.Street]++
		}
	}
	street, most := "", 0
	for s, n := range counts {
		if n > most || n == most && s < street {
			street, most = s, n
		}
	}
	raw, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	b := strings.Replace(string(raw), "households:", `  parkingZones:
    - {municipality: "03353022", street: "`+street+`", zone: Winsen (Luhe) Zone 3}
households:`, 1)
	scB, err := simulations.ParseScenario("b.yaml", []byte(b))
	if err != nil {
		t.Fatal(err)
	}
	resA, resB := run(t, scA, e, 2), run(t, scB, e, 2)
	c := simulations.Compare(resA, resB)
	want := map[string]bool{}
	for _, o := range resB.Proposals {
		ev := resB.Population.Events[o.Event]
		if o.Service == "parking_permit" && ev.Move.To.Street == street && ev.Move.To.Municipality == "03353022" {
			want[o.EventID+"/"+o.CitizenID] = true
		}
	}
	if len(want) == 0 {
		t.Fatalf("no parking permit proposal in %s: pick another street", street)
	}
	for _, f := range c.Flips {
		if f.Service != "parking_permit" || !want[f.EventID+"/"+f.CitizenID] {
			t.Errorf("unexpected flip %+v", f)
		}
		if f.A != "not_eligible" || !strings.Contains(f.Reason, "not_in_parking_zone") {
			t.Errorf("flip without the rule's reason: %+v", f)
		}
		delete(want, f.EventID+"/"+f.CitizenID)
	}
	if len(want) > 0 || c.FlipCount != len(c.Flips) {
		t.Errorf("movers into %s that did not flip: %v", street, want)
	}
	t.Logf("%s: %d flips", street, c.FlipCount)
}

var external = regexp.MustCompile(`(?i)(src|href)\s*=|url\(|@import|https?://(?:[^w]|w[^w]|ww[^w]|www\.[^w]|www\.w[^3])`)

// TestReportIsSelfContained: report.html carries its plots inline and
// refers to nothing outside itself; the tables and summary are beside it.
func TestReportIsSelfContained(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "out")
	res := run(t, load(t, small), engine(t), 2)
	if err := simulations.WriteRun(dir, res); err != nil {
		t.Fatal(err)
	}
	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(html, []byte("<svg")); n < 5 {
		t.Errorf("%d inline plots, want weekly, funnel, transfers, backlog and manual reasons", n)
	}
	if m := external.Find(html); m != nil {
		t.Errorf("report refers outside itself: %q", m)
	}
	for _, name := range []string{"summary.json", "services.csv", "weeks.csv", "transfers.csv", "manual.csv", "agencies.csv", "agency_weeks.csv"} {
		if st, err := os.Stat(filepath.Join(dir, name)); err != nil || st.Size() == 0 {
			t.Errorf("%s: %v", name, err)
		}
	}
	var s simulations.Summary
	raw, _ := os.ReadFile(filepath.Join(dir, "summary.json"))
	if err := json.Unmarshal(raw, &s); err != nil || len(s.Services) == 0 || len(s.Manual) == 0 {
		t.Errorf("summary.json: %v, %d services, %d manual reasons", err, len(s.Services), len(s.Manual))
	}
	if err := simulations.CheckOut(dir, false); !errors.Is(err, simulations.ErrOutNotEmpty) {
		t.Errorf("a non-empty --out accepted: %v", err)
	}
	if err := simulations.CheckOut(dir, true); err != nil {
		t.Errorf("--force refused: %v", err)
	}
}

// TestGeneratedEventsAreValid: every generated event passes the edge's
// strict validation, in time order, with the registers knowing everyone.
func TestGeneratedEventsAreValid(t *testing.T) {
	pop := simulations.Generate(load(t, small))
	known := map[string]bool{}
	for _, c := range pop.Registers.Citizens {
		known[c.CitizenID] = true
	}
	var buf bytes.Buffer
	if err := simulations.WriteEvents(&buf, pop.Events); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != len(pop.Events) || len(lines) < 100 {
		t.Fatalf("%d lines for %d events", len(lines), len(pop.Events))
	}
	for i, line := range lines {
		e, err := events.Decode([]byte(line), nil, pop.Events[i].Time)
		if err != nil {
			t.Fatalf("event %d: %v\n%s", i, err, line)
		}
		if i > 0 && e.Time.Before(pop.Events[i-1].Time) {
			t.Fatalf("event %d out of order", i)
		}
		if !known[e.Subject()] {
			t.Fatalf("event %d: %s is not in the registers", i, e.Subject())
		}
	}
}

// TestExclusiveAndSuperseded: child benefit goes to one parent per birth;
// an older move's open proposals end when a newer move comes.
func TestExclusiveAndSuperseded(t *testing.T) {
	sc := load(t, "scenarios/sample-district.yaml")
	sc.District.Municipalities = sc.District.Municipalities[:2]
	for i := range sc.District.Municipalities {
		sc.District.Municipalities[i].Residents = 15000
	}
	res := run(t, sc, engine(t), 2)
	perBirth := map[string]int{}
	superseded := 0
	for _, o := range res.Proposals {
		if o.Service == "child_benefit" && o.Transferred {
			perBirth[o.EventID]++
		}
		if o.Reason == "superseded" {
			superseded++
			if o.Status != proposals.StatusWithdrawn {
				t.Errorf("superseded but %s", o.Status)
			}
		}
	}
	for ev, n := range perBirth {
		if n != 1 {
			t.Errorf("birth %s: child benefit transferred %d times", ev, n)
		}
	}
	if len(perBirth) == 0 || superseded == 0 {
		t.Errorf("%d births with child benefit, %d superseded: the cases did not occur", len(perBirth), superseded)
	}
}

// TestBadScenarios: one line naming the file, line and field.
func TestBadScenarios(t *testing.T) {
	raw, err := os.ReadFile(small)
	if err != nil {
		t.Fatal(err)
	}
	base := string(raw)
	// at is the text on the line the error must name.
	for name, c := range map[string]struct{ from, to, at, want string }{
		"unknown key":         {"seed: 7", "seed: 7\ncolour: blue", "colour", "field colour not found in type"},
		"negative rate":       {"movesWithin: 60", "movesWithin: -1", "movesWithin", "rates.movesWithin: -1: a rate per 1,000 residents"},
		"answers not summing": {"accept: 0.8, decline: 0.1, ignore: 0.1", "accept: 0.8, decline: 0.2, ignore: 0.1", "answer:", "behaviour.answer: accept, decline and ignore sum to 1.1"},
		"household shares":    {"sizes: {1: 0.4,", "sizes: {1: 0.5,", "sizes:", "households.sizes: the shares sum to 1.1"},
		"wrong type":          {"residents: 3000", "residents: many", "many", "cannot unmarshal !!str"},
		"bad key":             {`key: "03353022"`, `key: "0335"`, `"0335"`, `district.municipalities[0].key: "0335" is not an 8-digit`},
		"unknown register":    {"registersMissing: [dogs]", "registersMissing: [cats]", "cats", `district.municipalities[1].registersMissing[0]: unknown register "cats"`},
		"unknown municipality": {"households:", "  parkingZones:\n    - {municipality: \"01001000\", street: A, zone: B}\nhouseholds:", "01001000",
			`district.parkingZones[0].municipality: unknown municipality "01001000"`},
		"bad date": {`end: "2027-03-31"`, `end: "2027-02-31"`, "2027-02-31", `period.end: "2027-02-31" is not a date`},
	} {
		t.Run(name, func(t *testing.T) {
			if !strings.Contains(base, c.from) {
				t.Fatalf("the small scenario lacks %q", c.from)
			}
			text := strings.Replace(base, c.from, c.to, 1)
			line := strings.Count(text[:strings.Index(text, c.at)], "\n") + 1
			want := fmt.Sprintf("bad.yaml:%d: %s", line, c.want)
			_, err := simulations.ParseScenario("bad.yaml", []byte(text))
			if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") || !errors.Is(err, simulations.ErrScenario) {
				t.Fatalf("got %v\nwant one line with %s", err, want)
			}
		})
	}
	sc := load(t, small)
	sc.Behaviour.Services = map[string]simulations.Answer{"parking_permits": {Accept: 1}}
	if err := sc.CheckCatalog(engine(t).Catalog()); err == nil || !strings.Contains(err.Error(), `unknown service "parking_permits"`) {
		t.Fatalf("unknown service: %v", err)
	}
}

// TestBadPoliciesWriteNothing: a policy folder that does not compile is
// one line naming the file, and the report folder stays untouched.
func TestBadPoliciesWriteNothing(t *testing.T) {
	dir := t.TempDir()
	pol := filepath.Join(dir, "policies", "services", "x")
	if err := os.MkdirAll(pol, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pol, "policy.rego"), []byte("package x\n\ndecision := {\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "out")
	j := simulations.Job{Scenario: small, Policies: filepath.Join(dir, "policies"), Out: out}
	_, err := j.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "policy.rego:") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("got %v", err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Fatalf("a refused run wrote %s", out)
	}
}

// TestGenerateFromRegisters: a scenario over registers that already hold
// the people (as --registers postgres reads them): its events move and
// give births to those people, newcomers get ids of their own, the
// registers read are not changed, and the same registers and seed give the
// same events.
func TestGenerateFromRegisters(t *testing.T) {
	sc := load(t, small)
	live := simulations.Generate(sc).Registers
	before, _ := json.Marshal(live)
	pop, err := simulations.GenerateFrom(sc, live)
	if err != nil {
		t.Fatal(err)
	}
	if after, _ := json.Marshal(live); !bytes.Equal(before, after) {
		t.Fatal("GenerateFrom changed the registers it read")
	}
	known := map[string]bool{}
	for _, c := range live.Citizens {
		known[c.CitizenID] = true
	}
	if pop.Flows.Residents != len(live.Citizens) {
		t.Fatalf("residents %d, want the registers' %d", pop.Flows.Residents, len(live.Citizens))
	}
	inRegisters := map[string]bool{}
	for _, c := range pop.Registers.Citizens {
		inRegisters[c.CitizenID] = true
	}
	var fromRegisters, newcomers int
	for _, e := range pop.Events {
		var ids []string
		if e.Move != nil {
			for _, m := range e.Move.Household {
				ids = append(ids, m.CitizenID)
			}
		} else {
			for _, p := range e.Birth.Parents {
				ids = append(ids, p.CitizenID)
			}
			if !strings.HasPrefix(e.Birth.ChildID, "c-n") || !inRegisters[e.Birth.ChildID] {
				t.Fatalf("newborn %s: not a newcomer's id, or not in the population's registers", e.Birth.ChildID)
			}
		}
		for _, id := range ids {
			switch {
			case known[id]:
				fromRegisters++
			case strings.HasPrefix(id, "c-n") && inRegisters[id]:
				newcomers++
			default:
				t.Fatalf("event %s names %s: neither in the registers nor a newcomer", e.ID, id)
			}
		}
	}
	if fromRegisters == 0 || newcomers == 0 || len(pop.Events) < 100 {
		t.Fatalf("%d events, %d people from the registers, %d newcomers", len(pop.Events), fromRegisters, newcomers)
	}
	again, _ := simulations.GenerateFrom(sc, live)
	a, _ := json.Marshal(pop)
	b, _ := json.Marshal(again)
	if !bytes.Equal(a, b) {
		t.Fatal("the same registers and seed gave other events")
	}
	res, err := simulations.Run(context.Background(), sc, &pop, engine(t), simulations.Options{})
	if err != nil || len(res.Proposals) == 0 {
		t.Fatalf("run over the registers: %d proposals, %v", len(res.Proposals), err)
	}

	live.Municipalities = live.Municipalities[:1]
	if _, err := simulations.GenerateFrom(sc, live); err == nil || !strings.Contains(err.Error(), "is not in the registers") {
		t.Fatalf("a scenario municipality missing from the registers: %v", err)
	}
}
