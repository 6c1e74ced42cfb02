// Package policies holds the service catalog and the Rego policies that
// decide who is offered what and which data may flow where, and the engine
// that evaluates them. The catalog is data inside the policy bundle (one
// folder per service under services/, its metadata in data.json beside its
// Rego policy and tests), so policy teams add and change services without
// Go code, and one `opa build` carries metadata and rules together.
package policies

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strings"

	"github.com/lifeevents/lifeevents/proposals"
)

// Service is one catalog entry.
type Service struct {
	ID       string            `json:"id"`
	Name     map[string]string `json:"name"`
	Triggers []string          `json:"triggers"`
	// Audience says who in the event is offered the service: "mover",
	// "household" (once, to the mover), "adults" (each adult of the
	// household), "parents" (each parent).
	Audience string `json:"audience"`
	// Exclusive services go to one member of the audience only: the first
	// who accepts; the others' proposals are withdrawn.
	Exclusive bool `json:"exclusive"`
	// Recipient is the agency, unless RecipientsByMunicipality names one for
	// the municipality the service is provided in.
	Recipient                Agency            `json:"recipient"`
	RecipientsByMunicipality map[string]Agency `json:"recipientsByMunicipality,omitempty"`
	Purpose                  string            `json:"purpose"`
	Basis                    Basis             `json:"basis"`
	Fields                   []Field           `json:"fields"`
	DecisionDays             int               `json:"decisionDays"`
	ReminderDays             int               `json:"reminderDays"`
	AutoApply                bool              `json:"autoApply"`
	// Policy is the Rego package of the eligibility rules, e.g.
	// lifeevents.eligibility.waste_bins; it defines `decision`.
	Policy string `json:"policy"`
}

// Agency is a recipient of applications.
type Agency struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Basis is the legal ground of the transfer: a law, or the citizen's consent.
type Basis struct {
	Kind      proposals.BasisKind `json:"kind"`
	Reference string              `json:"reference"`
}

// Field is one datum a service needs.
type Field struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	// Source is a path into the facts the journey gathered, e.g.
	// event.to.street, subject.citizenId, registry.vehicles, or
	// decision.binSize for a value the policy computes.
	Source string `json:"source,omitempty"`
	// Ask, instead of a source, asks the citizen for the value when they
	// accept: "iban", "date", "choice" (one of Choices) or "text"; for what
	// no register holds (an account to pay into).
	Ask     string   `json:"ask,omitempty"`
	Choices []string `json:"choices,omitempty"`
	// Optional fields are only sent on a separate, explicit consent.
	Optional bool `json:"optional,omitempty"`
}

// RecipientFor returns the agency for a municipality.
func (s Service) RecipientFor(municipality string) Agency {
	if a, ok := s.RecipientsByMunicipality[municipality]; ok {
		return a
	}
	return s.Recipient
}

// FieldNames lists the names of the fields, the optional ones only if asked.
func (s Service) FieldNames(withOptional bool) []string {
	var out []string
	for _, f := range s.Fields {
		if !f.Optional || withOptional {
			out = append(out, f.Name)
		}
	}
	return out
}

// Catalog is the set of services of one bundle revision.
type Catalog map[string]Service

