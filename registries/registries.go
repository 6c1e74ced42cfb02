// Package registries looks up what the district's registers know about a
// citizen: their person record, vehicles, dogs, the resident-parking zone and
// waste district of an address. The sample district's data is built in and
// loaded in dev mode; operators bring their own with `lifeevents registry
// load`. A real register adapter implements the same lookup.
package registries

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Person is the resident register's record.
type Person struct {
	CitizenID    string   `json:"citizenId"`
	Name         string   `json:"name"`
	Municipality string   `json:"municipality"`
	Address      string   `json:"address"`
	Salary       *float64 `json:"salary,omitempty"`
}

// Vehicle from the vehicle register.
type Vehicle struct {
	Plate    string `json:"plate"`
	HolderID string `json:"holderId"`
	Kind     string `json:"kind"`
}

// Dog from the dog register.
type Dog struct {
	ID           string `json:"id"`
	OwnerID      string `json:"ownerId"`
	Name         string `json:"name"`
	Municipality string `json:"municipality"`
}

// Municipality of the district.
type Municipality struct {
	Key           string `json:"key"`
	Name          string `json:"name"`
	WasteDistrict string `json:"wasteDistrict"`
	// Unconnected names the registers (Registers) the municipality has
	// not connected: for its residents their facts are unknown (nil),
	// not empty, and the rules ask for a manual application.
	Unconnected []string `json:"unconnected,omitempty"`
}

// Registers a municipality may leave unconnected.
var Registers = []string{"vehicles", "dogs", "parkingZones", "wasteDistrict"}

// unknown blanks the facts of the registers the municipality has not
// connected; both implementations answer through it.
func (f *Facts) unknown(unconnected []string) {
	for _, r := range unconnected {
		switch r {
		case "vehicles":
			f.Vehicles = nil
		case "dogs":
			f.Dogs = nil
		case "parkingZones":
			f.ParkingZone = nil
		case "wasteDistrict":
			f.WasteDistrict = nil
		}
	}
}

// ParkingZone maps a street to its resident-parking zone.
type ParkingZone struct {
	Municipality string `json:"municipality"`
	Street       string `json:"street"`
	Zone         string `json:"zone"`
}

// Data is a registry load file.
type Data struct {
	Municipalities []Municipality `json:"municipalities"`
	Citizens       []Person       `json:"citizens"`
	Vehicles       []Vehicle      `json:"vehicles"`
	ParkingZones   []ParkingZone  `json:"parkingZones"`
	Dogs           []Dog          `json:"dogs"`
}

// Facts are what the registers know that bears on a citizen's services.
// A nil slice or pointer means the register could not say; an empty one,
// that it has nothing.
type Facts struct {
	Person        *Person   `json:"person,omitempty"`
	Vehicles      []Vehicle `json:"vehicles"`
	Dogs          []Dog     `json:"dogs"`
	ParkingZone   *string   `json:"parkingZone"`
	WasteDistrict *string   `json:"wasteDistrict,omitempty"`
}

//go:embed sample.json
var sample []byte

// Sample is the fictional district the project ships.
func Sample() (Data, error) { return Parse(bytes.NewReader(sample)) }

// Parse reads a load file, refusing unknown fields.
func Parse(r io.Reader) (Data, error) {
	var d Data
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&d); err != nil {
		return Data{}, fmt.Errorf("registries: parse: %w", err)
	}
	for _, m := range d.Municipalities {
		for _, r := range m.Unconnected {
			if !slices.Contains(Registers, r) {
				return Data{}, fmt.Errorf("registries: parse: municipality %s: unknown register %q in unconnected: one of %s",
					m.Key, r, strings.Join(Registers, ", "))
			}
		}
	}
	return d, nil
}

// PG is the registers in Postgres.
type PG struct{ db *pgxpool.Pool }

// NewPG returns the registers on db.
func NewPG(db *pgxpool.Pool) *PG { return &PG{db: db} }

