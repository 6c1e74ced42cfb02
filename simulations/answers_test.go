package simulations

import (
	"testing"

	"github.com/lifeevents/lifeevents/proposals"
)

func TestSampleIBANIsValid(t *testing.T) {
	for _, seed := range []string{"c-1001", "c-n42", ""} {
		if iban, ok := proposals.NormalizeIBAN(sampleIBAN(seed)); !ok || len(iban) != 22 {
			t.Errorf("%s: %s", seed, iban)
		}
	}
	got := sampleAnswers([]proposals.Field{{Name: "iban", Ask: proposals.AskIBAN}, {Name: "x", Value: 1}, {Name: "bin", Ask: proposals.AskChoice, Choices: []string{"120l"}}}, "c-1")
	if _, err := proposals.Fill([]proposals.Field{{Name: "iban", Ask: proposals.AskIBAN}, {Name: "bin", Ask: proposals.AskChoice, Choices: []string{"120l"}}}, got); err != nil {
		t.Fatal(err)
	}
}
