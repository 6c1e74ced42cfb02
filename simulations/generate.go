package simulations

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/registries"
)

// Population is a generated district: the registers as they stand (every
// person who appears in the period, in the shape `lifeevents registry
// load` reads) and the period's life events in time order.
type Population struct {
	Registers registries.Data
	Events    []events.Event
	// Flows counts what happened to the population, including what makes
	// no event of the district's (moves out are registered where people
	// go).
	Flows Flows
}

// Flows are the population's movements over the period.
type Flows struct {
	Residents   int `json:"residentsAtStart"`
	MovesWithin int `json:"movesWithin"`
	MovesInto   int `json:"movesInto"`
	MovesOut    int `json:"movesOut"`
	Births      int `json:"births"`
}

// household is a generated household while the period runs.
type household struct {
	id      string
	muni    int
	street  string
	house   int
	members []events.Member
}

// origins are where people moving into the district come from.
var origins = []events.Address{
	{Municipality: "02000000", Street: "Mönckebergstraße", HouseNumber: "7", PostalCode: "20095", City: "Hamburg"},
	{Municipality: "03241001", Street: "Georgstraße", HouseNumber: "12", PostalCode: "30159", City: "Hannover"},
	{Municipality: "03355022", Street: "Am Sande", HouseNumber: "3", PostalCode: "21335", City: "Lüneburg"},
	{Municipality: "11000000", Street: "Unter den Linden", HouseNumber: "40", PostalCode: "10117", City: "Berlin"},
}

var (
	streetStems = []string{"Linden", "Birken", "Eichen", "Buchen", "Ahorn", "Kastanien", "Tannen", "Erlen", "Eschen", "Weiden",
		"Rosen", "Tulpen", "Nelken", "Flieder", "Holunder", "Schlehen", "Heide", "Moor", "Wiesen", "Feld",
		"Garten", "Mühlen", "Kirch", "Schul", "Bahnhof", "Markt", "Post", "Brunnen", "Berg", "Tal",
		"Sonnen", "Mond", "Stern", "Wald", "See", "Bach", "Hafen", "Deich", "Dorf", "Hof",
		"Amsel", "Drossel", "Finken", "Meisen", "Lerchen", "Schwalben", "Falken", "Adler", "Kranich", "Storchen"}
	streetKinds = []string{"weg", "straße", "allee", "ring", "gasse", "stieg", "damm", "kamp"}
	givenNames  = []string{"Anna", "Ben", "Clara", "David", "Emma", "Felix", "Greta", "Hannes", "Ida", "Jonas", "Karla", "Lukas",
		"Mia", "Noah", "Olga", "Paul", "Rosa", "Simon", "Tilda", "Umut", "Vera", "Willi", "Yara", "Zeynep"}
	familyNames = []string{"Müller", "Schmidt", "Schneider", "Fischer", "Weber", "Meyer", "Wagner", "Becker", "Schulz", "Hoffmann",
		"Koch", "Richter", "Klein", "Wolf", "Schröder", "Neumann", "Schwarz", "Braun", "Hofmann", "Zimmermann",
		"Yılmaz", "Kowalski", "Nowak", "Popescu"}
)

// StreetName is the i-th street of every generated municipality.
func StreetName(i int) string {
	stem := streetStems[i%len(streetStems)]
	kind := streetKinds[(i/len(streetStems))%len(streetKinds)]
	name := stem + kind
	if round := i / (len(streetStems) * len(streetKinds)); round > 0 {
		name += " " + strconv.Itoa(round+1)
	}
	return name
}

// generator holds the population while the period's events are drawn.
type generator struct {
	sc         *Scenario
	data       registries.Data
	households map[string]*household
	live       []string // household ids, for uniform draws
	where      map[string]int
	persons    int
	nextHouse  int
	cars       int
	dogs       int
	// prefix marks the ids of generated people, households, cars and
	// dogs: "s" for a generated district, "n" for newcomers to live
	// registers (which may hold an earlier generated district).
	prefix string
	// residents per municipality, for the share of events each gets.
	residents []int
}

