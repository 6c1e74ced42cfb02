# Child benefit (Kindergeld): one parent receives it. Both are offered it; the
# first to accept gets it and the other's proposal is withdrawn (exclusive).
package lifeevents.eligibility.child_benefit

import data.lifeevents.lib

deny contains "not_a_birth" if not lib.is_birth

deny contains "subject_not_parent" if {
	lib.is_birth
	not lib.is_parent
}

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": {}}
