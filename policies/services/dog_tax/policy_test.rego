package lifeevents.eligibility.dog_tax_test

import data.lifeevents.eligibility.dog_tax

move := {"type": "lifeevents.move.registered.v1", "data": {
	"from": {"municipality": "03353005"},
	"to": {"municipality": "03353022", "street": "Am Markt", "houseNumber": "12", "postalCode": "21423", "city": "Winsen (Luhe)"},
}}

bello := {"name": "Bello", "municipality": "03353005"}

test_allow if {
	d := dog_tax.decision with input as {"event": move, "registry": {"dogs": [bello, {"name": "Rex", "municipality": "03353029"}]}}
	d.allow
	d.values.dogs == ["Bello"]
}

test_deny_not_a_move if {
	d := dog_tax.decision with input as {"event": {"type": "lifeevents.birth.registered.v1"}}
	d.reasons == ["not_a_move"]
}

test_deny_same_municipality if {
	within := json.patch(move, [{"op": "replace", "path": "/data/to/municipality", "value": "03353005"}])
	d := dog_tax.decision with input as {"event": within, "registry": {"dogs": [bello]}}
	d.reasons == ["same_municipality"]
}

test_deny_missing_register if {
	d := dog_tax.decision with input as {"event": move, "registry": {}}
	"missing_dog_register" in d.reasons
}

test_deny_no_dog if {
	d := dog_tax.decision with input as {"event": move, "registry": {"dogs": []}}
	d.reasons == ["no_dog_registered"]
}
