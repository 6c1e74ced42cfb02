package registries_test

import (
	"context"
	"reflect"
	"testing"

	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/registries"
)

// registers is what both implementations offer.
type registers interface {
	Load(ctx context.Context, d registries.Data) error
	Empty(ctx context.Context) (bool, error)
	Lookup(ctx context.Context, citizenID, municipality, street string) (registries.Facts, error)
	Dump(ctx context.Context) (registries.Data, error)
}

// TestContract holds the Postgres and the in-memory registers to the same
// answers, so that a simulation on the one decides as a journey on the
// other (the pattern of watermill's shared pubsub tests).
func TestContract(t *testing.T) {
	for name, open := range map[string]func(t *testing.T) registers{
		"postgres": func(t *testing.T) registers { return registries.NewPG(pgtest.New(t)) },
		"memory":   func(t *testing.T) registers { return registries.NewMemory() },
	} {
		t.Run(name, func(t *testing.T) { contract(t, open(t)) })
	}
}

func contract(t *testing.T, r registers) {
	ctx := context.Background()
	if empty, err := r.Empty(ctx); err != nil || !empty {
		t.Fatalf("fresh: empty=%v %v", empty, err)
	}
	d, err := registries.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Load(ctx, d); err != nil {
		t.Fatal(err)
	}
	if empty, _ := r.Empty(ctx); empty {
		t.Fatal("empty after a load")
	}
	zone, district := "WL-A Altstadt", ""
	for _, m := range d.Municipalities {
		if m.Key == "03353022" {
			district = m.WasteDistrict
		}
	}
	unconnected(t, r)
	dump(t, r, d)
	erika, err := r.Lookup(ctx, "c-1001", "03353022", "Am Markt")
	if err != nil {
		t.Fatal(err)
	}
	if erika.Person == nil || erika.Person.Name != "Erika Mustermann" || erika.Person.Salary == nil || *erika.Person.Salary != 3850 ||
		len(erika.Vehicles) != 1 || erika.Vehicles[0].Plate != "WL-EM 1001" || len(erika.Dogs) != 1 ||
		erika.ParkingZone == nil || *erika.ParkingZone != zone || erika.WasteDistrict == nil || *erika.WasteDistrict != district {
		t.Fatalf("Erika: %+v", erika)
	}
	// No municipality: no zone and no waste district.
	if f, _ := r.Lookup(ctx, "c-1001", "", ""); f.ParkingZone != nil || f.WasteDistrict != nil || f.Person == nil {
		t.Fatalf("without municipality: %+v", f)
	}
	// Unknown: no person, empty (not nil) lists.
	f, err := r.Lookup(ctx, "c-unknown", "03353022", "Nowhere")
	if err != nil || f.Person != nil || f.Vehicles == nil || len(f.Vehicles) != 0 || f.Dogs == nil || f.ParkingZone != nil {
		t.Fatalf("unknown citizen: %+v %v", f, err)
	}
	// A load upserts by key: a car that changes holder leaves the old one;
	// several vehicles come ordered by plate.
	if err := r.Load(ctx, registries.Data{Vehicles: []registries.Vehicle{
		{Plate: "WL-EM 1001", HolderID: "c-1003", Kind: "car"},
		{Plate: "WL-AA 1", HolderID: "c-1003", Kind: "motorcycle"},
	}}); err != nil {
		t.Fatal(err)
	}
	if f, _ := r.Lookup(ctx, "c-1001", "03353022", "Am Markt"); len(f.Vehicles) != 0 {
		t.Fatalf("Erika still holds %+v", f.Vehicles)
	}
	max, _ := r.Lookup(ctx, "c-1003", "03353022", "Am Markt")
	var plates []string
	for _, v := range max.Vehicles {
		plates = append(plates, v.Plate)
	}
	if want := []string{"WL-AA 1", "WL-EM 1001", "WL-MM 1003"}; !reflect.DeepEqual(plates, want) {
		t.Fatalf("Max's vehicles %v, want %v", plates, want)
	}
}

// unconnected: where a municipality has not connected a register, its
// facts are unknown (nil), not empty, for whoever lives there, even if the
// register holds records of them from elsewhere.
func unconnected(t *testing.T, r registers) {
	ctx := context.Background()
	d := registries.Data{
		Municipalities: []registries.Municipality{{Key: "03353099", Name: "Ohne Hunderegister", WasteDistrict: "Ost", Unconnected: []string{"dogs", "parkingZones"}}},
		Citizens:       []registries.Person{{CitizenID: "c-u1", Name: "Uwe Unverbunden", Municipality: "03353099", Address: "Weg 1"}},
		Vehicles:       []registries.Vehicle{{Plate: "WL-U 1", HolderID: "c-u1", Kind: "car"}},
		Dogs:           []registries.Dog{{ID: "d-u1", OwnerID: "c-u1", Name: "Bello", Municipality: "03353022"}},
		ParkingZones:   []registries.ParkingZone{{Municipality: "03353099", Street: "Weg", Zone: "Z1"}},
	}
	if err := r.Load(ctx, d); err != nil {
		t.Fatal(err)
	}
	f, err := r.Lookup(ctx, "c-u1", "03353099", "Weg")
	if err != nil {
		t.Fatal(err)
	}
	if f.Dogs != nil || f.ParkingZone != nil || len(f.Vehicles) != 1 || f.WasteDistrict == nil || *f.WasteDistrict != "Ost" {
		t.Fatalf("in a municipality without dog and zone registers: %+v, want dogs and zone unknown, the car and the waste district known", f)
	}
	// Where the registers are connected, the same person's dog is known.
	f, err = r.Lookup(ctx, "c-u1", "03353022", "Am Markt")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Dogs) != 1 || f.Dogs[0].Name != "Bello" {
		t.Fatalf("where the dog register is connected: %+v", f)
	}
}

// dump: what Dump reads is everything loaded, and loads again to the same.
func dump(t *testing.T, r registers, sample registries.Data) {
	ctx := context.Background()
	d, err := r.Dump(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Citizens) != len(sample.Citizens)+1 || len(d.Municipalities) != len(sample.Municipalities)+1 ||
		len(d.Vehicles) != len(sample.Vehicles)+1 || len(d.Dogs) != len(sample.Dogs)+1 || len(d.ParkingZones) != len(sample.ParkingZones)+1 {
		t.Fatalf("dump holds %d citizens, %d municipalities, %d vehicles, %d dogs, %d zones",
			len(d.Citizens), len(d.Municipalities), len(d.Vehicles), len(d.Dogs), len(d.ParkingZones))
	}
	var u registries.Municipality
	for _, m := range d.Municipalities {
		if m.Key == "03353099" {
			u = m
		}
	}
	if !reflect.DeepEqual(u.Unconnected, []string{"dogs", "parkingZones"}) || u.Name != "Ohne Hunderegister" {
		t.Fatalf("the municipality without registers dumps as %+v", u)
	}
	again := registries.NewMemory()
	if err := again.Load(ctx, d); err != nil {
		t.Fatal(err)
	}
	if d2, _ := again.Dump(ctx); !reflect.DeepEqual(d, d2) {
		t.Fatalf("dump, load, dump differ:\n%+v\n%+v", d, d2)
	}
}
