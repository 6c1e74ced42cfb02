package lifeevents.sharing_test

import data.lifeevents.sharing

services := {"child_benefit": {
	"recipient": {"id": "familienkasse", "name": "Familienkasse"},
	"basis": {"kind": "consent", "reference": "Einwilligung"},
	"fields": [{"name": "applicant"}, {"name": "childId"}, {"name": "salary", "optional": true}],
}}

ok := {"service": "child_benefit", "municipality": "03353022", "recipient": "familienkasse", "basis": "consent", "fields": ["applicant", "childId"]}

test_allow if {
	d := sharing.decision with input as ok with data.services as services
	d.allow
	d.fields == ["applicant", "childId"]
}

test_allow_optional_with_consent if {
	with_salary := object.union(ok, {"fields": ["applicant", "salary"], "optionalConsent": true})
	sharing.decision.allow with input as with_salary with data.services as services
}

test_deny_unknown_service if {
	d := sharing.decision with input as object.union(ok, {"service": "nope"}) with data.services as services
	"unknown_service" in d.reasons
	not d.allow
}

test_deny_no_fields if {
	d := sharing.decision with input as object.union(ok, {"fields": []}) with data.services as services
	d.reasons == ["no_fields"]
}

test_deny_wrong_recipient if {
	d := sharing.decision with input as object.union(ok, {"recipient": "someone-else"}) with data.services as services
	d.reasons == ["wrong_recipient"]
}

test_recipient_by_municipality if {
	by := {"child_benefit": object.union(services.child_benefit, {"recipientsByMunicipality": {"03353022": {"id": "fk-winsen", "name": "FK Winsen"}}})}
	sharing.decision.allow with input as object.union(ok, {"recipient": "fk-winsen"}) with data.services as by
	not sharing.decision.allow with input as ok with data.services as by
}

test_deny_wrong_basis if {
	d := sharing.decision with input as object.union(ok, {"basis": "law"}) with data.services as services
	d.reasons == ["wrong_basis"]
}

test_deny_undeclared_field if {
	d := sharing.decision with input as object.union(ok, {"fields": ["applicant", "iban"]}) with data.services as services
	d.reasons == ["undeclared_field:iban"]
	d.fields == ["applicant"]
}

test_deny_optional_without_consent if {
	d := sharing.decision with input as object.union(ok, {"fields": ["applicant", "salary"]}) with data.services as services
	d.reasons == ["optional_field_without_consent:salary"]
}
