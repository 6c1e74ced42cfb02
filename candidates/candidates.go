// Package candidates decides which follow-up services a life event leads
// to, for whom, and with which data: the catalog's audiences, the
// registers' facts, the eligibility policies and the field sources. It is
// plain Go that takes its data through small interfaces, so the journeys'
// activity, the simulator and the tests run the same rules.
package candidates

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/registries"
)

// Registry looks up what the registers know about a citizen at an address.
type Registry interface {
	Lookup(ctx context.Context, citizenID, municipality, street string) (registries.Facts, error)
}

// Policies decide eligibility from the active catalog.
type Policies interface {
	Catalog() policies.Catalog
	Eligibility(ctx context.Context, service string, input map[string]any) (policies.Decision, error)
}

// Offers says whether a citizen may receive proactive offers: in an
// opt-out district unless they objected, in an opt-in one only with their
// consent.
type Offers interface {
	OffersAllowed(ctx context.Context, citizenID string, optIn bool) (bool, error)
}

// DecisionLog keeps the audit record of each decision.
type DecisionLog interface {
	Record(ctx context.Context, query string, d policies.Decision) error
}

// Candidate is one follow-up service for one citizen, with everything the
// proposal shows.
type Candidate struct {
	LifeEventID string
	CitizenID   string
	Service     string
	ServiceName string
	Recipient   proposals.Recipient
	Purpose     string
	Basis       proposals.Basis
	Fields      []proposals.Field
	DecideIn    time.Duration
	// RemindBefore the deadline; 0 for no reminder.
	RemindBefore time.Duration
	Municipality string
	AutoApply    bool
	Exclusive    bool
}

// Notice tells a citizen about a service the system could not decide for
// them, so they can apply by hand: never a silent drop.
type Notice struct {
	LifeEventID string
	CitizenID   string
	Service     string
	ServiceName string
	Recipient   string
	Missing     []string
	// OffersNotAllowed: there are offers, but the citizen has not allowed
	// proactive offers (objected, or an opt-in district without consent).
	OffersNotAllowed bool
}

// Denial is a service a person's policy refused, with the rule's reasons:
// what a simulation shows when it explains why an outcome changed.
type Denial struct {
	CitizenID string
	Service   string
	Reasons   []string
}

// Result is what a life event leads to.
type Result struct {
	Candidates []Candidate
	Notices    []Notice
	Denials    []Denial
	// Movers are the people a move moves (empty for a birth).
	Movers []string
}

// Resolver holds what resolution reads.
type Resolver struct {
	Policies Policies
	Registry Registry
	// Offers may be nil: then every citizen receives offers.
	Offers      Offers
	OffersOptIn bool
	// Decisions may be nil: then decisions are not recorded.
	Decisions DecisionLog
	// Scale turns the catalog's durations into the journey's (time
	// compression); nil keeps them.
	Scale func(time.Duration) time.Duration
}

func (r Resolver) scaled(d time.Duration) time.Duration {
	if r.Scale == nil {
		return d
	}
	return r.Scale(d)
}