// Generate makes the scenario's population and events. It depends on the
// scenario's district, households, rates and seed only: two scenarios
// that differ in behaviour, agencies, offers mode, policies or added
// parking-zone streets have the same people and the same events.
func Generate(sc *Scenario) Population {
	g := &generator{sc: sc, households: map[string]*household{}, where: map[string]int{}, prefix: "s"}
	for i, m := range sc.District.Municipalities {
		g.residents = append(g.residents, m.Residents)
		g.data.Municipalities = append(g.data.Municipalities, registries.Municipality{Key: m.Key, Name: m.Name, WasteDistrict: m.WasteDistrict,
			Unconnected: m.RegistersMissing})
		g.zones(i)
		r := stream(sc.Seed, "households", m.Key)
		for n := 0; n < m.Residents; {
			h := g.household(r, i, nil)
			n += len(h.members)
		}
	}
	return g.finish(g.persons)
}

// finish applies the scenario's own parking-zone streets and draws the
// period's events.
func (g *generator) finish(residents int) Population {
	for _, z := range g.sc.District.ParkingZones {
		i := slices.IndexFunc(g.data.ParkingZones, func(p registries.ParkingZone) bool {
			return p.Municipality == z.Municipality && p.Street == z.Street
		})
		if i >= 0 {
			g.data.ParkingZones[i].Zone = z.Zone
		} else {
			g.data.ParkingZones = append(g.data.ParkingZones, registries.ParkingZone(z))
		}
	}
	pop := Population{Flows: Flows{Residents: residents}}
	pop.Events = g.events(&pop.Flows)
	pop.Registers = g.data
	return pop
}

// GenerateFrom draws the scenario's events over the people of registers
// (the live ones: registries.PG.Dump) instead of a generated district.
// Households are the people of one address; those with a salary are its
// adults. The scenario's municipalities say which of the registers'
// municipalities make the district (their residents figure is not used)
// and how newcomers' addresses look; people who move in or are born get
// ids of their own ("c-n…"). The registers are not changed: the
// population holds a copy with the newcomers added.
func GenerateFrom(sc *Scenario, live registries.Data) (Population, error) {
	g := &generator{sc: sc, households: map[string]*household{}, where: map[string]int{}, prefix: "n",
		residents: make([]int, len(sc.District.Municipalities))}
	index := map[string]int{}
	for i, m := range sc.District.Municipalities {
		index[m.Key] = i
		if !slices.ContainsFunc(live.Municipalities, func(x registries.Municipality) bool { return x.Key == m.Key }) {
			return Population{}, fmt.Errorf("%s: municipality %s (%s) is not in the registers", sc.File(), m.Key, m.Name)
		}
	}
	g.data = registries.Data{Municipalities: slices.Clone(live.Municipalities), Citizens: slices.Clone(live.Citizens),
		Vehicles: slices.Clone(live.Vehicles), ParkingZones: slices.Clone(live.ParkingZones), Dogs: slices.Clone(live.Dogs)}
	type home struct {
		muni    int
		address string
	}
	homes := map[home][]registries.Person{}
	var order []home
	for _, p := range live.Citizens {
		i, ok := index[p.Municipality]
		if !ok {
			continue // not of the district
		}
		k := home{i, p.Address}
		if homes[k] == nil {
			order = append(order, k)
		}
		homes[k] = append(homes[k], p)
		g.residents[i]++
	}
	if len(order) == 0 {
		return Population{}, fmt.Errorf("%s: the registers hold nobody in the scenario's municipalities", sc.File())
	}
	residents := 0
	for _, k := range order {
		people := homes[k]
		street, house := splitAddress(k.address)
		g.nextHouse++
		h := &household{id: fmt.Sprintf("h-r%07d", g.nextHouse), muni: k.muni, street: street, house: house}
		earners := 0
		for _, p := range people {
			if p.Salary != nil {
				earners++
			}
		}
		for _, p := range people {
			m := events.Member{CitizenID: p.CitizenID, Role: events.RoleAdult}
			if p.Salary == nil && earners > 0 {
				m.Role = events.RoleChild
			}
			h.members = append(h.members, m)
		}
		residents += len(people)
		g.households[h.id] = h
		g.where[h.id] = len(g.live)
		g.live = append(g.live, h.id)
	}
	return g.finish(residents), nil
}

// splitAddress reads "Lindenweg 4, 21244 Buchholz" as street and house
// number; an address without a number is house 1.
func splitAddress(a string) (string, int) {
	line, _, _ := strings.Cut(a, ",")
	line = strings.TrimSpace(line)
	if i := strings.LastIndexByte(line, ' '); i > 0 {
		if n, err := strconv.Atoi(line[i+1:]); err == nil && n > 0 {
			return line[:i], n
		}
	}
	return line, 1
}

