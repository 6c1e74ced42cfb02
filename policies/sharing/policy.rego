# Data sharing: which fields may go to which recipient, for which service's
# purpose, on which basis. Every transfer is decided here at the moment it
# happens; consent coverage is checked beside it by the consent records.
#
# input: {"service", "municipality", "recipient", "basis", "fields": [names],
#         "optionalConsent": bool}
package lifeevents.sharing

service := data.services[input.service]

deny contains "unknown_service" if not service

deny contains "no_fields" if count(object.get(input, "fields", [])) == 0

expected_recipient := object.get(object.get(service, "recipientsByMunicipality", {}), input.municipality, service.recipient)

deny contains "wrong_recipient" if input.recipient != expected_recipient.id

deny contains "wrong_basis" if input.basis != service.basis.kind

declared contains f.name if some f in service.fields

optional contains f.name if {
	some f in service.fields
	f.optional
}

# Data minimisation: nothing the service did not declare.
deny contains sprintf("undeclared_field:%s", [name]) if {
	service
	some name in input.fields
	not name in declared
}

deny contains sprintf("optional_field_without_consent:%s", [name]) if {
	some name in input.fields
	name in optional
	not input.optionalConsent
}

decision := {
	"allow": count(deny) == 0,
	"reasons": sort(deny),
	"fields": sort([name | some name in input.fields; name in declared]),
}
