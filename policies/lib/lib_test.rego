package lifeevents.lib_test

import data.lifeevents.lib

test_new_address if {
	lib.new_address == "Am Markt 12, 21423 Winsen (Luhe)" with input as {"event": {"data": {"to": {
		"street": "Am Markt", "houseNumber": "12", "postalCode": "21423", "city": "Winsen (Luhe)",
	}}}}
}

test_event_types if {
	lib.is_move with input as {"event": {"type": "lifeevents.move.registered.v1"}}
	not lib.is_move with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
	lib.is_birth with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
}

test_is_parent if {
	lib.is_parent with input as {"subject": {"citizenId": "c-1"}, "event": {"data": {"parents": [{"citizenId": "c-1"}]}}}
	not lib.is_parent with input as {"subject": {"citizenId": "c-2"}, "event": {"data": {"parents": [{"citizenId": "c-1"}]}}}
}
