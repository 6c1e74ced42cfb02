# A service added by a policy team as a folder, with no Go change: every
# adult who moves gets a library card offered.
package lifeevents.eligibility.library_card

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

default values := {}

values := {"newAddress": lib.new_address} if count(deny) == 0

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": values}
