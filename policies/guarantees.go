package policies

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sort"

	"github.com/lifeevents/lifeevents/proposals"
)

// The platform guarantees hold for every bundle that goes live, whatever
// it contains: they are checked by this code, built into the binary, so an
// upload cannot remove them the way it can drop its own Rego tests.
const (
	// GuaranteeServiceTested: every catalog service has Rego tests of its
	// eligibility policy, and they ran and passed.
	GuaranteeServiceTested = "service_tested"
	// GuaranteeSharingTested: the data-sharing policy has tests that ran
	// and passed.
	GuaranteeSharingTested = "sharing_tested"
	// GuaranteeDeclaredFieldsOnly: a field the catalog does not declare for
	// a service is never shared.
	GuaranteeDeclaredFieldsOnly = "declared_fields_only"
	// GuaranteeOptionalNeedsConsent: an optional field is shared only with
	// its own consent.
	GuaranteeOptionalNeedsConsent = "optional_needs_consent"
	// GuaranteeRecipientBound: data goes only to the service's recipient.
	GuaranteeRecipientBound = "recipient_bound"
	// GuaranteeBasisBound: data goes only on the service's declared basis.
	GuaranteeBasisBound = "basis_bound"
	// GuaranteeDeclaredFieldsShareable: the required fields do reach the
	// recipient; a deny-all sharing policy would silently end every
	// journey in failure.
	GuaranteeDeclaredFieldsShareable = "declared_fields_shareable"
)

// Guarantees lists every platform guarantee by name.
func Guarantees() []string {
	return []string{
		GuaranteeServiceTested, GuaranteeSharingTested, GuaranteeDeclaredFieldsOnly,
		GuaranteeOptionalNeedsConsent, GuaranteeRecipientBound, GuaranteeBasisBound,
		GuaranteeDeclaredFieldsShareable,
	}
}

// GuaranteeError names the platform guarantee a bundle breaks.
type GuaranteeError struct {
	Guarantee string
	Service   string
	Message   string
}

func (e *GuaranteeError) Error() string {
	return fmt.Sprintf("platform guarantee %s broken for service %s: %s", e.Guarantee, e.Service, e.Message)
}

func (e *GuaranteeError) Unwrap() error { return ErrRejected }

// probes are names no policy can know in advance: a policy that spares
// fixed probe values would pass fixed probes.
type probes struct{ field, recipient, municipality string }

func newProbes(c Catalog) probes {
	var b [12]byte
	_, _ = rand.Read(b[:])
	p := probes{field: "f" + hex.EncodeToString(b[:4]), recipient: "r-" + hex.EncodeToString(b[4:8])}
	n := binary.BigEndian.Uint32(b[8:]) % 100000000
	for {
		p.municipality = fmt.Sprintf("%08d", n)
		taken := false
		for _, s := range c {
			_, taken = s.RecipientsByMunicipality[p.municipality]
			if taken {
				break
			}
		}
		if !taken {
			return p
		}
		n = (n + 1) % 100000000
	}
}

// checkGuarantees runs the platform guarantees against a compiled revision
// whose Rego tests passed with report.
func checkGuarantees(ctx context.Context, c *compiled, report TestReport) error {
	for _, s := range c.catalog.Sorted() {
		if report.passedIn["data."+s.Policy] == 0 && report.passedIn["data."+s.Policy+"_test"] == 0 {
			return &GuaranteeError{GuaranteeServiceTested, s.ID, "no passing Rego test in package " + s.Policy + " or " + s.Policy + "_test"}
		}
	}
	if report.passedIn["data.lifeevents.sharing"] == 0 && report.passedIn["data.lifeevents.sharing_test"] == 0 {
		return &GuaranteeError{GuaranteeSharingTested, "sharing", "no passing Rego test in package lifeevents.sharing or lifeevents.sharing_test"}
	}
	pr := newProbes(c.catalog)
	for _, s := range c.catalog.Sorted() {
		municipalities := []string{pr.municipality}
		for m := range s.RecipientsByMunicipality {
			municipalities = append(municipalities, m)
		}
		sort.Strings(municipalities)
		required := s.FieldNames(false)
		var optional []string
		for _, f := range s.Fields {
			if f.Optional {
				optional = append(optional, f.Name)
			}
		}
		other := proposals.BasisLaw
		if s.Basis.Kind == proposals.BasisLaw {
			other = proposals.BasisConsent
		}
		for _, m := range municipalities {
			base := SharingInput{Service: s.ID, Municipality: m, Recipient: s.RecipientFor(m).ID, Basis: s.Basis.Kind, Fields: required}
			probes := []probe{
				{GuaranteeDeclaredFieldsShareable, base, true, "the declared required fields are refused to the service's own recipient"},
				{GuaranteeDeclaredFieldsOnly, with(base, func(in *SharingInput) { in.Fields = append(clone(required), pr.field) }), false,
					"a field the catalog does not declare is allowed"},
				{GuaranteeRecipientBound, with(base, func(in *SharingInput) { in.Recipient = pr.recipient }), false,
					"data is allowed to a recipient that is not the service's"},
				{GuaranteeBasisBound, with(base, func(in *SharingInput) { in.Basis = other }), false,
					"data is allowed on a basis the service does not declare"},
			}
			if len(optional) > 0 {
				probes = append(probes, probe{GuaranteeOptionalNeedsConsent, with(base, func(in *SharingInput) {
					in.Fields = append(clone(required), optional...)
					in.OptionalConsent = false
				}), false, "an optional field is allowed without its own consent"})
			}
			for _, p := range probes {
				d, err := c.sharingDecision(ctx, p.in, false)
				if err != nil {
					return &GuaranteeError{p.guarantee, s.ID, "the sharing policy did not decide: " + err.Error()}
				}
				if d.Allow != p.allow {
					where := "municipality " + m
					if m == pr.municipality {
						where = "any other municipality"
					}
					return &GuaranteeError{p.guarantee, s.ID, p.what + " (" + where + ")"}
				}
			}
		}
	}
	return nil
}

// probe is one transfer the sharing policy must allow or refuse.
type probe struct {
	guarantee string
	in        SharingInput
	allow     bool
	what      string
}

func with(in SharingInput, f func(*SharingInput)) SharingInput {
	in.Fields = clone(in.Fields)
	f(&in)
	return in
}

func clone(s []string) []string { return append([]string(nil), s...) }
