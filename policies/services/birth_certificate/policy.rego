# Birth certificates for benefit purposes (Geburtsurkunden): issued free of
# charge for child benefit and parental allowance, once per birth.
package lifeevents.eligibility.birth_certificate

import data.lifeevents.lib

deny contains "not_a_birth" if not lib.is_birth

deny contains "subject_not_parent" if {
	lib.is_birth
	not lib.is_parent
}

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": {}}
