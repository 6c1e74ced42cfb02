// Package consent keeps the citizen's consent records and is the one gate
// every transfer of their data goes through. Records follow ISO/IEC TS 27560
// in substance (subject, purpose, data categories, controller, recipient,
// legal basis, collection method, the notice the citizen saw, and given /
// renewed / withdrawn / expired events); the history is append-only in the
// database and the current state is derived from it. Every transfer is
// authorised and logged in one transaction, so a withdrawal and a transfer
// can never both win.
package consent

import (
	"errors"
	"time"

	"github.com/lifeevents/lifeevents/proposals"
)

// Kind of consent.
type Kind string

const (
	// KindProposal is given when the citizen accepts one proposal; it covers
	// exactly the fields of its preview.
	KindProposal Kind = "proposal"
	// KindStanding lets a service be applied for automatically (the Austrian
	// model), always revocable.
	KindStanding Kind = "standing"
	// KindOffers is the opt-in to proactive offers in districts that ask for
	// consent before offering anything.
	KindOffers Kind = "offers"
	// KindObjection is the objection to proactive offers in opt-out districts
	// (offers on a legal basis with a right to object).
	KindObjection Kind = "objection"
	// KindOptionalData covers optional fields, such as salary data for
	// parental allowance, on their own.
	KindOptionalData Kind = "optional-data"
)

// PurposeOffers is the standing purpose of receiving proactive offers.
const PurposeOffers = "proactive-offers"

// Status of a consent, derived from its history.
type Status string

const (
	StatusActive    Status = "active"
	StatusWithdrawn Status = "withdrawn"
	StatusExpired   Status = "expired"
)

// Event in a consent's history.
type Event struct {
	Kind       string     `json:"kind"`
	At         time.Time  `json:"at"`
	ValidUntil *time.Time `json:"validUntil,omitempty"`
	Method     string     `json:"method"`
}

// Consent is a record with its derived state.
type Consent struct {
	ID               string     `json:"id"`
	CitizenID        string     `json:"-"`
	Kind             Kind       `json:"kind"`
	Purpose          string     `json:"purpose"`
	Controller       string     `json:"controller"`
	Recipient        string     `json:"recipient"`
	DataCategories   []string   `json:"dataCategories"`
	Fields           []string   `json:"fields"`
	LegalBasis       string     `json:"legalBasis"`
	CollectionMethod string     `json:"collectionMethod"`
	NoticeVersion    string     `json:"noticeVersion"`
	ProposalID       string     `json:"proposalId,omitempty"`
	Status           Status     `json:"status"`
	GivenAt          time.Time  `json:"givenAt"`
	ExpiresAt        *time.Time `json:"expiresAt"`
	WithdrawnAt      *time.Time `json:"withdrawnAt"`
	History          []Event    `json:"history,omitempty"`
}

// derive sets Status, GivenAt, ExpiresAt and WithdrawnAt from History.
func (c *Consent) derive(now time.Time) {
	c.Status = StatusActive
	c.ExpiresAt, c.WithdrawnAt = nil, nil
	for _, e := range c.History {
		switch e.Kind {
		case "given":
			c.GivenAt = e.At
			c.ExpiresAt = e.ValidUntil
			c.Status = StatusActive
		case "renewed":
			c.ExpiresAt = e.ValidUntil
			c.Status = StatusActive
		case "withdrawn":
			at := e.At
			c.WithdrawnAt = &at
			c.Status = StatusWithdrawn
		case "expired":
			c.Status = StatusExpired
		}
	}
	if c.Status == StatusActive && c.ExpiresAt != nil && !c.ExpiresAt.After(now) {
		c.Status = StatusExpired
	}
}

// Request is what a citizen asks to consent to (or object to).
type Request struct {
	Kind           Kind       `json:"kind"`
	Purpose        string     `json:"purpose"`
	Recipient      string     `json:"recipient"`
	Fields         []string   `json:"fields"`
	ExpiresAt      *time.Time `json:"expiresAt"`
	NoticeVersion  string     `json:"noticeVersion"`
	ProposalID     string     `json:"proposalId,omitempty"`
	Method         string     `json:"-"`
	Municipality   string     `json:"-"`
	DataCategories []string   `json:"-"`
}

// Transfer is one intended transfer of a citizen's data.
type Transfer struct {
	CitizenID    string
	ProposalID   string
	Service      string
	Municipality string
	Recipient    string
	Purpose      string
	// BasisKind: for a law, BasisReference names it.
	BasisKind      proposals.BasisKind
	BasisReference string
	Fields         []string
}

// Record is a logged transfer, as the citizen sees it.
type Record struct {
	ID         string              `json:"id"`
	CitizenID  string              `json:"-"`
	ProposalID string              `json:"proposalId"`
	Service    string              `json:"service"`
	At         time.Time           `json:"at"`
	Recipient  string              `json:"recipient"`
	Purpose    string              `json:"purpose"`
	Basis      string              `json:"basis"`
	BasisKind  proposals.BasisKind `json:"basisKind"`
	Fields     []string            `json:"fields"`
}

// Errors callers branch on.
var (
	ErrNotFound         = errors.New("consent not found")
	ErrAlreadyWithdrawn = errors.New("consent already withdrawn")
	ErrExpired          = errors.New("consent expired")
	ErrNoConsent        = errors.New("no active consent covers the transfer")
	ErrPolicyDenied     = errors.New("the data-sharing policy denies the transfer")
)

// InvalidError is a request that cannot become a consent, with a stable
// code for the API.
type InvalidError struct {
	Code    string
	Message string
}

func (e *InvalidError) Error() string { return e.Code + ": " + e.Message }

func invalid(code, msg string) error { return &InvalidError{Code: code, Message: msg} }
