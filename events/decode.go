package events

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// Reason codes for rejected events. They are stable: operators filter dead
// letters by them and producers branch on them.
const (
	ReasonTooLarge         = "too_large"
	ReasonMalformedJSON    = "malformed_json"
	ReasonSpecVersion      = "bad_specversion"
	ReasonMissingAttribute = "missing_attribute"
	ReasonBadID            = "bad_id"
	ReasonUnknownType      = "unknown_type"
	ReasonBadTime          = "bad_time"
	ReasonContentType      = "bad_content_type"
	ReasonMissingData      = "missing_data"
	ReasonMalformedData    = "malformed_data"
	ReasonMissingField     = "missing_field"
	ReasonBadCitizenID     = "bad_citizen_id"
	ReasonBadMunicipality  = "bad_municipality"
	ReasonBadPostalCode    = "bad_postal_code"
	ReasonBadDate          = "bad_date"
	ReasonBirthInFuture    = "birth_in_future"
	ReasonMoveDateRange    = "move_date_out_of_range"
	ReasonUnknownRole      = "unknown_role"
	ReasonMoverNotInHouse  = "mover_not_in_household"
	ReasonDuplicateMember  = "duplicate_member"
	ReasonNoParent         = "no_parent"
)

// Rejection says why an event was refused: a stable code and a message for
// the person who has to fix the producer.
type Rejection struct {
	Code    string
	Message string
}

func (r *Rejection) Error() string { return r.Code + ": " + r.Message }

func reject(code, format string, args ...any) *Rejection {
	return &Rejection{Code: code, Message: fmt.Sprintf(format, args...)}
}

// AsRejection returns the rejection inside err, if any.
func AsRejection(err error) (*Rejection, bool) {
	var r *Rejection
	ok := errors.As(err, &r)
	return r, ok
}

