// Package simulations runs a district's life events through the real rules
// before an operator switches a service on: a scenario describes the
// district, its people and their behaviour; the generator makes a
// population and a year of events from it, deterministically by seed; the
// what-if engine carries every event through the same candidate
// resolution and consent rules the journeys use, then every proposal
// through its lifecycle and the agencies' queues, on a virtual clock.
package simulations

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/registries"
)

// Scenario is one simulation's input, as read from a YAML file.
type Scenario struct {
	Name string `yaml:"name"`
	// Seed makes the run reproducible: the same scenario and seed give the
	// same population, events and decisions.
	Seed   uint64 `yaml:"seed"`
	Period Period `yaml:"period"`
	// Offers is "opt-out" (offers unless the citizen objected) or "opt-in"
	// (offers only with the citizen's consent).
	Offers string `yaml:"offers"`
	// Policies is a policy folder, relative to the scenario file; empty
	// means the bundle built into the binary.
	Policies   string     `yaml:"policies"`
	District   District   `yaml:"district"`
	Households Households `yaml:"households"`
	Rates      Rates      `yaml:"rates"`
	Behaviour  Behaviour  `yaml:"behaviour"`
	Agencies   Agencies   `yaml:"agencies"`

	// file and node are where the scenario came from, for error lines.
	file string
	node *yaml.Node
	dir  string
	// start and end are Period parsed, once.
	start, end time.Time
}

// Period is the simulated stretch of time, both days included.
type Period struct {
	Start string `yaml:"start"`
	End   string `yaml:"end"`
}

// District is the municipalities and their registers' shape.
type District struct {
	Municipalities []Municipality `yaml:"municipalities"`
	// ParkingZones adds streets to resident-parking zones beyond the
	// generated ones: the way to ask "what if zone 3 took these streets".
	ParkingZones []ZoneStreet `yaml:"parkingZones"`
}

// Municipality of the district.
type Municipality struct {
	Key           string `yaml:"key"`
	Name          string `yaml:"name"`
	PostalCode    string `yaml:"postalCode"`
	Residents     int    `yaml:"residents"`
	Streets       int    `yaml:"streets"`
	WasteDistrict string `yaml:"wasteDistrict"`
	// ParkingZoneShare of the streets lie in resident-parking zones.
	ParkingZoneShare float64 `yaml:"parkingZoneShare"`
	// RegistersMissing names registers the municipality has not
	// connected (vehicles, dogs, parkingZones, wasteDistrict): services
	// that need them end as a notice to apply by hand.
	RegistersMissing []string `yaml:"registersMissing"`
}

// Registers a municipality may lack.

// ZoneStreet puts one street into a parking zone.
type ZoneStreet struct {
	Municipality string `yaml:"municipality"`
	Street       string `yaml:"street"`
	Zone         string `yaml:"zone"`
}

// Households shape the population.
type Households struct {
	// Sizes maps a household size to its share; the shares sum to 1.
	Sizes map[int]float64 `yaml:"sizes"`
	// CarPerAdult is the chance that an adult holds a car, DogPerHousehold
	// that a household keeps a dog.
	CarPerAdult     float64 `yaml:"carPerAdult"`
	DogPerHousehold float64 `yaml:"dogPerHousehold"`
}

// Rates are life events per 1,000 residents a year.
type Rates struct {
	MovesWithin float64 `yaml:"movesWithin"`
	MovesInto   float64 `yaml:"movesInto"`
	MovesOut    float64 `yaml:"movesOut"`
	Births      float64 `yaml:"births"`
	// MonthEndPeak makes a move on the last three days of a month this
	// many times as likely as on another day (1: no peak).
	MonthEndPeak float64 `yaml:"monthEndPeak"`
}

// Behaviour is how citizens answer.
type Behaviour struct {
	// ObjectionRate of citizens object to proactive offers (opt-out
	// districts); OffersConsentRate consent to them (opt-in districts).
	ObjectionRate     float64 `yaml:"objectionRate"`
	OffersConsentRate float64 `yaml:"offersConsentRate"`
	// StandingConsentShare of citizens hold a standing consent for each
	// service that may be applied for automatically.
	StandingConsentShare float64 `yaml:"standingConsentShare"`
	// WithdrawalRate of open proposals see their consent withdrawn before
	// the citizen decides.
	WithdrawalRate float64 `yaml:"withdrawalRate"`
	// ResponseDays is how long a citizen takes to answer.
	ResponseDays Delay `yaml:"responseDays"`
	// Answer applies to every service that Services does not name.
	Answer   Answer            `yaml:"answer"`
	Services map[string]Answer `yaml:"services"`
}

