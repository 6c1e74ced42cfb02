package registries

import (
	"cmp"
	"context"
	"slices"
	"sort"
	"strings"
	"sync"
)

// Memory holds the registers in memory and answers as PG does: for
// simulations, which look up hundreds of thousands of citizens, and for
// tests. The shared contract test holds both to the same answers.
type Memory struct {
	mu        sync.RWMutex
	persons   map[string]Person
	vehicles  map[string]Vehicle // by plate
	dogs      map[string]Dog     // by id
	zones     map[[2]string]string
	districts map[string]string
	names     map[string]string
	// unconnected registers by municipality
	unconnected map[string][]string
	// byHolder and byOwner index vehicles and dogs, ordered as PG orders
	// them (plate, id); rebuilt on every load.
	byHolder map[string][]Vehicle
	byOwner  map[string][]Dog
}

// NewMemory returns empty registers.
func NewMemory() *Memory {
	return &Memory{
		persons: map[string]Person{}, vehicles: map[string]Vehicle{}, dogs: map[string]Dog{},
		zones: map[[2]string]string{}, districts: map[string]string{}, names: map[string]string{}, unconnected: map[string][]string{},
		byHolder: map[string][]Vehicle{}, byOwner: map[string][]Dog{},
	}
}

// Load upserts everything in d, keyed as the Postgres registers key it.
func (m *Memory) Load(_ context.Context, d Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range d.Municipalities {
		m.districts[x.Key] = x.WasteDistrict
		m.names[x.Key] = x.Name
		m.unconnected[x.Key] = append([]string(nil), x.Unconnected...)
	}
	for _, c := range d.Citizens {
		m.persons[c.CitizenID] = c
	}
	for _, v := range d.Vehicles {
		m.vehicles[v.Plate] = v
	}
	for _, z := range d.ParkingZones {
		m.zones[[2]string{z.Municipality, z.Street}] = z.Zone
	}
	for _, g := range d.Dogs {
		m.dogs[g.ID] = g
	}
	m.byHolder = map[string][]Vehicle{}
	for _, v := range m.vehicles {
		m.byHolder[v.HolderID] = append(m.byHolder[v.HolderID], v)
	}
	for _, vs := range m.byHolder {
		sort.Slice(vs, func(i, j int) bool { return vs[i].Plate < vs[j].Plate })
	}
	m.byOwner = map[string][]Dog{}
	for _, g := range m.dogs {
		m.byOwner[g.OwnerID] = append(m.byOwner[g.OwnerID], g)
	}
	for _, gs := range m.byOwner {
		sort.Slice(gs, func(i, j int) bool { return gs[i].ID < gs[j].ID })
	}
	return nil
}

// Dump returns every register in the shape Load takes, sorted as PG
// sorts it.
func (m *Memory) Dump(context.Context) (Data, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var d Data
	for key, district := range m.districts {
		d.Municipalities = append(d.Municipalities, Municipality{Key: key, Name: m.names[key], WasteDistrict: district,
			Unconnected: slices.Clone(m.unconnected[key])})
	}
	slices.SortFunc(d.Municipalities, func(a, b Municipality) int { return strings.Compare(a.Key, b.Key) })
	for _, p := range m.persons {
		d.Citizens = append(d.Citizens, p)
	}
	slices.SortFunc(d.Citizens, func(a, b Person) int { return strings.Compare(a.CitizenID, b.CitizenID) })
	for _, v := range m.vehicles {
		d.Vehicles = append(d.Vehicles, v)
	}
	slices.SortFunc(d.Vehicles, func(a, b Vehicle) int { return strings.Compare(a.Plate, b.Plate) })
	for k, z := range m.zones {
		d.ParkingZones = append(d.ParkingZones, ParkingZone{Municipality: k[0], Street: k[1], Zone: z})
	}
	slices.SortFunc(d.ParkingZones, func(a, b ParkingZone) int {
		return cmp.Or(strings.Compare(a.Municipality, b.Municipality), strings.Compare(a.Street, b.Street))
	})
	for _, g := range m.dogs {
		d.Dogs = append(d.Dogs, g)
	}
	slices.SortFunc(d.Dogs, func(a, b Dog) int { return strings.Compare(a.ID, b.ID) })
	return d, nil
}

// Empty reports whether no municipality is loaded yet.
func (m *Memory) Empty(context.Context) (bool, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return len(m.districts) == 0, nil
}

// Lookup gathers the facts about citizen living at (municipality, street).
func (m *Memory) Lookup(_ context.Context, citizenID, municipality, street string) (Facts, error) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	f := Facts{
		Vehicles: append([]Vehicle{}, m.byHolder[citizenID]...),
		Dogs:     append([]Dog{}, m.byOwner[citizenID]...),
	}
	if p, ok := m.persons[citizenID]; ok {
		if p.Salary != nil { // a value of its own, as PG returns
			salary := *p.Salary
			p.Salary = &salary
		}
		f.Person = &p
	}
	if municipality != "" {
		if z, ok := m.zones[[2]string{municipality, street}]; ok {
			f.ParkingZone = &z
		}
		if d, ok := m.districts[municipality]; ok {
			f.WasteDistrict = &d
			f.unknown(m.unconnected[municipality])
		}
	}
	return f, nil
}
