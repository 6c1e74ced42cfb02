package proposals_test

import (
	"errors"
	"testing"

	"github.com/lifeevents/lifeevents/proposals"
)

func TestIBAN(t *testing.T) {
	for in, want := range map[string]bool{
		"DE89 3704 0044 0532 0130 00": true, "de89370400440532013000": true, "GB82 WEST 1234 5698 7654 32": true,
		"AT61 1904 3002 3457 3201": true, "DE89 3704 0044 0532 0130 01": false, "DE89 3704 0044 0532 0130": false,
		"XX00": false, "": false, "DE8937040044053201300!": false, "1289370400440532013000": false,
	} {
		if _, ok := proposals.NormalizeIBAN(in); ok != want {
			t.Errorf("%q: %v, want %v", in, ok, want)
		}
	}
	if got, _ := proposals.NormalizeIBAN("de89 3704 0044 0532 0130 00"); got != "DE89370400440532013000" {
		t.Fatal(got)
	}
}

func TestFill(t *testing.T) {
	fields := []proposals.Field{
		{Name: "childId", Value: "c-2001"},
		{Name: "iban", Ask: proposals.AskIBAN},
		{Name: "start", Ask: proposals.AskDate},
		{Name: "bin", Ask: proposals.AskChoice, Choices: []string{"120l", "240l"}},
	}
	ok := map[string]string{"iban": "de89 3704 0044 0532 0130 00", "start": "2026-12-01", "bin": "240l"}
	got, err := proposals.Fill(fields, ok)
	if err != nil || got[1].Value != "DE89370400440532013000" || got[3].Value != "240l" || fields[1].Value != nil {
		t.Fatalf("%v %+v", err, got)
	}
	for name, c := range map[string]struct {
		answers map[string]string
		field   string
		code    string
	}{
		"missing iban":  {map[string]string{"start": "2026-12-01", "bin": "240l"}, "iban", "missing"},
		"bad checksum":  {map[string]string{"iban": "DE89370400440532013001", "start": "2026-12-01", "bin": "240l"}, "iban", "invalid_iban"},
		"bad date":      {map[string]string{"iban": "DE89370400440532013000", "start": "1.12.2026", "bin": "240l"}, "start", "invalid_date"},
		"bad choice":    {map[string]string{"iban": "DE89370400440532013000", "start": "2026-12-01", "bin": "1000l"}, "bin", "invalid_choice"},
		"not asked":     {map[string]string{"iban": "DE89370400440532013000", "start": "2026-12-01", "bin": "240l", "childId": "c-9"}, "childId", "not_asked"},
		"nothing asked": {map[string]string{"x": "y"}, "x", "not_asked"},
	} {
		fs := fields
		if name == "nothing asked" {
			fs = fields[:1]
		}
		_, err := proposals.Fill(fs, c.answers)
		var ae *proposals.AnswerError
		if !errors.As(err, &ae) || ae.Field != c.field || ae.Code != c.code {
			t.Errorf("%s: %v", name, err)
		}
	}
	if !proposals.Asks(fields) || proposals.Asks(fields[:1]) {
		t.Fatal("Asks")
	}
}
