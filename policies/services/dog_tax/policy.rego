# Dog tax re-registration (Hundesteuer): a dog registered at the old
# municipality moves to another municipality with its owner.
package lifeevents.eligibility.dog_tax

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

deny contains "same_municipality" if {
	lib.is_move
	input.event.data.from.municipality == input.event.data.to.municipality
}

deny contains "missing_dog_register" if {
	lib.is_move
	not input.registry.dogs
}

dogs := sort([d.name |
	some d in input.registry.dogs
	d.municipality == input.event.data.from.municipality
])

deny contains "no_dog_registered" if {
	lib.is_move
	count(dogs) == 0
}

default values := {}

values := {"newAddress": lib.new_address, "dogs": dogs} if count(deny) == 0

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": values}
