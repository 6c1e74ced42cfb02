package candidates_test

import (
	"context"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/lifeevents/lifeevents/candidates"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/registries"
)

type offers map[string]bool

func (o offers) OffersAllowed(_ context.Context, citizen string, _ bool) (bool, error) {
	allowed, ok := o[citizen]
	return allowed || !ok, nil
}

func resolver(t *testing.T, change func(*registries.Data)) candidates.Resolver {
	t.Helper()
	b, err := policies.DefaultBundle()
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	d, err := registries.Sample()
	if err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(&d)
	}
	reg := registries.NewMemory()
	if err := reg.Load(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	return candidates.Resolver{Policies: engine, Registry: reg}
}

func event(t *testing.T, name string) events.Event {
	t.Helper()
	raw, err := os.ReadFile("../examples/" + name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := events.Decode(raw, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func services(cs []candidates.Candidate) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.CitizenID+":"+c.Service)
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

// TestMoveAndBirth: the sample journeys' candidates, each pre-filled from
// the event, the registers and the policy's values.
func TestMoveAndBirth(t *testing.T) {
	ctx := context.Background()
	r := resolver(t, nil)
	res, err := r.Resolve(ctx, event(t, "move.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := services(res.Candidates); got != "c-1001:dog_tax c-1001:parking_permit c-1001:vehicle_address c-1001:waste_bins" {
		t.Fatalf("move: %s (notices %+v)", got, res.Notices)
	}
	if len(res.Movers) != 2 {
		t.Fatalf("movers %v", res.Movers)
	}
	for _, c := range res.Candidates {
		if len(c.Fields) == 0 || c.Municipality != "03353022" || c.DecideIn <= 0 {
			t.Fatalf("%s: %+v", c.Service, c)
		}
		for _, f := range c.Fields {
			if f.Name == "salary" {
				t.Fatalf("%s carries optional data", c.Service)
			}
		}
	}
	res, err = r.Resolve(ctx, event(t, "birth.json"))
	if err != nil {
		t.Fatal(err)
	}
	if got := services(res.Candidates); strings.Count(got, "c-1001:") != 3 || strings.Count(got, "c-1003:") != 3 {
		t.Fatalf("birth: %s", got)
	}
}

// TestNoticesNotSilence: a citizen who objected gets a notice that offers
// exist; a service the registers cannot decide becomes a notice with what
// is missing; time compression scales the deadlines.
func TestNoticesNotSilence(t *testing.T) {
	ctx := context.Background()
	r := resolver(t, func(d *registries.Data) {
		d.Municipalities = nil // no waste district anywhere
	})
	r.Offers = offers{"c-1001": false}
	res, err := r.Resolve(ctx, event(t, "move.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Candidates) != 0 || len(res.Notices) != 1 || !res.Notices[0].OffersNotAllowed {
		t.Fatalf("objected: %+v", res)
	}
	r.Offers = nil
	r.Scale = func(d time.Duration) time.Duration { return d / 1000 }
	res, err = r.Resolve(ctx, event(t, "move.json"))
	if err != nil {
		t.Fatal(err)
	}
	var missing []string
	for _, n := range res.Notices {
		missing = append(missing, n.Service+":"+strings.Join(n.Missing, ","))
	}
	if strings.Join(missing, " ") != "waste_bins:waste_district" {
		t.Fatalf("notices %v", missing)
	}
	for _, c := range res.Candidates {
		if c.DecideIn > 24*time.Hour {
			t.Fatalf("%s: deadline %s not scaled", c.Service, c.DecideIn)
		}
	}
}