// zones puts a share of a municipality's streets into parking zones of
// about ten streets each, drawn from a stream of their own so that the
// people and events do not change with them.
func (g *generator) zones(i int) {
	m := g.sc.District.Municipalities[i]
	n := int(math.Round(m.ParkingZoneShare * float64(m.Streets)))
	perm := stream(g.sc.Seed, "zones", m.Key).Perm(m.Streets)[:n]
	slices.Sort(perm)
	for k, s := range perm {
		g.data.ParkingZones = append(g.data.ParkingZones, registries.ParkingZone{
			Municipality: m.Key, Street: StreetName(s), Zone: fmt.Sprintf("%s Zone %d", m.Name, k/10+1)})
	}
}

func (g *generator) person(r *rand.Rand, muni int, street string, house int, adult bool) string {
	g.persons++
	id := fmt.Sprintf("c-%s%07d", g.prefix, g.persons)
	m := g.sc.District.Municipalities[muni]
	p := registries.Person{CitizenID: id, Municipality: m.Key,
		Name:    givenNames[r.IntN(len(givenNames))] + " " + familyNames[r.IntN(len(familyNames))],
		Address: fmt.Sprintf("%s %d, %s %s", street, house, m.PostalCode, m.Name)}
	if adult {
		salary := math.Round(1800 + 3200*r.Float64())
		p.Salary = &salary
		if r.Float64() < g.sc.Households.CarPerAdult {
			g.cars++
			g.data.Vehicles = append(g.data.Vehicles, registries.Vehicle{Plate: fmt.Sprintf("WL-%s %d", strings.ToUpper(g.prefix), g.cars), HolderID: id, Kind: "car"})
		}
	}
	g.data.Citizens = append(g.data.Citizens, p)
	return id
}

