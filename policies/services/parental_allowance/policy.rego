# Parental allowance (Elterngeld): each parent applies for their own. Salary
# data goes only with a separate, optional consent, as in Bremen's ELFE.
package lifeevents.eligibility.parental_allowance

import data.lifeevents.lib

deny contains "not_a_birth" if not lib.is_birth

deny contains "subject_not_parent" if {
	lib.is_birth
	not lib.is_parent
}

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": {}}
