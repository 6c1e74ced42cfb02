package consent

import (
	"fmt"
	"slices"
	"time"
)

// The rules of who may do what with a citizen's consents live here, as
// plain Go over the records: the Postgres store fetches (and locks) the
// records and asks these functions, the in-memory store asks them over
// its maps, and so a simulation decides as a journey does.

// Held is the part of a consent record the rules read.
type Held struct {
	ID        string
	Kind      Kind
	Purpose   string
	Recipient string
	Fields    []string
	Status    Status
	// ValidUntil is nil for a consent without expiry.
	ValidUntil *time.Time
}

// activeAt reports whether the consent is in force at now.
func (h Held) activeAt(now time.Time) bool {
	return h.Status == StatusActive && (h.ValidUntil == nil || h.ValidUntil.After(now))
}

// coversTransfer: the kinds of consent a transfer of a service's data may
// rest on.
func coversTransfer(k Kind) bool {
	return k == KindProposal || k == KindStanding || k == KindOptionalData
}

// Cover returns the ids of the consents that together cover every field
// of a consent-based transfer (a consent's purpose is the service it is
// for), or ErrNoConsent naming the first field none
// covers. One consent that covers all fields is preferred (it is the
// proposal's own, in the common case); otherwise consents are taken in id
// order as long as each adds a field, so the basis is the same whichever
// store answers.
func Cover(t Transfer, held []Held, now time.Time) ([]string, error) {
	var usable []Held
	for _, h := range held {
		if h.activeAt(now) && coversTransfer(h.Kind) && h.Purpose == t.Service && h.Recipient == t.Recipient {
			usable = append(usable, h)
		}
	}
	slices.SortFunc(usable, func(a, b Held) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	for _, h := range usable {
		if h.Kind != KindOptionalData && containsAll(h.Fields, t.Fields) {
			return []string{h.ID}, nil
		}
	}
	covered := map[string]bool{}
	var used []string
	for _, h := range usable {
		useful := false
		for _, f := range h.Fields {
			if slices.Contains(t.Fields, f) && !covered[f] {
				covered[f], useful = true, true
			}
		}
		if useful {
			used = append(used, h.ID)
		}
	}
	for _, f := range t.Fields {
		if !covered[f] {
			return nil, fmt.Errorf("%w: field %s", ErrNoConsent, f)
		}
	}
	return used, nil
}

// OffersAllowed decides whether a citizen may receive proactive offers: in
// an opt-out district unless an objection is in force, in an opt-in one
// only while a consent to offers is.
func OffersAllowed(held []Held, optIn bool, now time.Time) bool {
	kind := KindObjection
	if optIn {
		kind = KindOffers
	}
	active := slices.ContainsFunc(held, func(h Held) bool { return h.Kind == kind && h.activeAt(now) })
	if optIn {
		return active
	}
	return !active
}

// StandingCovers decides whether a standing consent in force lets the
// service be applied for automatically with exactly these fields.
func StandingCovers(held []Held, service, recipient string, fields []string, now time.Time) bool {
	return slices.ContainsFunc(held, func(h Held) bool {
		return h.Kind == KindStanding && h.activeAt(now) && h.Purpose == service && h.Recipient == recipient &&
			containsAll(h.Fields, fields)
	})
}

func containsAll(have, want []string) bool {
	for _, f := range want {
		if !slices.Contains(have, f) {
			return false
		}
	}
	return true
}
