// Package proposals holds what the citizen sees of a proposed follow-up
// service: the read model the workflows keep current and the API lists.
package proposals

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"time"
)

// Status of a proposal. It moves pending → accepted → submitted →
// granted|rejected, or pending → declined|expired|withdrawn; failed carries
// a reason.
type Status string

const (
	StatusPending   Status = "pending"
	StatusAccepted  Status = "accepted"
	StatusSubmitted Status = "submitted"
	StatusGranted   Status = "granted"
	StatusRejected  Status = "rejected"
	StatusDeclined  Status = "declined"
	StatusExpired   Status = "expired"
	StatusWithdrawn Status = "withdrawn"
	StatusFailed    Status = "failed"
)

// Valid reports whether s is a known status.
func (s Status) Valid() bool {
	switch s {
	case StatusPending, StatusAccepted, StatusSubmitted, StatusGranted, StatusRejected,
		StatusDeclined, StatusExpired, StatusWithdrawn, StatusFailed:
		return true
	}
	return false
}

// ErrNotFound is returned for a proposal that does not exist or is not the
// caller's: the two are deliberately indistinguishable.
var ErrNotFound = errors.New("proposal not found")

// Recipient is the agency an application would go to.
type Recipient struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Basis is why a transfer may happen: a law, or the citizen's consent.
type Basis struct {
	Kind      BasisKind `json:"kind"`
	Reference string    `json:"reference"`
}

// Field is one pre-filled datum with the value that would be sent.
type Field struct {
	Name     string `json:"name"`
	Category string `json:"category"`
	Value    any    `json:"value"`
	// Ask is set where no register holds the value: the citizen gives it
	// when accepting (AskIBAN, AskDate, AskChoice, AskText), and Value is
	// empty until then.
	Ask     string   `json:"ask,omitempty"`
	Choices []string `json:"choices,omitempty"`
}

// Proposal of one follow-up service to one citizen.
type Proposal struct {
	ID          string     `json:"id"`
	LifeEventID string     `json:"lifeEventId"`
	CitizenID   string     `json:"-"`
	Service     string     `json:"service"`
	Status      Status     `json:"status"`
	Reason      string     `json:"reason,omitempty"`
	Recipient   Recipient  `json:"recipient"`
	Purpose     string     `json:"purpose"`
	Basis       Basis      `json:"basis"`
	Fields      []Field    `json:"fields"`
	Deadline    *time.Time `json:"deadline"`
	CreatedAt   time.Time  `json:"createdAt"`
	UpdatedAt   time.Time  `json:"updatedAt"`
}

// ID derives a proposal id from the life event, the service and the
// citizen. The same candidate always gets the same id, which is what makes
// creating a proposal idempotent across retries and crashes; the hash keeps
// the citizen id out of it.
func ID(lifeEventID, service, citizenID string) string {
	h := sha256.Sum256([]byte(lifeEventID + "\x00" + service + "\x00" + citizenID))
	return "p-" + hex.EncodeToString(h[:12])
}