// Load upserts everything in d in one transaction.
func (p *PG) Load(ctx context.Context, d Data) error {
	err := pgx.BeginFunc(ctx, p.db, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, m := range d.Municipalities {
			b.Queue(`INSERT INTO registry_municipalities (key, name, waste_district, unconnected) VALUES ($1,$2,$3,$4)
				ON CONFLICT (key) DO UPDATE SET name = EXCLUDED.name, waste_district = EXCLUDED.waste_district,
				unconnected = EXCLUDED.unconnected`, m.Key, m.Name, m.WasteDistrict, append([]string{}, m.Unconnected...))
		}
		for _, c := range d.Citizens {
			b.Queue(`INSERT INTO registry_citizens (citizen_id, name, municipality, address, salary) VALUES ($1,$2,$3,$4,$5)
				ON CONFLICT (citizen_id) DO UPDATE SET name = EXCLUDED.name, municipality = EXCLUDED.municipality,
				address = EXCLUDED.address, salary = EXCLUDED.salary`, c.CitizenID, c.Name, c.Municipality, c.Address, c.Salary)
		}
		for _, v := range d.Vehicles {
			b.Queue(`INSERT INTO registry_vehicles (plate, holder_id, kind) VALUES ($1,$2,$3)
				ON CONFLICT (plate) DO UPDATE SET holder_id = EXCLUDED.holder_id, kind = EXCLUDED.kind`, v.Plate, v.HolderID, v.Kind)
		}
		for _, z := range d.ParkingZones {
			b.Queue(`INSERT INTO registry_parking_zones (municipality, street, zone) VALUES ($1,$2,$3)
				ON CONFLICT (municipality, street) DO UPDATE SET zone = EXCLUDED.zone`, z.Municipality, z.Street, z.Zone)
		}
		for _, g := range d.Dogs {
			b.Queue(`INSERT INTO registry_dogs (id, owner_id, name, municipality) VALUES ($1,$2,$3,$4)
				ON CONFLICT (id) DO UPDATE SET owner_id = EXCLUDED.owner_id, name = EXCLUDED.name, municipality = EXCLUDED.municipality`,
				g.ID, g.OwnerID, g.Name, g.Municipality)
		}
		return tx.SendBatch(ctx, b).Close()
	})
	if err != nil {
		return fmt.Errorf("registries: load: %w", err)
	}
	return nil
}

// Dump reads every register, in one read-only transaction, in the shape
// Load takes, sorted by key: a simulation can start from the live
// registers without being able to change them.
func (p *PG) Dump(ctx context.Context) (Data, error) {
	var d Data
	err := pgx.BeginTxFunc(ctx, p.db, pgx.TxOptions{AccessMode: pgx.ReadOnly, IsoLevel: pgx.RepeatableRead}, func(tx pgx.Tx) error {
		var err error
		read := func(q string, into func(pgx.Rows) error) {
			if err != nil {
				return
			}
			var rows pgx.Rows
			if rows, err = tx.Query(ctx, q); err == nil {
				err = into(rows)
			}
		}
		read(`SELECT key, name, waste_district, unconnected FROM registry_municipalities ORDER BY key COLLATE "C"`, func(r pgx.Rows) (e error) {
			d.Municipalities, e = pgx.CollectRows(r, func(row pgx.CollectableRow) (Municipality, error) {
				var m Municipality
				err := row.Scan(&m.Key, &m.Name, &m.WasteDistrict, &m.Unconnected)
				if len(m.Unconnected) == 0 {
					m.Unconnected = nil
				}
				return m, err
			})
			return e
		})
		read(`SELECT citizen_id, name, municipality, address, salary::float8 FROM registry_citizens ORDER BY citizen_id COLLATE "C"`, func(r pgx.Rows) (e error) {
			d.Citizens, e = pgx.CollectRows(r, pgx.RowToStructByPos[Person])
			return e
		})
		read(`SELECT plate, holder_id, kind FROM registry_vehicles ORDER BY plate COLLATE "C"`, func(r pgx.Rows) (e error) {
			d.Vehicles, e = pgx.CollectRows(r, pgx.RowToStructByPos[Vehicle])
			return e
		})
		read(`SELECT municipality, street, zone FROM registry_parking_zones ORDER BY municipality COLLATE "C", street COLLATE "C"`, func(r pgx.Rows) (e error) {
			d.ParkingZones, e = pgx.CollectRows(r, pgx.RowToStructByPos[ParkingZone])
			return e
		})
		read(`SELECT id, owner_id, name, municipality FROM registry_dogs ORDER BY id COLLATE "C"`, func(r pgx.Rows) (e error) {
			d.Dogs, e = pgx.CollectRows(r, pgx.RowToStructByPos[Dog])
			return e
		})
		return err
	})
	if err != nil {
		return Data{}, fmt.Errorf("registries: read: %w", err)
	}
	return d, nil
}