// Resolve works out which catalog services the event triggers for whom:
// each service's audience, the registers' facts about each person, and
// the service's eligibility policy. Services the policy cannot decide for
// lack of data become notices.
func (r Resolver) Resolve(ctx context.Context, e events.Event) (Result, error) {
	municipality, street := place(e)
	eventDoc := map[string]any{"type": e.Type, "data": toMap(e.Data())}
	facts := map[string]registries.Facts{}
	allowed := map[string]bool{}
	var res Result
	if e.Move != nil {
		for _, m := range e.Move.Household {
			res.Movers = append(res.Movers, m.CitizenID)
		}
	}
	for _, svc := range r.Policies.Catalog().TriggeredBy(e.Type) {
		for _, sub := range audience(e, svc.Audience) {
			ok, seen := allowed[sub.CitizenID]
			if !seen {
				ok = true
				if r.Offers != nil {
					var err error
					if ok, err = r.Offers.OffersAllowed(ctx, sub.CitizenID, r.OffersOptIn); err != nil {
						return Result{}, fmt.Errorf("offers allowed: %w", err)
					}
				}
				allowed[sub.CitizenID] = ok
				if !ok {
					res.Notices = append(res.Notices, Notice{LifeEventID: e.ID, CitizenID: sub.CitizenID, OffersNotAllowed: true})
				}
			}
			if !ok {
				continue
			}
			f, ok := facts[sub.CitizenID]
			if !ok {
				var err error
				if f, err = r.Registry.Lookup(ctx, sub.CitizenID, municipality, street); err != nil {
					return Result{}, fmt.Errorf("registry lookup: %w", err)
				}
				facts[sub.CitizenID] = f
			}
			c, notice, denied, err := r.decide(ctx, e, svc, sub, f, eventDoc, municipality)
			if err != nil {
				return Result{}, err
			}
			switch {
			case c != nil:
				res.Candidates = append(res.Candidates, *c)
			case notice != nil:
				res.Notices = append(res.Notices, *notice)
			case denied != nil:
				res.Denials = append(res.Denials, *denied)
			}
		}
	}
	return res, nil
}

// decide asks one service's policy about one person and fills the
// proposal's fields from their sources: a candidate, a notice of what is
// missing, or a denial (not eligible).
func (r Resolver) decide(ctx context.Context, e events.Event, svc policies.Service, sub subject, f registries.Facts,
	eventDoc map[string]any, municipality string) (*Candidate, *Notice, *Denial, error) {
	subjectDoc := map[string]any{"citizenId": sub.CitizenID, "role": sub.Role}
	registryDoc := factsDoc(f)
	input := map[string]any{"event": eventDoc, "subject": subjectDoc, "registry": registryDoc}
	d, err := r.Policies.Eligibility(ctx, svc.ID, input)
	if errors.Is(err, policies.ErrUnknownService) {
		return nil, nil, nil, nil // removed from the catalog by a reload meanwhile
	}
	if err != nil {
		return nil, nil, nil, fmt.Errorf("eligibility of %s: %w", svc.ID, err)
	}
	if r.Decisions != nil {
		if err := r.Decisions.Record(ctx, "data."+svc.Policy+".decision", d); err != nil {
			return nil, nil, nil, err
		}
	}
	recipient := svc.RecipientFor(municipality)
	notice := Notice{LifeEventID: e.ID, CitizenID: sub.CitizenID, Service: svc.ID, ServiceName: svc.Name["de"], Recipient: recipient.Name}
	if !d.Allow {
		for _, reason := range d.Reasons {
			if m, ok := strings.CutPrefix(reason, "missing_"); ok {
				notice.Missing = append(notice.Missing, m)
			}
		}
		if len(notice.Missing) > 0 {
			return nil, &notice, nil, nil
		}
		return nil, nil, &Denial{CitizenID: sub.CitizenID, Service: svc.ID, Reasons: d.Reasons}, nil
	}
	doc := map[string]any{"event": eventDoc["data"], "subject": subjectDoc, "registry": registryDoc, "decision": d.Values}
	c := Candidate{
		LifeEventID: e.ID, CitizenID: sub.CitizenID, Service: svc.ID, ServiceName: svc.Name["de"],
		Recipient: proposals.Recipient{ID: recipient.ID, Name: recipient.Name},
		Purpose:   svc.Purpose, Basis: proposals.Basis{Kind: svc.Basis.Kind, Reference: svc.Basis.Reference},
		DecideIn:     r.scaled(time.Duration(svc.DecisionDays) * 24 * time.Hour),
		RemindBefore: r.scaled(time.Duration(svc.ReminderDays) * 24 * time.Hour),
		Municipality: municipality, AutoApply: svc.AutoApply, Exclusive: svc.Exclusive,
	}
	shared := map[string]bool{}
	for _, name := range d.Fields {
		shared[name] = true
	}
	for _, fld := range svc.Fields {
		if fld.Optional || !shared[fld.Name] {
			continue // optional data only ever on its own consent
		}
		if fld.Ask != "" {
			// No register holds it: the citizen answers when accepting.
			c.Fields = append(c.Fields, proposals.Field{Name: fld.Name, Category: fld.Category, Ask: fld.Ask, Choices: fld.Choices})
			continue
		}
		v, ok := valueAt(doc, fld.Source)
		if !ok {
			notice.Missing = append(notice.Missing, fld.Name)
			continue
		}
		c.Fields = append(c.Fields, proposals.Field{Name: fld.Name, Category: fld.Category, Value: v})
	}
	if len(notice.Missing) > 0 {
		return nil, &notice, nil, nil
	}
	return &c, nil, nil, nil
}

