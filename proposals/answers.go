package proposals

import (
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Kinds of values a service asks the citizen for, because no register
// holds them (Field.Ask).
const (
	AskIBAN   = "iban"   // an account to pay into, checked by its check digits
	AskDate   = "date"   // a day, YYYY-MM-DD
	AskChoice = "choice" // one of Field.Choices
	AskText   = "text"   // up to 200 characters
)

// AskKinds lists the kinds a catalog may name.
func AskKinds() []string { return []string{AskIBAN, AskDate, AskChoice, AskText} }

// AnswerError says which asked field's answer is wrong, with a stable code
// the portal and the API turn into a message: missing, invalid_iban,
// invalid_date, invalid_choice, invalid_text, not_asked.
type AnswerError struct {
	Field string
	Code  string
}

func (e *AnswerError) Error() string { return fmt.Sprintf("answer for %s: %s", e.Field, e.Code) }

// Asks reports whether any field waits for the citizen's answer.
func Asks(fields []Field) bool {
	return slices.ContainsFunc(fields, func(f Field) bool { return f.Ask != "" })
}

// Fill checks the citizen's answers against the fields a proposal asks for
// and returns the fields with the answers as their values (an IBAN without
// spaces, in capitals). Every asked field needs an answer; an answer to a
// field that is not asked is refused. The first problem in field order is
// returned, and the fields are not changed.
func Fill(fields []Field, answers map[string]string) ([]Field, error) {
	asked := map[string]bool{}
	out := slices.Clone(fields)
	for i, f := range out {
		if f.Ask == "" {
			continue
		}
		asked[f.Name] = true
		v, err := check(f, answers[f.Name])
		if err != nil {
			return nil, err
		}
		out[i].Value = v
	}
	// The names are sorted before use, so the map's order never shows
	// (the journey's Update validator calls this on replay).
	names := make([]string, 0, len(answers))
	//workflowcheck:ignore
	for n := range answers {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		if !asked[n] {
			return nil, &AnswerError{Field: n, Code: "not_asked"}
		}
	}
	return out, nil
}

func check(f Field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", &AnswerError{Field: f.Name, Code: "missing"}
	}
	switch f.Ask {
	case AskIBAN:
		if iban, ok := NormalizeIBAN(v); ok {
			return iban, nil
		}
		return "", &AnswerError{Field: f.Name, Code: "invalid_iban"}
	case AskDate:
		if _, err := time.Parse("2006-01-02", v); err == nil {
			return v, nil
		}
		return "", &AnswerError{Field: f.Name, Code: "invalid_date"}
	case AskChoice:
		if slices.Contains(f.Choices, v) {
			return v, nil
		}
		return "", &AnswerError{Field: f.Name, Code: "invalid_choice"}
	case AskText:
		if utf8.RuneCountInString(v) <= 200 && !strings.ContainsFunc(v, unicode.IsControl) {
			return v, nil
		}
		return "", &AnswerError{Field: f.Name, Code: "invalid_text"}
	}
	return "", &AnswerError{Field: f.Name, Code: "not_asked"}
}

// ibanLengths are the lengths of the IBANs of the SEPA countries a German
// authority pays into most; other countries are held to 15 to 34.
var ibanLengths = map[string]int{
	"DE": 22, "AT": 20, "BE": 16, "CH": 21, "CZ": 24, "DK": 18, "ES": 24, "FR": 27, "GB": 22, "IT": 27,
	"LU": 20, "NL": 18, "PL": 28, "SE": 24,
}

// NormalizeIBAN returns s without spaces in capitals, and whether it is an
// IBAN: a country code, two check digits that make the number 1 modulo 97
// (ISO 13616), the country's length.
func NormalizeIBAN(s string) (string, bool) {
	s = strings.ToUpper(strings.Join(strings.Fields(s), ""))
	if len(s) < 15 || len(s) > 34 {
		return s, false
	}
	if n, ok := ibanLengths[s[:2]]; ok && len(s) != n {
		return s, false
	}
	if s[0] < 'A' || s[0] > 'Z' || s[1] < 'A' || s[1] > 'Z' || s[2] < '0' || s[2] > '9' || s[3] < '0' || s[3] > '9' {
		return s, false
	}
	var digits strings.Builder
	for _, r := range s[4:] + s[:4] {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r >= 'A' && r <= 'Z':
			digits.WriteString(strconv.Itoa(int(r-'A') + 10))
		default:
			return s, false
		}
	}
	n, _ := new(big.Int).SetString(digits.String(), 10)
	// Check digits 00, 01 and 99 are never issued.
	if cd := s[2:4]; cd == "00" || cd == "01" || cd == "99" {
		return s, false
	}
	return s, new(big.Int).Mod(n, big.NewInt(97)).Int64() == 1
}
