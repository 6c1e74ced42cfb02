package registries

import (
	"context"
	"sort"
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
		zones: map[[2]string]string{}, districts: map[string]string{}, unconnected: map[string][]string{},
		byHolder: map[string][]Vehicle{}, byOwner: map[string][]Dog{},
	}
}

// Load upserts everything in d, keyed as the Postgres registers key it.
func (m *Memory) Load(_ context.Context, d Data) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, x := range d.Municipalities {
		m.districts[x.Key] = x.WasteDistrict
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
