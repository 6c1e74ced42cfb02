package simulations

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/registries"
)

// Job is one `lifeevents simulate` command: what to read, where to write.
type Job struct {
	Scenario string
	// ScenarioB and PoliciesB make compare's variant B; Policies overrides
	// the scenario's policy folder.
	ScenarioB string
	Policies  string
	PoliciesB string
	Out       string
	Force     bool
	live      *registries.Data
	// Seed, if set, replaces the scenario's.
	Seed    *uint64
	Workers int
	// Progress hears how far a run is; nil is silent.
	Progress *Progress
	// Engine is whatif (the default) or full; full runs through the
	// system Stack starts, at TimeScale.
	Engine    string
	TimeScale float64
	Stack     Stack
	// Registers, if set, reads the registers the population is taken
	// from (--registers postgres) instead of generating a district.
	Registers func(ctx context.Context) (registries.Data, error)
}

// population generates the scenario's people and events, over the
// registers Registers reads if set (read once per job).
func (j *Job) population(ctx context.Context, sc *Scenario) (Population, error) {
	if j.Registers == nil {
		return Generate(sc), nil
	}
	if j.live == nil {
		d, err := j.Registers(ctx)
		if err != nil {
			return Population{}, err
		}
		j.live = &d
	}
	return GenerateFrom(sc, *j.live)
}

// Stack starts the system a full run drives, loaded with the population's
// registers and set up as the scenario says (policies, offers mode,
// agency timeout), at the time scale; stop ends it and removes its state.
type Stack func(ctx context.Context, sc *Scenario, pop *Population, policyDir string, timeScale float64) (sys System, stop func(), err error)

// load reads a scenario and the policies it runs on: every input is
// checked before anything runs or is written.
func (j *Job) load(ctx context.Context, path, policyDir string) (*Scenario, *policies.Engine, error) {
	sc, err := LoadScenario(path)
	if err != nil {
		return nil, nil, err
	}
	if j.Seed != nil {
		sc.Seed = *j.Seed
	}
	if policyDir == "" {
		policyDir = sc.PolicyDir()
	}
	engine, err := LoadPolicies(ctx, policyDir)
	if err != nil {
		return nil, nil, err
	}
	if err := sc.CheckCatalog(engine.Catalog()); err != nil {
		return nil, nil, err
	}
	return sc, engine, nil
}

// LoadPolicies compiles, tests and checks a policy folder ("" for the
// bundle built in) as an upload is checked; a refusal is one line.
func LoadPolicies(ctx context.Context, dir string) (*policies.Engine, error) {
	var b *policies.Bundle
	var err error
	if dir == "" {
		b, err = policies.DefaultBundle()
	} else {
		b, err = policies.DirBundle(dir)
	}
	if err == nil {
		var e *policies.Engine
		if e, err = policies.NewEngine(ctx, b); err == nil {
			e.NoInputHash = true // no audit record in a simulation
			return e, nil
		}
	}
	name := dir
	if name == "" {
		name = "built-in policies"
	}
	return nil, fmt.Errorf("policies %s: %s", name, firstLine(err.Error()))
}

// firstLine keeps a compiler's first complaint: the one to fix first.
func firstLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasSuffix(l, ":") {
			return l
		}
	}
	return strings.TrimSpace(s)
}

func (j *Job) run(ctx context.Context, sc *Scenario, pop *Population, p Policies, label string) (*Result, error) {
	opt := Options{Workers: j.Workers}
	if j.Progress != nil {
		opt.Progress = j.Progress.Stage(label)
	}
	res, err := Run(ctx, sc, pop, p, opt)
	if j.Progress != nil {
		j.Progress.Done()
	}
	return res, err
}

// Run simulates the scenario and writes its report.
func (j *Job) Run(ctx context.Context) (Summary, error) {
	if err := CheckOut(j.Out, j.Force); err != nil {
		return Summary{}, err
	}
	sc, engine, err := j.load(ctx, j.Scenario, j.Policies)
	if err != nil {
		return Summary{}, err
	}
	pop, err := j.population(ctx, sc)
	if err != nil {
		return Summary{}, err
	}
	var res *Result
	switch j.Engine {
	case "", EngineWhatIf:
		res, err = j.run(ctx, sc, &pop, engine, "simulating")
	case EngineFull:
		res, err = j.runFull(ctx, sc, &pop, engine)
	default:
		err = fmt.Errorf("--engine %q: whatif or full", j.Engine)
	}
	if err != nil {
		return Summary{}, err
	}
	if err := WriteRun(j.Out, res); err != nil {
		return Summary{}, err
	}
	return res.Summarize(), nil
}

// runFull starts the system and drives it through the scenario.
func (j *Job) runFull(ctx context.Context, sc *Scenario, pop *Population, p *policies.Engine) (*Result, error) {
	if j.Stack == nil {
		return nil, errors.New("the full engine needs a system to run on")
	}
	policyDir := j.Policies
	if policyDir == "" {
		policyDir = sc.PolicyDir()
	}
	if j.Progress != nil {
		j.Progress.Stage("starting")
	}
	sys, stop, err := j.Stack(ctx, sc, pop, policyDir, j.TimeScale)
	if err != nil {
		return nil, err
	}
	defer stop()
	opt := Options{Workers: j.Workers}
	if j.Progress != nil {
		opt.Progress = j.Progress.Stage("publishing")
		opt.Finishing = func(done, total int) {
			if opt.Progress != nil { // the first call ends the publishing bar
				j.Progress.Done()
				opt.Progress = nil
				j.Progress.Stage("finishing")
			}
			j.Progress.update(done, total)
		}
		defer j.Progress.Done()
	}
	return RunFull(ctx, sc, pop, p, sys, opt)
}

