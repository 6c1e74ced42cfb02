# Helpers shared by the eligibility policies.
package lifeevents.lib

move_type := "lifeevents.move.registered.v1"

birth_type := "lifeevents.birth.registered.v1"

is_move if input.event.type == move_type

is_birth if input.event.type == birth_type

# The new address of a move, as it goes on an application.
new_address := sprintf("%s %s, %s %s", [a.street, a.houseNumber, a.postalCode, a.city]) if {
	a := input.event.data.to
}

# The subject is one of the newborn's parents.
is_parent if {
	some p in input.event.data.parents
	p.citizenId == input.subject.citizenId
}