// Answer is what a citizen does with a proposal; the three sum to 1.
type Answer struct {
	Accept  float64 `yaml:"accept"`
	Decline float64 `yaml:"decline"`
	Ignore  float64 `yaml:"ignore"`
}

// Delay is a log-normal duration in days given by its median and 90th
// percentile; equal values make it fixed.
type Delay struct {
	Median float64 `yaml:"median"`
	P90    float64 `yaml:"p90"`
}

// Agencies answer submissions.
type Agencies struct {
	// TimeoutDays is how long a journey waits for an agency before it
	// escalates; after twice that it gives up (the journeys' default 14).
	TimeoutDays float64 `yaml:"timeoutDays"`
	Default     Agency  `yaml:"default"`
	// Recipients overrides the default per recipient id of the catalog.
	Recipients map[string]AgencyOverride `yaml:"recipients"`
}

// Agency is how one agency works.
type Agency struct {
	GrantRate       float64 `yaml:"grantRate"`
	ProcessingDays  Delay   `yaml:"processingDays"`
	CapacityPerWeek int     `yaml:"capacityPerWeek"`
}

// AgencyOverride changes what it names of the default.
type AgencyOverride struct {
	GrantRate       *float64 `yaml:"grantRate"`
	ProcessingDays  *Delay   `yaml:"processingDays"`
	CapacityPerWeek *int     `yaml:"capacityPerWeek"`
}

// For returns how the agency with this recipient id works.
func (a Agencies) For(recipient string) Agency {
	out := a.Default
	if o, ok := a.Recipients[recipient]; ok {
		if o.GrantRate != nil {
			out.GrantRate = *o.GrantRate
		}
		if o.ProcessingDays != nil {
			out.ProcessingDays = *o.ProcessingDays
		}
		if o.CapacityPerWeek != nil {
			out.CapacityPerWeek = *o.CapacityPerWeek
		}
	}
	return out
}

// AnswerFor returns the behaviour for a service.
func (b Behaviour) AnswerFor(service string) Answer {
	if a, ok := b.Services[service]; ok {
		return a
	}
	return b.Answer
}

// Error is a scenario that cannot run: the file, the line and the field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		b.WriteString(":" + strconv.Itoa(e.Line))
	}
	if e.Field != "" {
		b.WriteString(": " + e.Field)
	}
	b.WriteString(": " + e.Msg)
	return b.String()
}

// ErrScenario is what every *Error matches with errors.Is.
var ErrScenario = errors.New("invalid scenario")

func (e *Error) Is(target error) bool { return target == ErrScenario }

// MaxScenarioBytes bounds a scenario file; real ones are a few KiB.
const MaxScenarioBytes = 1 << 20

// LoadScenario reads and checks a scenario file: unknown keys, wrong
// types and bad values are errors naming the file, line and field.
func LoadScenario(path string) (*Scenario, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("scenario: %w", err)
	}
	return ParseScenario(path, raw)
}

var yamlLine = regexp.MustCompile(`line (\d+): (.*)`)

// ParseScenario is LoadScenario on bytes; name is the file name errors
// carry.
func ParseScenario(name string, raw []byte) (*Scenario, error) {
	if len(raw) > MaxScenarioBytes {
		return nil, &Error{File: name, Msg: fmt.Sprintf("%d bytes, a scenario is at most %d", len(raw), MaxScenarioBytes)}
	}
	var node yaml.Node
	if err := yaml.Unmarshal(raw, &node); err != nil {
		return nil, yamlError(name, err)
	}
	if len(node.Content) == 0 {
		return nil, &Error{File: name, Msg: "the file is empty"}
	}
	var sc Scenario
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&sc); err != nil {
		return nil, yamlError(name, err)
	}
	sc.file, sc.node, sc.dir = name, node.Content[0], filepath.Dir(name)
	if err := sc.validate(); err != nil {
		return nil, err
	}
	return &sc, nil
}

