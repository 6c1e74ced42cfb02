# Vehicle registration address change (Halteradresse): a legal duty of every
# vehicle holder who moves, so it rests on the law, not on consent.
package lifeevents.eligibility.vehicle_address

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

deny contains "missing_vehicle_register" if {
	lib.is_move
	not input.registry.vehicles
}

deny contains "no_registered_vehicle" if {
	lib.is_move
	count(input.registry.vehicles) == 0
}

default values := {}

values := {
	"newAddress": lib.new_address,
	"plates": sort([v.plate | some v in input.registry.vehicles]),
} if count(deny) == 0

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": values}