var (
	idPattern      = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$`)
	citizenPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
	municipality   = regexp.MustCompile(`^[0-9]{8}$`)
	postalCode     = regexp.MustCompile(`^[0-9]{5}$`)
)

// Decode parses and validates a Kafka message value. Headers select the
// CloudEvents binary mode when they carry ce_specversion; otherwise the value
// must be a structured-mode document. now anchors the date checks. A
// rejected event yields a *Rejection.
func Decode(value []byte, headers map[string]string, now time.Time) (Event, error) {
	if len(value) > MaxSize {
		return Event{}, reject(ReasonTooLarge, "message is %d bytes, the limit is %d", len(value), MaxSize)
	}
	var env envelope
	if _, binary := headers["ce_specversion"]; binary {
		env = envelope{
			SpecVersion:     headers["ce_specversion"],
			ID:              headers["ce_id"],
			Source:          headers["ce_source"],
			Type:            headers["ce_type"],
			Time:            headers["ce_time"],
			DataContentType: headers["content-type"],
			Data:            value,
		}
		if ct := headers["ce_datacontenttype"]; ct != "" && env.DataContentType == "" {
			env.DataContentType = ct
		}
		if !json.Valid(value) {
			return Event{}, reject(ReasonMalformedJSON, "binary-mode data is not JSON")
		}
	} else {
		if err := json.Unmarshal(value, &env); err != nil {
			return Event{}, reject(ReasonMalformedJSON, "value is not a CloudEvents JSON document: %v", err)
		}
	}
	return decodeEnvelope(env, now)
}

func decodeEnvelope(env envelope, now time.Time) (Event, error) {
	if env.SpecVersion != "1.0" {
		if env.SpecVersion == "" {
			return Event{}, reject(ReasonMissingAttribute, "attribute specversion is missing")
		}
		return Event{}, reject(ReasonSpecVersion, "specversion %q is not 1.0", env.SpecVersion)
	}
	for name, v := range map[string]string{"id": env.ID, "source": env.Source, "type": env.Type} {
		if v == "" {
			return Event{}, reject(ReasonMissingAttribute, "attribute %s is missing", name)
		}
	}
	if !idPattern.MatchString(env.ID) {
		return Event{}, reject(ReasonBadID, "id must be 1-128 letters, digits, '.', '_', ':' or '-'")
	}
	e := Event{ID: env.ID, Source: env.Source, Type: env.Type}
	if env.Time != "" {
		t, err := time.Parse(time.RFC3339, env.Time)
		if err != nil {
			return Event{}, reject(ReasonBadTime, "time %q is not RFC 3339", env.Time)
		}
		e.Time = t.UTC()
	}
	if ct := env.DataContentType; ct != "" && !strings.HasPrefix(ct, "application/json") {
		return Event{}, reject(ReasonContentType, "datacontenttype %q is not application/json", ct)
	}
	data := bytes.TrimSpace(env.Data)
	if len(data) == 0 || string(data) == "null" {
		return Event{}, reject(ReasonMissingData, "the event carries no data")
	}
	switch env.Type {
	case TypeMove:
		var m Move
		if err := strictUnmarshal(data, &m); err != nil {
			return Event{}, err
		}
		if err := m.validate(now); err != nil {
			return Event{}, err
		}
		e.Move = &m
	case TypeBirth:
		var b Birth
		if err := strictUnmarshal(data, &b); err != nil {
			return Event{}, err
		}
		if err := b.validate(now); err != nil {
			return Event{}, err
		}
		e.Birth = &b
	default:
		return Event{}, reject(ReasonUnknownType, "type %q is not one of %s, %s", env.Type, TypeMove, TypeBirth)
	}
	return e, nil
}

func strictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var de *dateError
		if errors.As(err, &de) {
			return reject(ReasonBadDate, "%v", de)
		}
		return reject(ReasonMalformedData, "data does not match the event type: %v", err)
	}
	if dec.More() {
		return reject(ReasonMalformedData, "data holds more than one JSON value")
	}
	return nil
}

func required(fields ...string) error {
	for i := 0; i < len(fields); i += 2 {
		if strings.TrimSpace(fields[i+1]) == "" {
			return reject(ReasonMissingField, "field %s is missing", fields[i])
		}
	}
	return nil
}

func checkCitizen(field, id string) error {
	if id == "" {
		return reject(ReasonMissingField, "field %s is missing", field)
	}
	if !citizenPattern.MatchString(id) {
		return reject(ReasonBadCitizenID, "%s must be 1-64 letters, digits, '.', '_' or '-'", field)
	}
	return nil
}

func checkMunicipality(field, key string) error {
	if key == "" {
		return reject(ReasonMissingField, "field %s is missing", field)
	}
	if !municipality.MatchString(key) {
		return reject(ReasonBadMunicipality, "%s %q is not an 8-digit municipality key", field, key)
	}
	return nil
}

func (a Address) validate(prefix string) error {
	if err := checkMunicipality(prefix+".municipality", a.Municipality); err != nil {
		return err
	}
	if err := required(prefix+".street", a.Street, prefix+".houseNumber", a.HouseNumber,
		prefix+".postalCode", a.PostalCode, prefix+".city", a.City); err != nil {
		return err
	}
	if !postalCode.MatchString(a.PostalCode) {
		return reject(ReasonBadPostalCode, "%s.postalCode %q is not a 5-digit postal code", prefix, a.PostalCode)
	}
	return nil
}

func today(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (m *Move) validate(now time.Time) error {
	if err := checkCitizen("citizenId", m.CitizenID); err != nil {
		return err
	}
	if err := required("householdId", m.HouseholdID); err != nil {
		return err
	}
	if m.MovedOn.IsZero() {
		return reject(ReasonMissingField, "field movedOn is missing")
	}
	if d := m.MovedOn.Sub(today(now)); d > 366*24*time.Hour || d < -366*24*time.Hour {
		return reject(ReasonMoveDateRange, "movedOn %s is more than a year from today", m.MovedOn)
	}
	if err := m.From.validate("from"); err != nil {
		return err
	}
	if err := m.To.validate("to"); err != nil {
		return err
	}
	if len(m.Household) == 0 {
		return reject(ReasonMissingField, "field household is missing")
	}
	seen := map[string]bool{}
	for i, mem := range m.Household {
		field := fmt.Sprintf("household[%d]", i)
		if err := checkCitizen(field+".citizenId", mem.CitizenID); err != nil {
			return err
		}
		if seen[mem.CitizenID] {
			return reject(ReasonDuplicateMember, "%s.citizenId appears twice in the household", field)
		}
		seen[mem.CitizenID] = true
		switch mem.Role {
		case RoleAdult, RoleChild:
		case "":
			return reject(ReasonMissingField, "field %s.role is missing", field)
		default:
			return reject(ReasonUnknownRole, "%s.role %q is not adult or child", field, mem.Role)
		}
		if mem.BirthDate != nil && mem.BirthDate.After(today(now)) {
			return reject(ReasonBirthInFuture, "%s.birthDate %s is in the future", field, mem.BirthDate)
		}
	}
	if !seen[m.CitizenID] {
		return reject(ReasonMoverNotInHouse, "the household does not contain the mover")
	}
	return nil
}

func (b *Birth) validate(now time.Time) error {
	if err := checkCitizen("childId", b.ChildID); err != nil {
		return err
	}
	if b.BirthDate.IsZero() {
		return reject(ReasonMissingField, "field birthDate is missing")
	}
	if b.BirthDate.After(today(now)) {
		return reject(ReasonBirthInFuture, "birthDate %s is in the future", b.BirthDate)
	}
	if err := required("birthPlace", b.BirthPlace); err != nil {
		return err
	}
	if err := checkMunicipality("municipality", b.Municipality); err != nil {
		return err
	}
	if len(b.Parents) == 0 {
		return reject(ReasonNoParent, "a birth needs at least one parent")
	}
	seen := map[string]bool{b.ChildID: true}
	for i, p := range b.Parents {
		field := fmt.Sprintf("parents[%d].citizenId", i)
		if err := checkCitizen(field, p.CitizenID); err != nil {
			return err
		}
		if seen[p.CitizenID] {
			return reject(ReasonDuplicateMember, "%s appears twice", field)
		}
		seen[p.CitizenID] = true
	}
	return nil
}