// Sorted returns the services ordered by id.
func (c Catalog) Sorted() []Service {
	out := make([]Service, 0, len(c))
	for _, s := range c {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// TriggeredBy lists the services an event type triggers, ordered by id.
func (c Catalog) TriggeredBy(eventType string) []Service {
	var out []Service
	for _, s := range c.Sorted() {
		if slices.Contains(s.Triggers, eventType) {
			out = append(out, s)
		}
	}
	return out
}

var (
	idPattern      = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)
	packagePattern = regexp.MustCompile(`^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)+$`)
	sourcePattern  = regexp.MustCompile(`^(event|subject|registry|decision)(\.[A-Za-z0-9_]+)+$`)
	audiences      = []string{"mover", "household", "adults", "parents"}
	triggers       = []string{"lifeevents.move.registered.v1", "lifeevents.birth.registered.v1"}
	municipality   = regexp.MustCompile(`^[0-9]{8}$`)
)

// ParseCatalog reads the catalog from the bundle's data: every object under
// data.services. It checks each entry against the metadata schema and
// returns all problems at once.
func ParseCatalog(data map[string]any) (Catalog, error) {
	raw, _ := data["services"].(map[string]any)
	if len(raw) == 0 {
		return nil, errors.New("catalog: no services (expected services/<id>/data.json)")
	}
	c := Catalog{}
	var errs []error
	keys := make([]string, 0, len(raw))
	for k := range raw {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, key := range keys {
		b, _ := json.Marshal(raw[key])
		var s Service
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&s); err != nil {
			errs = append(errs, fmt.Errorf("services/%s/data.json: %v", key, err))
			continue
		}
		for _, p := range s.validate(key) {
			errs = append(errs, fmt.Errorf("services/%s/data.json: %s", key, p))
		}
		c[s.ID] = s
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("catalog: %w", err)
	}
	return c, nil
}

func (s Service) validate(folder string) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if !idPattern.MatchString(s.ID) {
		add("id %q must be lower-case letters, digits and _", s.ID)
	} else if s.ID != folder {
		add("id %q does not match its folder %q", s.ID, folder)
	}
	if s.Name["de"] == "" || s.Name["en"] == "" {
		add("name needs both de and en")
	}
	if len(s.Triggers) == 0 {
		add("triggers: at least one event type")
	}
	for _, t := range s.Triggers {
		if !slices.Contains(triggers, t) {
			add("trigger %q is not one of %v", t, triggers)
		}
	}
	if !slices.Contains(audiences, s.Audience) {
		add("audience %q is not one of %v", s.Audience, audiences)
	}
	if s.Recipient.ID == "" || s.Recipient.Name == "" {
		add("recipient needs id and name")
	}
	for m, a := range s.RecipientsByMunicipality {
		if !municipality.MatchString(m) {
			add("recipientsByMunicipality: %q is not an 8-digit municipality key", m)
		}
		if a.ID == "" || a.Name == "" {
			add("recipientsByMunicipality[%s] needs id and name", m)
		}
	}
	if s.Purpose == "" {
		add("purpose is required")
	}
	switch s.Basis.Kind {
	case proposals.BasisLaw, proposals.BasisConsent:
		if s.Basis.Reference == "" {
			add("basis.reference is required")
		}
	default:
		add("basis.kind %q must be law or consent", s.Basis.Kind)
	}
	if len(s.Fields) == 0 {
		add("fields: at least one")
	}
	seen := map[string]bool{}
	for i, f := range s.Fields {
		if f.Name == "" || f.Category == "" {
			add("fields[%d] needs name and category", i)
		}
		if seen[f.Name] {
			add("field %q appears twice", f.Name)
		}
		seen[f.Name] = true
		switch {
		case f.Ask != "" && f.Source != "":
			add("fields[%d] has both source and ask: a value comes from the registers or from the citizen", i)
		case f.Ask != "":
			if !slices.Contains(proposals.AskKinds(), f.Ask) {
				add("fields[%d].ask %q must be one of %s", i, f.Ask, strings.Join(proposals.AskKinds(), ", "))
			}
			if (f.Ask == proposals.AskChoice) != (len(f.Choices) > 0) {
				add("fields[%d]: choices go with ask \"choice\", and it needs them", i)
			}
			if f.Optional {
				add("fields[%d]: an asked field cannot be optional", i)
			}
		case !sourcePattern.MatchString(f.Source):
			add("fields[%d].source %q must be a path under event, subject, registry or decision", i, f.Source)
		}
	}
	if s.DecisionDays < 1 || s.DecisionDays > 365 {
		add("decisionDays must be 1 to 365")
	}
	if s.ReminderDays < 0 || s.ReminderDays >= s.DecisionDays {
		add("reminderDays must be 0 or more and less than decisionDays")
	}
	if s.AutoApply && s.Basis.Kind != proposals.BasisConsent {
		add("autoApply needs a consent basis (the standing consent is what allows it)")
	}
	if !packagePattern.MatchString(s.Policy) {
		add("policy %q must be a Rego package path such as lifeevents.eligibility.%s", s.Policy, s.ID)
	}
	return p
}

// enforce refuses a transfer the policy allowed but the catalog does not
// declare, adding the catalog's reasons; a policy's own refusal stands as
// it is.
func (c Catalog) enforce(in SharingInput, d *Decision) {
	if v := c.violations(in); d.Allow && len(v) > 0 {
		d.Allow = false
		d.Reasons = append(d.Reasons, v...)
	}
}

// violations lists how a transfer departs from what the catalog declares
// for its service, as reasons prefixed "platform:".
func (c Catalog) violations(in SharingInput) []string {
	s, ok := c[in.Service]
	if !ok {
		return []string{"platform:unknown_service"}
	}
	var out []string
	if in.Recipient != s.RecipientFor(in.Municipality).ID {
		out = append(out, "platform:wrong_recipient")
	}
	if in.Basis != s.Basis.Kind {
		out = append(out, "platform:wrong_basis")
	}
	for _, name := range in.Fields {
		i := slices.IndexFunc(s.Fields, func(f Field) bool { return f.Name == name })
		switch {
		case i < 0:
			out = append(out, "platform:undeclared_field:"+name)
		case s.Fields[i].Optional && !in.OptionalConsent:
			out = append(out, "platform:optional_field_without_consent:"+name)
		}
	}
	return out
}
