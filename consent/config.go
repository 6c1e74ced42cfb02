package consent

import (
	"errors"
	"strings"
)

// Config is what a district says on every consent record: who controls
// the data and on which legal ground a consent rests. Both are shown to
// the citizen and kept in the receipt.
type Config struct {
	// Controller names the data controller (the district or municipality,
	// with its address as the citizen should read it). Required.
	Controller string
	// LegalBasis of a consent; default DefaultLegalBasis.
	LegalBasis string
}

// DefaultLegalBasis is the GDPR article a consent rests on.
const DefaultLegalBasis = "Art. 6 Abs. 1 lit. a DSGVO"

func (c Config) withDefaults() Config {
	if c.LegalBasis == "" {
		c.LegalBasis = DefaultLegalBasis
	}
	return c
}

// Validate says what is missing, in the settings' names.
func (c Config) Validate() error {
	switch {
	case strings.TrimSpace(c.Controller) == "":
		return errors.New("--controller (LIFEEVENTS_CONTROLLER) is required: the data controller named on every consent record, e.g. \"Landkreis Harburg, Schloßplatz 6, 21423 Winsen (Luhe)\"")
	case len(c.Controller) > 300 || len(c.LegalBasis) > 300:
		return errors.New("--controller and --consent-legal-basis are at most 300 characters")
	}
	return nil
}
