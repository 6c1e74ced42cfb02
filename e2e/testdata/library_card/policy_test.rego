package lifeevents.eligibility.library_card_test

import data.lifeevents.eligibility.library_card

test_allow if {
	library_card.decision.allow with input as {"event": {"type": "lifeevents.move.registered.v1", "data": {"to": {
		"street": "Am Markt", "houseNumber": "1", "postalCode": "21423", "city": "Winsen (Luhe)",
	}}}}
}

test_deny_not_a_move if {
	library_card.decision.reasons == ["not_a_move"] with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
}
