package policies

import (
	"strings"
	"testing"
)

// TestAskedFields: a field comes from the registers or from the citizen,
// never both, and asks only for kinds the portal can check.
func TestAskedFields(t *testing.T) {
	base := Service{ID: "xx_service", Name: map[string]string{"de": "x", "en": "x"}, Triggers: []string{"lifeevents.move.registered.v1"}, Audience: "mover",
		Recipient: Agency{ID: "a", Name: "A"}, Purpose: "p", Basis: Basis{Kind: "consent", Reference: "r"},
		DecisionDays: 14, Policy: "lifeevents.eligibility.xx_service"}
	for name, c := range map[string]struct {
		f    Field
		want string
	}{
		"iban":           {Field{Name: "iban", Category: "bank", Ask: "iban"}, ""},
		"choice":         {Field{Name: "bin", Category: "c", Ask: "choice", Choices: []string{"120l"}}, ""},
		"both":           {Field{Name: "iban", Category: "bank", Ask: "iban", Source: "subject.citizenId"}, "both source and ask"},
		"unknown kind":   {Field{Name: "iban", Category: "bank", Ask: "colour"}, `ask "colour" must be one of`},
		"choice without": {Field{Name: "bin", Category: "c", Ask: "choice"}, "choices go with"},
		"optional asked": {Field{Name: "iban", Category: "bank", Ask: "iban", Optional: true}, "cannot be optional"},
		"neither":        {Field{Name: "iban", Category: "bank"}, "must be a path"},
	} {
		s := base
		s.Fields = []Field{c.f}
		got := strings.Join(s.validate("xx_service"), "; ")
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("%s: %q, want %q", name, got, c.want)
		}
	}
}
