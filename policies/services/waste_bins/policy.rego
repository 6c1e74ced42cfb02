# Waste bins (Abfallbehälter): a household that moves into a municipality
# registers its bins there. Sample rule: one proposal per household, bin size
# from the household size.
package lifeevents.eligibility.waste_bins

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

deny contains "missing_waste_district" if {
	lib.is_move
	not input.registry.wasteDistrict
}

household_size := count(input.event.data.household)

default bin_size := 0

bin_size := 80 if household_size <= 2

bin_size := 120 if {
	household_size > 2
	household_size <= 4
}

bin_size := 240 if household_size > 4

default values := {}

values := {"newAddress": lib.new_address, "householdSize": household_size, "binSize": bin_size} if count(deny) == 0

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": values}