// yamlError turns the YAML library's message into one line with the file.
func yamlError(name string, err error) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0]
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		return &Error{File: name, Line: line, Msg: strings.ReplaceAll(m[2], "simulations.", "")}
	}
	return &Error{File: name, Msg: msg}
}

// at finds the line of a field by its path of keys and list indices.
func (sc *Scenario) at(path ...string) int {
	n := sc.node
	line := 0
	if n != nil {
		line = n.Line
	}
	for _, p := range path {
		if n == nil {
			break
		}
		switch n.Kind {
		case yaml.MappingNode:
			var next *yaml.Node
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == p {
					line, next = n.Content[i].Line, n.Content[i+1]
					break
				}
			}
			n = next
		case yaml.SequenceNode:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(n.Content) {
				return line
			}
			n = n.Content[i]
			line = n.Line
		default:
			return line
		}
	}
	return line
}

func (sc *Scenario) fail(msg string, path ...string) error {
	field := ""
	for _, p := range path {
		if _, err := strconv.Atoi(p); err == nil {
			field += "[" + p + "]"
			continue
		}
		if field != "" {
			field += "."
		}
		field += p
	}
	return &Error{File: sc.file, Line: sc.at(path...), Field: field, Msg: msg}
}

var (
	keyPattern = regexp.MustCompile(`^[0-9]{8}$`)
	postal     = regexp.MustCompile(`^[0-9]{5}$`)
)

// Limits keep a scenario within what one machine simulates.
const (
	MaxResidents = 20_000_000
	MaxDays      = 3 * 366
	MaxStreets   = 100_000
)

func (sc *Scenario) validate() error {
	if sc.Name == "" {
		return sc.fail("a scenario needs a name", "name")
	}
	start, end, err := sc.dates()
	if err != nil {
		return err
	}
	sc.start, sc.end = start, end
	if days := int(end.Sub(start)/(24*time.Hour)) + 1; days < 1 || days > MaxDays {
		return sc.fail(fmt.Sprintf("the period must run forward and last at most %d days", MaxDays), "period", "end")
	}
	switch sc.Offers {
	case "opt-out", "opt-in":
	case "":
		sc.Offers = "opt-out"
	default:
		return sc.fail(fmt.Sprintf("%q: must be opt-out or opt-in", sc.Offers), "offers")
	}
	if len(sc.District.Municipalities) == 0 {
		return sc.fail("at least one municipality", "district", "municipalities")
	}
	keys := map[string]bool{}
	total := 0
	for i, m := range sc.District.Municipalities {
		p := func(f string) []string { return []string{"district", "municipalities", strconv.Itoa(i), f} }
		switch {
		case !keyPattern.MatchString(m.Key):
			return sc.fail(fmt.Sprintf("%q is not an 8-digit municipality key", m.Key), p("key")...)
		case keys[m.Key]:
			return sc.fail(fmt.Sprintf("municipality %s twice", m.Key), p("key")...)
		case m.Name == "":
			return sc.fail("a municipality needs a name", p("name")...)
		case !postal.MatchString(m.PostalCode):
			return sc.fail(fmt.Sprintf("%q is not a 5-digit postal code", m.PostalCode), p("postalCode")...)
		case m.Residents < 1 || m.Residents > MaxResidents:
			return sc.fail(fmt.Sprintf("%d: must lie between 1 and %d", m.Residents, MaxResidents), p("residents")...)
		case m.Streets < 1 || m.Streets > MaxStreets:
			return sc.fail(fmt.Sprintf("%d: must lie between 1 and %d", m.Streets, MaxStreets), p("streets")...)
		case m.WasteDistrict == "":
			return sc.fail("a municipality needs its waste district", p("wasteDistrict")...)
		}
		if err := sc.probability(m.ParkingZoneShare, p("parkingZoneShare")...); err != nil {
			return err
		}
		for k, r := range m.RegistersMissing {
			if !slices.Contains(registries.Registers, r) {
				return sc.fail(fmt.Sprintf("unknown register %q: one of %s", r, strings.Join(registries.Registers, ", ")),
					"district", "municipalities", strconv.Itoa(i), "registersMissing", strconv.Itoa(k))
			}
		}
		keys[m.Key] = true
		total += m.Residents
	}
	if total > MaxResidents {
		return sc.fail(fmt.Sprintf("%d residents in all, at most %d", total, MaxResidents), "district", "municipalities")
	}
	for i, z := range sc.District.ParkingZones {
		p := func(f string) []string { return []string{"district", "parkingZones", strconv.Itoa(i), f} }
		switch {
		case !keys[z.Municipality]:
			return sc.fail(fmt.Sprintf("unknown municipality %q: not one of the district's", z.Municipality), p("municipality")...)
		case z.Street == "":
			return sc.fail("a street is needed", p("street")...)
		case z.Zone == "":
			return sc.fail("a zone is needed", p("zone")...)
		}
	}
	if err := sc.households(); err != nil {
		return err
	}
	for _, r := range []struct {
		name string
		v    float64
	}{{"movesWithin", sc.Rates.MovesWithin}, {"movesInto", sc.Rates.MovesInto}, {"movesOut", sc.Rates.MovesOut}, {"births", sc.Rates.Births}} {
		if r.v < 0 || r.v > 1000 || math.IsNaN(r.v) {
			return sc.fail(fmt.Sprintf("%g: a rate per 1,000 residents a year lies between 0 and 1000", r.v), "rates", r.name)
		}
	}
	if sc.Rates.MonthEndPeak == 0 {
		sc.Rates.MonthEndPeak = 1
	}
	if sc.Rates.MonthEndPeak < 1 || sc.Rates.MonthEndPeak > 20 {
		return sc.fail(fmt.Sprintf("%g: must lie between 1 (no peak) and 20", sc.Rates.MonthEndPeak), "rates", "monthEndPeak")
	}
	return sc.behaviour()
}

