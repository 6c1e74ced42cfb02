package consent

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lifeevents/lifeevents/proposals"
)

// Memory keeps consent records and the transfer log in memory and answers
// as Store does, by the same rules (coverage.go): for simulations, which
// run a district's year in seconds, and for tests. The shared contract
// test holds both to the same answers. It knows no proposals, so a
// withdrawal or an objection reports none taken back; the caller that
// holds the proposals does that.
type Memory struct {
	policies Policies
	cfg      Config
	// Clock is the time validity is judged by; a simulation sets its
	// virtual clock.
	Clock func() time.Time
	// NewID names a new consent; nil draws random ids. A simulation sets
	// a deterministic one.
	NewID func() string

	mu        sync.Mutex
	byID      map[string]*Consent
	byCitizen map[string][]*Consent // in the order given
	transfers map[string]Record
	log       map[string][]string // citizen → transfer ids in the order made
}

// NewMemory returns an empty in-memory store.
func NewMemory(p Policies, cfg Config) *Memory {
	return &Memory{policies: p, cfg: cfg.withDefaults(), Clock: time.Now,
		byID: map[string]*Consent{}, byCitizen: map[string][]*Consent{},
		transfers: map[string]Record{}, log: map[string][]string{}}
}

// Give records a new consent (or objection) of the citizen.
func (m *Memory) Give(_ context.Context, citizenID string, r Request) (Consent, []Withdrawn, error) {
	now := m.Clock()
	if err := validate(&r, m.policies.Catalog(), now); err != nil {
		return Consent{}, nil, err
	}
	if r.Method == "" {
		r.Method = "portal"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if r.Method != "proposal-accept" {
		active, all := 0, len(m.byCitizen[citizenID])
		for _, c := range m.byCitizen[citizenID] {
			if c.Status == StatusActive {
				active++
			}
		}
		if err := checkBounds(active, all); err != nil {
			return Consent{}, nil, err
		}
	}
	id := newID("cs-")
	if m.NewID != nil {
		id = m.NewID()
	}
	c := &Consent{ID: id, CitizenID: citizenID, Kind: r.Kind, Purpose: r.Purpose, Controller: m.cfg.Controller,
		Recipient: r.Recipient, DataCategories: slices.Clone(r.DataCategories), Fields: slices.Clone(r.Fields),
		LegalBasis: m.cfg.LegalBasis, CollectionMethod: r.Method, NoticeVersion: r.NoticeVersion,
		ProposalID: r.ProposalID,
		History:    []Event{{Kind: "given", At: now.UTC(), ValidUntil: utc(r.ExpiresAt), Method: r.Method}}}
	c.derive(now)
	m.byID[id] = c
	m.byCitizen[citizenID] = append(m.byCitizen[citizenID], c)
	return clone(c), nil, nil
}

func utc(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func clone(c *Consent) Consent {
	out := *c
	out.Fields = slices.Clone(c.Fields)
	out.DataCategories = slices.Clone(c.DataCategories)
	out.History = slices.Clone(c.History)
	return out
}

// List returns the citizen's consents, newest first.
func (m *Memory) List(_ context.Context, citizenID string) ([]Consent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock()
	cs := m.byCitizen[citizenID]
	out := make([]Consent, 0, len(cs))
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].derive(now)
		out = append(out, clone(cs[i]))
	}
	return out, nil
}

// Get returns one of the citizen's consents, or ErrNotFound (also for
// another citizen's consent).
func (m *Memory) Get(_ context.Context, citizenID, id string) (Consent, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	if !ok || c.CitizenID != citizenID {
		return Consent{}, ErrNotFound
	}
	c.derive(m.Clock())
	return clone(c), nil
}

// Withdraw withdraws the citizen's consent at once.
func (m *Memory) Withdraw(_ context.Context, citizenID, id, method string) (Consent, []Withdrawn, error) {
	if method == "" {
		method = "portal"
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	c, ok := m.byID[id]
	if !ok || c.CitizenID != citizenID {
		return Consent{}, nil, ErrNotFound
	}
	now := m.Clock()
	c.derive(now)
	switch c.Status {
	case StatusWithdrawn:
		return Consent{}, nil, ErrAlreadyWithdrawn
	case StatusExpired:
		return Consent{}, nil, ErrExpired
	}
	c.History = append(c.History, Event{Kind: "withdrawn", At: now.UTC(), Method: method})
	c.derive(now)
	return clone(c), nil, nil
}

// held is the citizen's records as the rules read them; m.mu is held.
func (m *Memory) held(citizenID string, now time.Time) []Held {
	cs := m.byCitizen[citizenID]
	out := make([]Held, 0, len(cs))
	for _, c := range cs {
		c.derive(now)
		out = append(out, Held{ID: c.ID, Kind: c.Kind, Purpose: c.Purpose, Recipient: c.Recipient,
			Fields: c.Fields, Status: c.Status, ValidUntil: c.ExpiresAt})
	}
	return out
}

// OffersAllowed reports whether the citizen may receive proactive offers.
func (m *Memory) OffersAllowed(_ context.Context, citizenID string, optIn bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock()
	return OffersAllowed(m.held(citizenID, now), optIn, now), nil
}

// StandingCovers reports whether an active standing consent lets the
// service be applied for automatically with these fields.
func (m *Memory) StandingCovers(_ context.Context, citizenID, service, recipient string, fields []string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.Clock()
	return StandingCovers(m.held(citizenID, now), service, recipient, fields, now), nil
}

// ForProposal returns the per-proposal consent given for a proposal, if any.
func (m *Memory) ForProposal(_ context.Context, citizenID, proposalID string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, c := range m.byCitizen[citizenID] {
		if c.Kind == KindProposal && c.ProposalID == proposalID {
			return c.ID, true, nil
		}
	}
	return "", false, nil
}

// Authorize is Store.Authorize without a database transaction: the
// policy, then the law or the consents that cover every field, then the
// log entry; the same proposal's transfer is logged once.
func (m *Memory) Authorize(ctx context.Context, t Transfer) (Record, error) {
	if err := sharingAllows(ctx, m.policies, t); err != nil {
		return Record{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	id := transferID(t)
	if prev, ok := m.transfers[id]; ok {
		return prev, nil
	}
	now := m.Clock()
	rec := Record{ID: id, CitizenID: t.CitizenID, ProposalID: t.ProposalID, Service: t.Service, At: now.UTC(),
		Recipient: t.Recipient, Purpose: t.Purpose, BasisKind: t.BasisKind, Fields: slices.Clone(t.Fields)}
	if t.BasisKind == proposals.BasisLaw {
		rec.Basis = t.BasisReference
	} else {
		ids, err := Cover(t, m.held(t.CitizenID, now), now)
		if err != nil {
			return Record{}, err
		}
		rec.Basis = strings.Join(ids, ",")
	}
	m.transfers[id] = rec
	m.log[t.CitizenID] = append(m.log[t.CitizenID], id)
	return rec, nil
}

// Transfers returns the citizen's transparency log, newest first.
func (m *Memory) Transfers(_ context.Context, citizenID string) ([]Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	ids := m.log[citizenID]
	out := make([]Record, 0, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		out = append(out, m.transfers[ids[i]])
	}
	return out, nil
}
