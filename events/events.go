// Package events defines life events as they travel on Kafka: a CloudEvents
// 1.0 envelope around one of the registered data types, with the strict
// validation that decides whether an event may start a journey or goes to
// the dead-letter topic.
package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"
)

// Topics.
const (
	Topic    = "life-events"
	TopicDLQ = "life-events.dlq"
)

// Event types.
const (
	TypeMove  = "lifeevents.move.registered.v1"
	TypeBirth = "lifeevents.birth.registered.v1"
)

// MaxSize is the largest message accepted, envelope and data together.
const MaxSize = 256 << 10

// Event is a validated life event.
type Event struct {
	ID     string
	Source string
	Type   string
	Time   time.Time
	// Exactly one of Move and Birth is set, matching Type.
	Move  *Move
	Birth *Birth
}

// Move is the data of lifeevents.move.registered.v1.
type Move struct {
	CitizenID   string   `json:"citizenId"`
	HouseholdID string   `json:"householdId"`
	MovedOn     Date     `json:"movedOn"`
	From        Address  `json:"from"`
	To          Address  `json:"to"`
	Household   []Member `json:"household"`
}

// Address is a German postal address with its municipality key.
type Address struct {
	Municipality string `json:"municipality"`
	Street       string `json:"street"`
	HouseNumber  string `json:"houseNumber"`
	PostalCode   string `json:"postalCode"`
	City         string `json:"city"`
}

// Member of a household that moves together.
type Member struct {
	CitizenID string `json:"citizenId"`
	Role      string `json:"role"`
	BirthDate *Date  `json:"birthDate,omitempty"`
}

// Household roles.
const (
	RoleAdult = "adult"
	RoleChild = "child"
)

// Birth is the data of lifeevents.birth.registered.v1.
type Birth struct {
	ChildID      string   `json:"childId"`
	BirthDate    Date     `json:"birthDate"`
	BirthPlace   string   `json:"birthPlace"`
	Municipality string   `json:"municipality"`
	Parents      []Parent `json:"parents"`
}

// Parent of a newborn.
type Parent struct {
	CitizenID string `json:"citizenId"`
}

// Subject is the citizen whose events must stay in order: the mover, or the
// first parent of a newborn (a parent's move and their child's birth then
// share a partition).
func (e Event) Subject() string {
	switch {
	case e.Move != nil:
		return e.Move.CitizenID
	case e.Birth != nil && len(e.Birth.Parents) > 0:
		return e.Birth.Parents[0].CitizenID
	}
	return ""
}

// Data returns the event's data as it would be encoded.
func (e Event) Data() any {
	if e.Move != nil {
		return e.Move
	}
	return e.Birth
}

// Key derives the Kafka message key from a citizen id: a keyed hash, so the
// key orders a citizen's events without revealing who they are.
func Key(secret []byte, citizenID string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(citizenID))
	return []byte(hex.EncodeToString(m.Sum(nil))[:32])
}

// envelope is the structured-mode JSON document.
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time,omitempty"`
	DataContentType string          `json:"datacontenttype,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// Encode renders the event as a structured-mode CloudEvents document.
func Encode(e Event) ([]byte, error) {
	data, err := json.Marshal(e.Data())
	if err != nil {
		return nil, err
	}
	env := envelope{SpecVersion: "1.0", ID: e.ID, Source: e.Source, Type: e.Type,
		DataContentType: "application/json", Data: data}
	if !e.Time.IsZero() {
		env.Time = e.Time.UTC().Format(time.RFC3339)
	}
	return json.Marshal(env)
}

// Date is a calendar date in ISO 8601 form (YYYY-MM-DD).
type Date struct{ time.Time }

const dateLayout = "2006-01-02"

// ParseDate parses YYYY-MM-DD.
func ParseDate(s string) (Date, error) {
	t, err := time.Parse(dateLayout, s)
	return Date{t}, err
}

func (d Date) String() string { return d.Format(dateLayout) }

// MarshalJSON writes YYYY-MM-DD.
func (d Date) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads YYYY-MM-DD.
func (d *Date) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := ParseDate(s)
	if err != nil {
		return &dateError{s}
	}
	*d = p
	return nil
}

type dateError struct{ s string }

func (e *dateError) Error() string { return "not a date (YYYY-MM-DD): " + e.s }