func (sc *Scenario) dates() (time.Time, time.Time, error) {
	start, err := time.Parse(time.DateOnly, sc.Period.Start)
	if err != nil {
		return time.Time{}, time.Time{}, sc.fail(fmt.Sprintf("%q is not a date (YYYY-MM-DD)", sc.Period.Start), "period", "start")
	}
	end, err := time.Parse(time.DateOnly, sc.Period.End)
	if err != nil {
		return time.Time{}, time.Time{}, sc.fail(fmt.Sprintf("%q is not a date (YYYY-MM-DD)", sc.Period.End), "period", "end")
	}
	return start, end, nil
}

func (sc *Scenario) probability(v float64, path ...string) error {
	if v < 0 || v > 1 || math.IsNaN(v) {
		return sc.fail(fmt.Sprintf("%g: a probability lies between 0 and 1", v), path...)
	}
	return nil
}

func (sc *Scenario) households() error {
	h := sc.Households
	if len(h.Sizes) == 0 {
		return sc.fail("the shares of household sizes are needed", "households", "sizes")
	}
	sum := 0.0
	for size, share := range h.Sizes {
		key := strconv.Itoa(size)
		if size < 1 || size > 12 {
			return sc.fail(fmt.Sprintf("household size %d: must lie between 1 and 12", size), "households", "sizes", key)
		}
		if err := sc.probability(share, "households", "sizes", key); err != nil {
			return err
		}
		sum += share
	}
	if math.Abs(sum-1) > 1e-6 {
		return sc.fail(fmt.Sprintf("the shares sum to %.4g, not 1", sum), "households", "sizes")
	}
	if err := sc.probability(h.CarPerAdult, "households", "carPerAdult"); err != nil {
		return err
	}
	return sc.probability(h.DogPerHousehold, "households", "dogPerHousehold")
}

