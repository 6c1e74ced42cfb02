package lifeevents.eligibility.parking_permit_test

import data.lifeevents.eligibility.parking_permit

move := {"type": "lifeevents.move.registered.v1", "data": {"to": {
	"municipality": "03353022", "street": "Am Markt", "houseNumber": "12",
	"postalCode": "21423", "city": "Winsen (Luhe)",
}}}

car := {"plate": "WL-LE 101", "kind": "car"}

test_allow if {
	d := parking_permit.decision with input as {"event": move, "registry": {"vehicles": [car], "parkingZone": "WL-A"}}
	d.allow
	d.values.newAddress == "Am Markt 12, 21423 Winsen (Luhe)"
}

test_deny_not_a_move if {
	d := parking_permit.decision with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
	d.reasons == ["not_a_move"]
}

test_deny_no_car if {
	d := parking_permit.decision with input as {"event": move, "registry": {"vehicles": [{"plate": "WL-M 1", "kind": "motorcycle"}], "parkingZone": "WL-A"}}
	d.reasons == ["no_registered_car"]
}

test_deny_missing_vehicle_register if {
	d := parking_permit.decision with input as {"event": move, "registry": {"parkingZone": "WL-A"}}
	"missing_vehicle_register" in d.reasons
	not d.allow
}

test_deny_not_in_zone if {
	d := parking_permit.decision with input as {"event": move, "registry": {"vehicles": [car], "parkingZone": null}}
	d.reasons == ["not_in_parking_zone"]
}

test_deny_missing_zone_register if {
	d := parking_permit.decision with input as {"event": move, "registry": {"vehicles": [car]}}
	d.reasons == ["missing_parking_zone_register"]
}