// Empty reports whether no municipality is loaded yet.
func (p *PG) Empty(ctx context.Context) (bool, error) {
	var n int
	err := p.db.QueryRow(ctx, `SELECT count(*) FROM registry_municipalities`).Scan(&n)
	return n == 0, err
}

// Lookup gathers the facts about citizen living at (municipality, street).
func (p *PG) Lookup(ctx context.Context, citizenID, municipality, street string) (Facts, error) {
	f := Facts{Vehicles: []Vehicle{}, Dogs: []Dog{}}
	var person Person
	err := p.db.QueryRow(ctx, `SELECT citizen_id, name, municipality, address, salary::float8 FROM registry_citizens WHERE citizen_id = $1`,
		citizenID).Scan(&person.CitizenID, &person.Name, &person.Municipality, &person.Address, &person.Salary)
	switch {
	case err == nil:
		f.Person = &person
	case !errors.Is(err, pgx.ErrNoRows):
		return Facts{}, fmt.Errorf("registries: person: %w", err)
	}
	rows, err := p.db.Query(ctx, `SELECT plate, holder_id, kind FROM registry_vehicles WHERE holder_id = $1 ORDER BY plate COLLATE "C"`, citizenID)
	if err != nil {
		return Facts{}, fmt.Errorf("registries: vehicles: %w", err)
	}
	f.Vehicles, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Vehicle])
	if err != nil {
		return Facts{}, fmt.Errorf("registries: vehicles: %w", err)
	}
	rows, err = p.db.Query(ctx, `SELECT id, owner_id, name, municipality FROM registry_dogs WHERE owner_id = $1 ORDER BY id COLLATE "C"`, citizenID)
	if err != nil {
		return Facts{}, fmt.Errorf("registries: dogs: %w", err)
	}
	f.Dogs, err = pgx.CollectRows(rows, pgx.RowToStructByPos[Dog])
	if err != nil {
		return Facts{}, fmt.Errorf("registries: dogs: %w", err)
	}
	if municipality != "" {
		var zone string
		err = p.db.QueryRow(ctx, `SELECT zone FROM registry_parking_zones WHERE municipality = $1 AND street = $2`, municipality, street).Scan(&zone)
		if err == nil {
			f.ParkingZone = &zone
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return Facts{}, fmt.Errorf("registries: parking zone: %w", err)
		}
		var district string
		var unconnected []string
		err = p.db.QueryRow(ctx, `SELECT waste_district, unconnected FROM registry_municipalities WHERE key = $1`,
			municipality).Scan(&district, &unconnected)
		if err == nil {
			f.WasteDistrict = &district
			f.unknown(unconnected)
		} else if !errors.Is(err, pgx.ErrNoRows) {
			return Facts{}, fmt.Errorf("registries: waste district: %w", err)
		}
	}
	return f, nil
}
