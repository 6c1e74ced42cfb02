package candidates

import (
	"reflect"
	"testing"

	"github.com/lifeevents/lifeevents/registries"
)

// TestFactsDocIsTheJSONRendering: the policies read the JSON rendering of
// the facts, except that a register that could not say is absent.
func TestFactsDocIsTheJSONRendering(t *testing.T) {
	zone, district, salary := "WL-A", "Nord", 3850.5
	for name, f := range map[string]registries.Facts{
		"nothing known":   {},
		"empty registers": {Vehicles: []registries.Vehicle{}, Dogs: []registries.Dog{}},
		"everything": {Person: &registries.Person{CitizenID: "c-1", Name: "E M", Municipality: "03353022", Address: "Am Markt 1", Salary: &salary},
			Vehicles:    []registries.Vehicle{{Plate: "M 1", HolderID: "c-1", Kind: "motorcycle"}, {Plate: "C 1", HolderID: "c-1", Kind: "car"}},
			Dogs:        []registries.Dog{{ID: "d-1", OwnerID: "c-1", Name: "Bello", Municipality: "03353005"}},
			ParkingZone: &zone, WasteDistrict: &district},
		"no salary, no car": {Person: &registries.Person{CitizenID: "c-2"}, Vehicles: []registries.Vehicle{{Plate: "M 2", Kind: "motorcycle"}}},
	} {
		want := toMap(f)
		for _, k := range []string{"vehicles", "dogs"} {
			if want[k] == nil {
				delete(want, k) // unknown, not empty
			}
		}
		want["vehicle"] = nil
		for _, v := range f.Vehicles {
			if v.Kind == "car" {
				want["vehicle"] = toMap(v)
				break
			}
		}
		if got := factsDoc(f); !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %#v\nwant %#v", name, got, want)
		}
	}
}
