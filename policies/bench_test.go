package policies_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"

	"github.com/lifeevents/lifeevents/policies"
)

// largeRegisters adds 10k parking zones and 100k vehicles to the bundle's
// data, keyed (objects, never arrays to scan), to show that decisions do
// not slow down with the size of what is loaded.
func largeRegisters(b *policies.Bundle) {
	zones := map[string]any{}
	for i := range 10_000 {
		zones[fmt.Sprintf("03353%03d/Straße %d", i%1000, i)] = map[string]any{"zone": fmt.Sprintf("Z-%d", i)}
	}
	vehicles := map[string]any{}
	for i := range 100_000 {
		vehicles[fmt.Sprintf("WL-X %d", i)] = map[string]any{"holder": fmt.Sprintf("c-%d", i), "kind": "car"}
	}
	b.Data["registries"] = map[string]any{"zones": zones, "vehicles": vehicles}
}

func benchInputs() map[string]map[string]any {
	move := moveInput()
	move["registry"] = map[string]any{
		"wasteDistrict": "Nord", "parkingZone": "WL-A Altstadt",
		"vehicles": []any{map[string]any{"plate": "WL-EM 1001", "kind": "car"}},
		"dogs":     []any{map[string]any{"name": "Bello", "municipality": "03353005"}},
	}
	birth := map[string]any{
		"event": map[string]any{"type": "lifeevents.birth.registered.v1", "data": map[string]any{
			"childId": "c-2001", "birthDate": "2026-10-30", "parents": []any{map[string]any{"citizenId": "c-1001"}}}},
		"subject": map[string]any{"citizenId": "c-1001", "role": "parent"},
	}
	return map[string]map[string]any{
		"parking_permit": move, "waste_bins": move, "vehicle_address": move, "dog_tax": move,
		"birth_certificate": birth, "child_benefit": birth, "parental_allowance": birth,
	}
}

func reportPercentiles(b *testing.B, d []time.Duration) {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(d[len(d)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkDecision compares, per service, the engine's decision (input
// hashing for the audit record included) with a raw prepared OPA eval of
// the same query on the same compiler and data.
func BenchmarkDecision(b *testing.B) {
	ctx := context.Background()
	bundle, err := policies.DefaultBundle()
	if err != nil {
		b.Fatal(err)
	}
	largeRegisters(bundle)
	e, err := policies.NewEngine(ctx, bundle)
	if err != nil {
		b.Fatal(err)
	}
	modules := map[string]*ast.Module{}
	for _, m := range bundle.Modules {
		modules[m.Path] = m.Parsed
	}
	compiler := ast.NewCompiler()
	if compiler.Compile(modules); compiler.Failed() {
		b.Fatal(compiler.Errors)
	}
	store := inmem.NewFromObjectWithOpts(bundle.Data, inmem.OptRoundTripOnWrite(false))
	inputs := benchInputs()
	for _, svc := range e.Catalog().Sorted() {
		input := inputs[svc.ID]
		b.Run(svc.ID+"/engine", func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			for range b.N {
				t0 := time.Now()
				d, err := e.Eligibility(ctx, svc.ID, input)
				lat = append(lat, time.Since(t0))
				if err != nil || !d.Allow {
					b.Fatalf("%+v %v", d, err)
				}
			}
			reportPercentiles(b, lat)
		})
		b.Run(svc.ID+"/raw", func(b *testing.B) {
			pq, err := rego.New(rego.Query("data."+svc.Policy+".decision"), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
			if err != nil {
				b.Fatal(err)
			}
			lat := make([]time.Duration, 0, b.N)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				t0 := time.Now()
				rs, err := pq.Eval(ctx, rego.EvalInput(input))
				lat = append(lat, time.Since(t0))
				if err != nil || len(rs) == 0 {
					b.Fatal(err)
				}
			}
			reportPercentiles(b, lat)
		})
	}
}