// Compare runs variant A (the scenario on its policies) and variant B
// (another scenario or other policies) on the same people and events.
func (j *Job) Compare(ctx context.Context) (Comparison, error) {
	if j.ScenarioB == "" && j.PoliciesB == "" {
		return Comparison{}, errors.New("compare needs --policies-b DIR or --scenario-b FILE: what should B change")
	}
	if err := CheckOut(j.Out, j.Force); err != nil {
		return Comparison{}, err
	}
	scA, engA, err := j.load(ctx, j.Scenario, j.Policies)
	if err != nil {
		return Comparison{}, err
	}
	pathB := j.ScenarioB
	if pathB == "" {
		pathB = j.Scenario
	}
	policiesB := j.PoliciesB
	if policiesB == "" {
		policiesB = j.Policies
	}
	scB, engB, err := j.load(ctx, pathB, policiesB)
	if err != nil {
		return Comparison{}, err
	}
	scB.Seed = scA.Seed // the same draws on both sides, whatever B's file says
	popA, err := j.population(ctx, scA)
	if err != nil {
		return Comparison{}, err
	}
	popB, err := j.population(ctx, scB)
	if err != nil {
		return Comparison{}, err
	}
	if len(popA.Events) != len(popB.Events) || len(popA.Registers.Citizens) != len(popB.Registers.Citizens) {
		return Comparison{}, fmt.Errorf("%s: B changes the population (district, households or rates): compare needs the same people; change zones, behaviour, agencies, offers or policies", scB.File())
	}
	a, err := j.run(ctx, scA, &popA, engA, "variant A")
	if err != nil {
		return Comparison{}, err
	}
	b, err := j.run(ctx, scB, &popB, engB, "variant B")
	if err != nil {
		return Comparison{}, err
	}
	if err := WriteComparison(j.Out, a, b); err != nil {
		return Comparison{}, err
	}
	return Compare(a, b), nil
}

// Generate writes the scenario's registers (registers.json, the shape
// `lifeevents registry load` reads) and its events (events.jsonl, one
// CloudEvent a line, in time order).
func (j *Job) Generate(ctx context.Context) (PopulationInfo, error) {
	if err := CheckOut(j.Out, j.Force); err != nil {
		return PopulationInfo{}, err
	}
	sc, err := LoadScenario(j.Scenario)
	if err != nil {
		return PopulationInfo{}, err
	}
	if j.Seed != nil {
		sc.Seed = *j.Seed
	}
	pop, err := j.population(ctx, sc)
	if err != nil {
		return PopulationInfo{}, err
	}
	if err := os.MkdirAll(j.Out, 0o755); err != nil {
		return PopulationInfo{}, fmt.Errorf("--out %s: %w", j.Out, err)
	}
	regs, err := json.MarshalIndent(pop.Registers, "", " ")
	if err != nil {
		return PopulationInfo{}, err
	}
	if err := os.WriteFile(filepath.Join(j.Out, "registers.json"), append(regs, '\n'), 0o644); err != nil {
		return PopulationInfo{}, fmt.Errorf("--out %s: %w", j.Out, err)
	}
	f, err := os.Create(filepath.Join(j.Out, "events.jsonl"))
	if err != nil {
		return PopulationInfo{}, fmt.Errorf("--out %s: %w", j.Out, err)
	}
	defer f.Close()
	if err := WriteEvents(f, pop.Events); err != nil {
		return PopulationInfo{}, fmt.Errorf("--out %s: %w", j.Out, err)
	}
	return PopulationInfo{Flows: pop.Flows, Citizens: len(pop.Registers.Citizens), Events: len(pop.Events)}, f.Close()
}

// WriteEvents writes events as CloudEvents, one JSON document a line.
func WriteEvents(w io.Writer, evs []events.Event) error {
	bw := bufio.NewWriter(w)
	for _, e := range evs {
		b, err := events.Encode(e)
		if err != nil {
			return err
		}
		bw.Write(b)
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

// Progress shows how far a run is: a bar on a terminal, a log line every
// tenth otherwise.
type Progress struct {
	W        io.Writer
	Terminal bool
	Log      *slog.Logger

	mu      sync.Mutex
	label   string
	started time.Time
	logged  int
	shown   bool
}

// Stage starts a new bar and returns its update function.
func (p *Progress) Stage(label string) func(done, total int) {
	p.mu.Lock()
	p.label, p.started, p.logged, p.shown = label, time.Now(), 0, false
	p.mu.Unlock()
	return p.update
}

func (p *Progress) update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total == 0 {
		return
	}
	frac := float64(done) / float64(total)
	if p.Terminal && p.W != nil {
		const width = 30
		n := int(frac * width)
		eta := ""
		if done > 0 && done < total {
			left := time.Duration(float64(time.Since(p.started)) * (1 - frac) / frac)
			eta = " ETA " + left.Round(time.Second).String()
		}
		fmt.Fprintf(p.W, "\r%-11s [%s%s] %3.0f%% %d/%d events%s   ", p.label, strings.Repeat("#", n), strings.Repeat(" ", width-n), 100*frac, done, total, eta)
		p.shown = true
		return
	}
	if p.Log != nil && (int(frac*10) > p.logged || done == total) {
		p.logged = int(frac * 10)
		p.Log.Info("simulation progress", "stage", p.label, "events", done, "of", total, "elapsed", time.Since(p.started).Round(time.Millisecond))
	}
}

// Done ends the bar's line.
func (p *Progress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.Terminal && p.W != nil && p.shown {
		fmt.Fprintln(p.W)
	}
}
