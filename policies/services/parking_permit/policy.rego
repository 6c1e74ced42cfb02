# Resident parking permit (Bewohnerparkausweis). Sample rule: the new address
# lies in a resident-parking zone of the new municipality and the subject
# holds a registered car.
package lifeevents.eligibility.parking_permit

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

deny contains "missing_vehicle_register" if {
	lib.is_move
	not input.registry.vehicles
}

deny contains "no_registered_car" if {
	lib.is_move
	cars := [v | some v in input.registry.vehicles; v.kind == "car"]
	count(cars) == 0
}

deny contains "missing_parking_zone_register" if {
	lib.is_move
	not "parkingZone" in object.keys(object.get(input, "registry", {}))
}

deny contains "not_in_parking_zone" if {
	lib.is_move
	input.registry.parkingZone == null
}

default values := {}

values := {"newAddress": lib.new_address} if count(deny) == 0

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": values}