// household makes a household in municipality muni; from, if set, is
// where it comes from (its people's records then name the new address).
func (g *generator) household(r *rand.Rand, muni int, at *time.Time) *household {
	sc := g.sc
	sizes := make([]int, 0, len(sc.Households.Sizes))
	for s := range sc.Households.Sizes {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	weights := make([]float64, len(sizes))
	for i, s := range sizes {
		weights[i] = sc.Households.Sizes[s]
	}
	size := sizes[pick(r, weights)]
	g.nextHouse++
	m := sc.District.Municipalities[muni]
	h := &household{id: fmt.Sprintf("h-%s%07d", g.prefix, g.nextHouse), muni: muni,
		street: StreetName(r.IntN(m.Streets)), house: 1 + r.IntN(80)}
	ref := sc.Start()
	if at != nil {
		ref = *at
	}
	for k := range size {
		adult := k < 2 || size == 1
		id := g.person(r, muni, h.street, h.house, adult)
		mem := events.Member{CitizenID: id, Role: events.RoleAdult}
		if !adult {
			born := events.Date{Time: ref.AddDate(-1-r.IntN(17), -r.IntN(12), 0)}
			mem.Role, mem.BirthDate = events.RoleChild, &born
		}
		h.members = append(h.members, mem)
	}
	if r.Float64() < sc.Households.DogPerHousehold {
		g.dogs++
		g.data.Dogs = append(g.data.Dogs, registries.Dog{ID: fmt.Sprintf("d-%s%07d", g.prefix, g.dogs), OwnerID: h.members[0].CitizenID,
			Name: []string{"Bello", "Luna", "Balu", "Emma", "Sammy", "Paula"}[r.IntN(6)], Municipality: m.Key})
	}
	g.households[h.id] = h
	g.where[h.id] = len(g.live)
	g.live = append(g.live, h.id)
	return h
}

func (g *generator) remove(id string) {
	i := g.where[id]
	last := g.live[len(g.live)-1]
	g.live[i], g.where[last] = last, i
	g.live = g.live[:len(g.live)-1]
	delete(g.where, id)
	delete(g.households, id)
}

func (g *generator) address(h *household) events.Address {
	m := g.sc.District.Municipalities[h.muni]
	return events.Address{Municipality: m.Key, Street: h.street, HouseNumber: strconv.Itoa(h.house), PostalCode: m.PostalCode, City: m.Name}
}

// Kinds of generated event, in the order they are drawn each day.
const (
	kindWithin = iota
	kindInto
	kindOut
	kindBirth
)

// events draws each day's events: Poisson counts around the scenario's
// rates, moves weighted towards month ends.
func (g *generator) events(f *Flows) []events.Event {
	sc := g.sc
	start, days := sc.Start(), sc.Days()
	perDay := float64(f.Residents) / 1000 / 365
	weight := make([]float64, days)
	total := 0.0
	for d := range days {
		day := start.AddDate(0, 0, d)
		weight[d] = 1
		if day.AddDate(0, 0, 3).Month() != day.Month() {
			weight[d] = sc.Rates.MonthEndPeak
		}
		total += weight[d]
	}
	r := stream(sc.Seed, "events")
	resident := make([]float64, len(sc.District.Municipalities))
	all := 0
	for _, n := range g.residents {
		all += n
	}
	for i, n := range g.residents {
		resident[i] = float64(n) / float64(all)
	}
	var out []events.Event
	seq := 0
	for d := range days {
		day := start.AddDate(0, 0, d)
		moveFactor := weight[d] * float64(days) / total
		counts := [4]int{
			poisson(r, sc.Rates.MovesWithin*perDay*moveFactor),
			poisson(r, sc.Rates.MovesInto*perDay*moveFactor),
			poisson(r, sc.Rates.MovesOut*perDay*moveFactor),
			poisson(r, sc.Rates.Births*perDay),
		}
		for kind, n := range counts {
			for range n {
				at := day.Add(time.Duration(8*3600+r.IntN(9*3600)) * time.Second)
				var e *events.Event
				switch kind {
				case kindWithin:
					e = g.moveWithin(r, at, resident)
					f.MovesWithin++
				case kindInto:
					e = g.moveInto(r, at, resident)
					f.MovesInto++
				case kindOut:
					if len(g.live) > 0 {
						g.remove(g.live[r.IntN(len(g.live))])
						f.MovesOut++
					}
				case kindBirth:
					if e = g.birth(r, at); e != nil {
						f.Births++
					}
				}
				if e != nil {
					seq++
					e.ID = fmt.Sprintf("ev-%d-%07d", sc.Seed, seq)
					e.Time = at
					out = append(out, *e)
				}
			}
		}
	}
	slices.SortStableFunc(out, func(a, b events.Event) int { return cmp.Compare(a.Time.UnixNano(), b.Time.UnixNano()) })
	return out
}

func (g *generator) moveWithin(r *rand.Rand, at time.Time, resident []float64) *events.Event {
	if len(g.live) == 0 {
		return nil
	}
	h := g.households[g.live[r.IntN(len(g.live))]]
	from := g.address(h)
	h.muni = pick(r, resident)
	m := g.sc.District.Municipalities[h.muni]
	h.street, h.house = StreetName(r.IntN(m.Streets)), 1+r.IntN(80)
	return g.move(r, at, h, from)
}

func (g *generator) moveInto(r *rand.Rand, at time.Time, resident []float64) *events.Event {
	h := g.household(r, pick(r, resident), &at)
	return g.move(r, at, h, origins[r.IntN(len(origins))])
}

func (g *generator) move(r *rand.Rand, at time.Time, h *household, from events.Address) *events.Event {
	m := g.sc.District.Municipalities[h.muni]
	// A move is registered within two weeks (§ 17 BMG), mostly sooner.
	moved := at.AddDate(0, 0, -r.IntN(14))
	y, mo, d := moved.Date()
	return &events.Event{
		Source: "urn:lifeevents:registry:" + m.Key, Type: events.TypeMove,
		Move: &events.Move{CitizenID: h.members[0].CitizenID, HouseholdID: h.id,
			MovedOn: events.Date{Time: time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)},
			From:    from, To: g.address(h), Household: slices.Clone(h.members)},
	}
}

func (g *generator) birth(r *rand.Rand, at time.Time) *events.Event {
	if len(g.live) == 0 {
		return nil
	}
	h := g.households[g.live[r.IntN(len(g.live))]]
	var parents []events.Parent
	for _, mem := range h.members {
		if mem.Role == events.RoleAdult {
			parents = append(parents, events.Parent{CitizenID: mem.CitizenID})
		}
	}
	m := g.sc.District.Municipalities[h.muni]
	child := g.person(r, h.muni, h.street, h.house, false)
	y, mo, d := at.AddDate(0, 0, -r.IntN(4)).Date()
	born := events.Date{Time: time.Date(y, mo, d, 0, 0, 0, 0, time.UTC)}
	h.members = append(h.members, events.Member{CitizenID: child, Role: events.RoleChild, BirthDate: &born})
	return &events.Event{
		Source: "urn:lifeevents:registry-office:" + m.Key, Type: events.TypeBirth,
		Birth: &events.Birth{ChildID: child, BirthDate: born, BirthPlace: m.Name, Municipality: m.Key, Parents: parents},
	}
}
