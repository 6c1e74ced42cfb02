package lifeevents.eligibility.birth_certificate_test

import data.lifeevents.eligibility.birth_certificate

birth := {"type": "lifeevents.birth.registered.v1", "data": {
	"childId": "c-2001", "birthDate": "2026-10-30",
	"parents": [{"citizenId": "c-1001"}, {"citizenId": "c-1003"}],
}}

test_allow_each_parent if {
	every parent in ["c-1001", "c-1003"] {
		birth_certificate.decision.allow with input as {"event": birth, "subject": {"citizenId": parent}}
	}
}

test_deny_not_a_birth if {
	d := birth_certificate.decision with input as {"event": {"type": "lifeevents.move.registered.v1"}, "subject": {"citizenId": "c-1001"}}
	d.reasons == ["not_a_birth"]
}

test_deny_not_a_parent if {
	d := birth_certificate.decision with input as {"event": birth, "subject": {"citizenId": "c-9999"}}
	d.reasons == ["subject_not_parent"]
}
