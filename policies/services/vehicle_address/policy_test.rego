package lifeevents.eligibility.vehicle_address_test

import data.lifeevents.eligibility.vehicle_address

move := {"type": "lifeevents.move.registered.v1", "data": {"to": {
	"municipality": "03353022", "street": "Am Markt", "houseNumber": "12",
	"postalCode": "21423", "city": "Winsen (Luhe)",
}}}

test_allow_lists_every_plate if {
	vs := [{"plate": "WL-B 2", "kind": "motorcycle"}, {"plate": "WL-A 1", "kind": "car"}]
	d := vehicle_address.decision with input as {"event": move, "registry": {"vehicles": vs}}
	d.allow
	d.values.plates == ["WL-A 1", "WL-B 2"]
}

test_deny_not_a_move if {
	d := vehicle_address.decision with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
	d.reasons == ["not_a_move"]
}

test_deny_no_vehicle if {
	d := vehicle_address.decision with input as {"event": move, "registry": {"vehicles": []}}
	d.reasons == ["no_registered_vehicle"]
}

test_deny_missing_register if {
	d := vehicle_address.decision with input as {"event": move, "registry": {}}
	d.reasons == ["missing_vehicle_register"]
}
