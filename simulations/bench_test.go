package simulations_test

import (
	"context"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"

	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/simulations"
)

// recorder notes every decision the simulator asks for, so the raw
// engine can be given exactly the same inputs.
type recorder struct {
	*policies.Engine
	mu     sync.Mutex
	inputs []decision
}

type decision struct {
	query string
	input map[string]any
}

func (r *recorder) Eligibility(ctx context.Context, service string, input map[string]any) (policies.Decision, error) {
	r.mu.Lock()
	r.inputs = append(r.inputs, decision{"data." + r.Catalog()[service].Policy + ".decision", input})
	r.mu.Unlock()
	return r.Engine.Eligibility(ctx, service, input)
}

func (r *recorder) Sharing(ctx context.Context, in policies.SharingInput) (policies.Decision, error) {
	fields := make([]any, len(in.Fields))
	for i, f := range in.Fields {
		fields[i] = f
	}
	r.mu.Lock()
	r.inputs = append(r.inputs, decision{policies.SharingQuery, map[string]any{"service": in.Service, "municipality": in.Municipality,
		"recipient": in.Recipient, "basis": in.Basis, "fields": fields, "optionalConsent": in.OptionalConsent}})
	r.mu.Unlock()
	return r.Engine.Sharing(ctx, in)
}

// BenchmarkWhatIfSampleDistrict: the sample district's year (generation,
// resolution, lifecycles, queues, summary) next to raw prepared OPA
// evaluations of every decision it asked for, on all cores, in the same
// run.
func BenchmarkWhatIfSampleDistrict(b *testing.B) {
	ctx := context.Background()
	sc := load(b, "scenarios/sample-district.yaml")
	e := engine(b)
	var simTime, rawTime time.Duration
	var decisions int
	var peak uint64
	for range b.N {
		runtime.GC()
		start := time.Now()
		stop := make(chan struct{})
		var sampled sync.WaitGroup
		sampled.Add(1)
		go func() { // peak heap, sampled
			defer sampled.Done()
			var ms runtime.MemStats
			for {
				runtime.ReadMemStats(&ms)
				peak = max(peak, ms.HeapInuse+ms.StackInuse)
				select {
				case <-stop:
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		}()
		pop := simulations.Generate(sc)
		res, err := simulations.Run(ctx, sc, &pop, e, simulations.Options{})
		if err != nil {
			b.Fatal(err)
		}
		_ = res.Summarize()
		simTime += time.Since(start)
		close(stop)
		sampled.Wait()

		// Again, untimed, to note the decisions it asks for.
		pop = simulations.Generate(sc)
		rec := &recorder{Engine: e}
		if _, err := simulations.Run(ctx, sc, &pop, rec, simulations.Options{}); err != nil {
			b.Fatal(err)
		}
		decisions += len(rec.inputs)

		bundle, err := policies.DefaultBundle()
		if err != nil {
			b.Fatal(err)
		}
		prepared := map[string]rego.PreparedEvalQuery{}
		for _, d := range rec.inputs {
			if _, ok := prepared[d.query]; !ok {
				pq, err := rego.New(rego.Query(d.query), rego.ParsedBundle("b", bundle)).PrepareForEval(ctx)
				if err != nil {
					b.Fatal(err)
				}
				prepared[d.query] = pq
			}
		}
		start = time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range runtime.GOMAXPROCS(0) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := int(next.Add(1) - 1)
					if i >= len(rec.inputs) {
						return
					}
					d := rec.inputs[i]
					if _, err := prepared[d.query].Eval(ctx, rego.EvalInput(d.input)); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		rawTime += time.Since(start)
	}
	n := float64(b.N)
	b.ReportMetric(simTime.Seconds()/n, "s/year")
	b.ReportMetric(float64(len(simulations.Generate(sc).Events)), "events")
	b.ReportMetric(float64(decisions)/n, "decisions")
	b.ReportMetric(float64(decisions)/simTime.Seconds(), "decisions/s")
	b.ReportMetric(float64(decisions)/rawTime.Seconds(), "raw-decisions/s")
	b.ReportMetric(rawTime.Seconds()/simTime.Seconds(), "ratio")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
}