func (sc *Scenario) behaviour() error {
	b := sc.Behaviour
	for name, v := range map[string]float64{"objectionRate": b.ObjectionRate, "offersConsentRate": b.OffersConsentRate,
		"standingConsentShare": b.StandingConsentShare, "withdrawalRate": b.WithdrawalRate} {
		if err := sc.probability(v, "behaviour", name); err != nil {
			return err
		}
	}
	if err := sc.delay(b.ResponseDays, "behaviour", "responseDays"); err != nil {
		return err
	}
	if err := sc.answer(b.Answer, "behaviour", "answer"); err != nil {
		return err
	}
	for _, name := range sortedKeys(b.Services) {
		if err := sc.answer(b.Services[name], "behaviour", "services", name); err != nil {
			return err
		}
	}
	a := sc.Agencies
	if a.TimeoutDays == 0 {
		sc.Agencies.TimeoutDays = 14
	}
	if sc.Agencies.TimeoutDays < 0 || sc.Agencies.TimeoutDays > 365 {
		return sc.fail(fmt.Sprintf("%g: must lie between 0 and 365 days", a.TimeoutDays), "agencies", "timeoutDays")
	}
	if err := sc.agency(a.Default, "agencies", "default"); err != nil {
		return err
	}
	for _, id := range sortedKeys(a.Recipients) {
		if err := sc.agency(a.For(id), "agencies", "recipients", id); err != nil {
			return err
		}
	}
	return nil
}

func (sc *Scenario) answer(a Answer, path ...string) error {
	for name, v := range map[string]float64{"accept": a.Accept, "decline": a.Decline, "ignore": a.Ignore} {
		if err := sc.probability(v, append(slices.Clone(path), name)...); err != nil {
			return err
		}
	}
	if sum := a.Accept + a.Decline + a.Ignore; math.Abs(sum-1) > 1e-6 {
		return sc.fail(fmt.Sprintf("accept, decline and ignore sum to %.4g, not 1", sum), path...)
	}
	return nil
}

func (sc *Scenario) delay(d Delay, path ...string) error {
	if d.Median <= 0 || d.P90 < d.Median || d.P90 > 3650 {
		return sc.fail(fmt.Sprintf("median %g, p90 %g: days need 0 < median <= p90 <= 3650", d.Median, d.P90), path...)
	}
	return nil
}

func (sc *Scenario) agency(a Agency, path ...string) error {
	if err := sc.probability(a.GrantRate, append(slices.Clone(path), "grantRate")...); err != nil {
		return err
	}
	if err := sc.delay(a.ProcessingDays, append(slices.Clone(path), "processingDays")...); err != nil {
		return err
	}
	if a.CapacityPerWeek < 1 {
		return sc.fail(fmt.Sprintf("%d: an agency handles at least 1 case a week", a.CapacityPerWeek), append(slices.Clone(path), "capacityPerWeek")...)
	}
	return nil
}

// CheckCatalog refuses what names a service or recipient the catalog does
// not know: a typo would otherwise silently fall back to the defaults.
func (sc *Scenario) CheckCatalog(c policies.Catalog) error {
	for _, name := range sortedKeys(sc.Behaviour.Services) {
		if _, ok := c[name]; !ok {
			return sc.fail(fmt.Sprintf("unknown service %q: the catalog has %s", name, strings.Join(sortedKeys(c), ", ")), "behaviour", "services", name)
		}
	}
	recipients := map[string]bool{}
	for _, s := range c {
		recipients[s.Recipient.ID] = true
		for _, a := range s.RecipientsByMunicipality {
			recipients[a.ID] = true
		}
	}
	for _, id := range sortedKeys(sc.Agencies.Recipients) {
		if !recipients[id] {
			return sc.fail(fmt.Sprintf("unknown recipient %q: not an agency of the catalog", id), "agencies", "recipients", id)
		}
	}
	return nil
}

// PolicyDir is the scenario's policy folder resolved against the file's
// folder, or "" for the built-in bundle.
func (sc *Scenario) PolicyDir() string {
	if sc.Policies == "" || filepath.IsAbs(sc.Policies) {
		return sc.Policies
	}
	return filepath.Join(sc.dir, sc.Policies)
}

// Start and End of the period (End is the last day, included).
func (sc *Scenario) Start() time.Time { return sc.start }
func (sc *Scenario) End() time.Time   { return sc.end }

// Days in the period.
func (sc *Scenario) Days() int { return int(sc.End().Sub(sc.Start())/(24*time.Hour)) + 1 }

// Residents of the whole district.
func (sc *Scenario) Residents() int {
	n := 0
	for _, m := range sc.District.Municipalities {
		n += m.Residents
	}
	return n
}

// File is where the scenario was read from.
func (sc *Scenario) File() string { return sc.file }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
