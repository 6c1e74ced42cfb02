package registries_test

import (
	"context"
	"os"
	"strings"
	"testing"

	"github.com/lifeevents/lifeevents/internal/pgtest"
	"github.com/lifeevents/lifeevents/registries"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

func TestSampleLoadAndLookup(t *testing.T) {
	ctx := context.Background()
	reg := registries.NewPG(pgtest.New(t))
	if empty, err := reg.Empty(ctx); err != nil || !empty {
		t.Fatalf("fresh registers: empty=%v %v", empty, err)
	}
	d, err := registries.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Municipalities) < 8 {
		t.Fatalf("the sample district has %d municipalities", len(d.Municipalities))
	}
	for i := range 2 { // loading twice is an upsert, not a failure
		if err := reg.Load(ctx, d); err != nil {
			t.Fatalf("load %d: %v", i, err)
		}
	}
	f, err := reg.Lookup(ctx, "c-1001", "03353022", "Am Markt")
	if err != nil {
		t.Fatal(err)
	}
	if f.Person == nil || f.Person.Name != "Erika Mustermann" || len(f.Vehicles) != 1 || f.Vehicles[0].Kind != "car" ||
		len(f.Dogs) != 1 || f.ParkingZone == nil || *f.ParkingZone != "WL-A Altstadt" || f.WasteDistrict == nil {
		t.Fatalf("facts for c-1001: %+v", f)
	}
	f, err = reg.Lookup(ctx, "c-unknown", "03353022", "Nowhere")
	if err != nil || f.Person != nil || f.Vehicles == nil || len(f.Vehicles) != 0 || f.ParkingZone != nil {
		t.Fatalf("facts for an unknown citizen: %+v %v", f, err)
	}
	if _, err := registries.Parse(strings.NewReader(`{"cars":[]}`)); err == nil {
		t.Fatal("unknown section accepted")
	}
}
