package lifeevents.eligibility.waste_bins_test

import data.lifeevents.eligibility.waste_bins

move := {
	"type": "lifeevents.move.registered.v1",
	"data": {
		"to": {"municipality": "03353022", "street": "Am Markt", "houseNumber": "12", "postalCode": "21423", "city": "Winsen (Luhe)"},
		"household": [{"citizenId": "c-1", "role": "adult"}, {"citizenId": "c-2", "role": "child"}, {"citizenId": "c-3", "role": "child"}],
	},
}

test_allow_with_bin_size_from_household if {
	d := waste_bins.decision with input as {"event": move, "subject": {"citizenId": "c-1"}, "registry": {"wasteDistrict": "WL-Nord"}}
	d.allow
	d.reasons == []
	d.values.binSize == 120
	d.values.householdSize == 3
}

test_small_household_gets_small_bin if {
	small := json.patch(move, [{"op": "replace", "path": "/data/household", "value": [{"citizenId": "c-1", "role": "adult"}]}])
	d := waste_bins.decision with input as {"event": small, "registry": {"wasteDistrict": "WL-Nord"}}
	d.values.binSize == 80
}

test_deny_not_a_move if {
	d := waste_bins.decision with input as {"event": {"type": "lifeevents.birth.registered.v1", "data": {}}}
	not d.allow
	"not_a_move" in d.reasons
}

test_deny_missing_waste_district if {
	d := waste_bins.decision with input as {"event": move, "registry": {}}
	not d.allow
	d.reasons == ["missing_waste_district"]
	d.values == {}
}