// subject is one person a service may be offered to.
type subject struct {
	CitizenID string
	Role      string
}

// audience lists who in the event a service is for.
func audience(e events.Event, who string) []subject {
	var out []subject
	switch {
	case e.Move != nil:
		switch who {
		case "mover", "household":
			out = append(out, subject{e.Move.CitizenID, events.RoleAdult})
		case "adults":
			for _, m := range e.Move.Household {
				if m.Role == events.RoleAdult {
					out = append(out, subject{m.CitizenID, m.Role})
				}
			}
		}
	case e.Birth != nil && who == "parents":
		for _, p := range e.Birth.Parents {
			out = append(out, subject{p.CitizenID, "parent"})
		}
	}
	return out
}

// place is where the services of the event are provided.
func place(e events.Event) (municipality, street string) {
	if e.Move != nil {
		return e.Move.To.Municipality, e.Move.To.Street
	}
	return e.Birth.Municipality, ""
}

// toMap renders v as the generic JSON document the policies and the field
// sources read.
func toMap(v any) map[string]any {
	b, _ := json.Marshal(v)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	return m
}

// factsDoc is the registers' facts as the policies read them: the JSON
// rendering of Facts (a test holds the two equal), built directly because
// it is made for every person and service, plus the first car. A register
// that could not say (a nil list) is left out rather than null: the
// policies ask `not input.registry.dogs`, which null would not satisfy.
func factsDoc(f registries.Facts) map[string]any {
	doc := map[string]any{"parkingZone": nil, "vehicle": nil}
	if f.Person != nil {
		p := map[string]any{"citizenId": f.Person.CitizenID, "name": f.Person.Name,
			"municipality": f.Person.Municipality, "address": f.Person.Address}
		if f.Person.Salary != nil {
			p["salary"] = *f.Person.Salary
		}
		doc["person"] = p
	}
	if f.Vehicles != nil {
		vs := make([]any, len(f.Vehicles))
		for i, v := range f.Vehicles {
			m := map[string]any{"plate": v.Plate, "holderId": v.HolderID, "kind": v.Kind}
			vs[i] = m
			if v.Kind == "car" && doc["vehicle"] == nil {
				doc["vehicle"] = maps.Clone(m)
			}
		}
		doc["vehicles"] = vs
	}
	if f.Dogs != nil {
		ds := make([]any, len(f.Dogs))
		for i, d := range f.Dogs {
			ds[i] = map[string]any{"id": d.ID, "ownerId": d.OwnerID, "name": d.Name, "municipality": d.Municipality}
		}
		doc["dogs"] = ds
	}
	if f.ParkingZone != nil {
		doc["parkingZone"] = *f.ParkingZone
	}
	if f.WasteDistrict != nil {
		doc["wasteDistrict"] = *f.WasteDistrict
	}
	return doc
}

// valueAt follows a dotted path such as event.to.street through doc.
func valueAt(doc map[string]any, path string) (any, bool) {
	var cur any = doc
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok || cur == nil {
			return nil, false
		}
	}
	return cur, true
}
