package policies

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/bundle"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"

	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/texts"
)

// Bundle is a policy bundle: Rego modules and data, the catalog among them.
type Bundle = bundle.Bundle

//go:embed lib services sharing
var defaultFS embed.FS

// SharingQuery is the decision every data transfer asks for.
const SharingQuery = "data.lifeevents.sharing.decision"

// DefaultBundle is the bundle built into the binary.
func DefaultBundle() (*bundle.Bundle, error) {
	l, err := bundle.NewFSLoader(defaultFS)
	if err != nil {
		return nil, fmt.Errorf("policies: default bundle: %w", err)
	}
	return read(l)
}

// DirBundle reads a bundle from a directory as policy teams keep it.
func DirBundle(dir string) (*bundle.Bundle, error) {
	return read(bundle.NewDirectoryLoader(dir).WithFilter(onlyPolicyFiles))
}

// FSBundle reads a bundle from a file system (tests, fixtures).
func FSBundle(fsys fs.FS) (*bundle.Bundle, error) {
	l, err := bundle.NewFSLoader(fsys)
	if err != nil {
		return nil, fmt.Errorf("policies: %w", err)
	}
	return read(l)
}

// TarballBundle reads a gzipped bundle as `opa build` writes it, under
// the default upload limits.
func TarballBundle(r io.Reader) (*bundle.Bundle, error) {
	l := DefaultLimits()
	raw, err := io.ReadAll(io.LimitReader(r, l.Compressed+1))
	if err != nil {
		return nil, fmt.Errorf("policies: read bundle: %w", err)
	}
	return ReadUpload(raw, l)
}

// onlyPolicyFiles keeps Rego, data files and the manifest; a policies
// folder in a Go repository also holds Go files.
func onlyPolicyFiles(abspath string, info fs.FileInfo, _ int) bool {
	if info.IsDir() {
		return false
	}
	name := info.Name()
	keep := strings.HasSuffix(name, ".rego") || name == "data.json" || name == "data.yaml" || name == ".manifest"
	return !keep
}

func read(l bundle.DirectoryLoader) (*bundle.Bundle, error) {
	b, err := bundle.NewCustomReader(l).WithRegoVersion(ast.RegoV1).Read()
	if err != nil {
		return nil, fmt.Errorf("policies: read bundle: %w", err)
	}
	return &b, nil
}

// Decision is the answer of one policy query.
type Decision struct {
	Allow   bool           `json:"allow"`
	Reasons []string       `json:"reasons"`
	Fields  []string       `json:"fields"`
	Values  map[string]any `json:"values,omitempty"`
	// Revision of the bundle that decided, and a hash of the input, for the
	// audit record.
	Revision  string `json:"revision"`
	InputHash string `json:"inputHash"`
}

// TestReport summarises a run of the bundle's Rego tests.
type TestReport struct {
	Passed   int      `json:"passed"`
	Failed   int      `json:"failed"`
	Failures []string `json:"failures,omitempty"`
	// passedIn counts the passing tests per package, for the guarantees.
	passedIn map[string]int
}

// Deadlines: a policy decides in microseconds and a bundle's tests run in
// well under a second; a bundle that takes longer is hostile or broken,
// and must not hold a journey or the API.
const (
	EvalTimeout    = time.Second
	TestTimeout    = 5 * time.Second
	TestRunTimeout = 60 * time.Second
	// CheckTimeout bounds all checks of one bundle together.
	CheckTimeout = 80 * time.Second
	// MaxServices bounds a catalog: the guarantees probe every service.
	MaxServices = 200
)

// revisionPattern is what a revision may look like: it names the revision
// in URLs, logs and the audit record.
var revisionPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$`)

// ErrRejected wraps every reason a bundle is refused: it does not compile,
// calls a forbidden builtin, a test fails or none runs, the catalog is
// invalid, or it breaks a platform guarantee.
var ErrRejected = errors.New("bundle rejected")

// compiled is one loaded revision, shared read-only by all evaluations.
type compiled struct {
	revision    string
	catalog     Catalog
	eligibility map[string]rego.PreparedEvalQuery
	sharing     rego.PreparedEvalQuery
	// shared remembers sharing decisions: their input names no person,
	// so a district asks the same few hundred questions again and again,
	// and a policy is a pure function of its input (the capabilities
	// forbid time, randomness and the network).
	shared     sync.Map // sharingKey → Decision
	sharedSize atomic.Int64
}

// maxShared bounds the remembered sharing decisions of one revision.
const maxShared = 4096

// Check compiles the bundle, runs its Rego tests and validates its catalog,
// and returns the prepared revision. Nothing is served from it yet.
func Check(ctx context.Context, b *bundle.Bundle) (*compiled, TestReport, error) {
	parent := ctx
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	c, report, err := check(ctx, b)
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
		return nil, report, fmt.Errorf("%w: the checks did not finish within %s", ErrRejected, CheckTimeout)
	}
	return c, report, err
}

func check(ctx context.Context, b *bundle.Bundle) (*compiled, TestReport, error) {
	if rev := revisionOf(b); !revisionPattern.MatchString(rev) {
		return nil, TestReport{}, fmt.Errorf("%w: the manifest's revision must be 1 to 128 letters, digits or . _ : + -", ErrRejected)
	}
	modules := map[string]*ast.Module{}
	for _, m := range b.Modules {
		modules[m.Path] = m.Parsed
	}
	if be := findForbidden(modules); be != nil {
		return nil, TestReport{}, fmt.Errorf("%w: %w", ErrRejected, be)
	}
	compiler := ast.NewCompiler().WithStrict(true).WithCapabilities(Capabilities())
	if compiler.Compile(modules); compiler.Failed() {
		return nil, TestReport{}, fmt.Errorf("%w: %v", ErrRejected, compiler.Errors)
	}
	report, err := RunTests(ctx, b)
	if err != nil {
		return nil, report, err
	}
	catalog, err := ParseCatalog(b.Data)
	if err != nil {
		return nil, report, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if len(catalog) > MaxServices {
		return nil, report, fmt.Errorf("%w: the catalog holds %d services, at most %d", ErrRejected, len(catalog), MaxServices)
	}
	store := inmem.NewFromObjectWithOpts(b.Data, inmem.OptRoundTripOnWrite(false))
	c := &compiled{revision: revisionOf(b), catalog: catalog, eligibility: map[string]rego.PreparedEvalQuery{}}
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		return rego.New(rego.Query(query), rego.Compiler(compiler), rego.Store(store)).PrepareForEval(ctx)
	}
	var errs []error
	for id, s := range catalog {
		pkg := ast.MustParseRef("data." + s.Policy)
		if len(compiler.GetRulesForVirtualDocument(pkg.Append(ast.StringTerm("decision")))) == 0 {
			errs = append(errs, fmt.Errorf("service %s: policy %s defines no decision", id, s.Policy))
			continue
		}
		pq, err := prepare("data." + s.Policy + ".decision")
		if err != nil {
			errs = append(errs, fmt.Errorf("service %s: %v", id, err))
			continue
		}
		c.eligibility[id] = pq
	}
	if c.sharing, err = prepare(SharingQuery); err != nil {
		errs = append(errs, fmt.Errorf("sharing policy: %v", err))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, report, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	if err := checkGuarantees(ctx, c, report); err != nil {
		return nil, report, err
	}
	return c, report, nil
}

// RunTests runs the bundle's Rego tests with its data, with the same
// builtins as the engine and under deadlines. No test at all is a failure
// too: an untested bundle is not accepted.
func RunTests(ctx context.Context, b *bundle.Bundle) (TestReport, error) {
	modules := map[string]*ast.Module{}
	for _, m := range b.Modules {
		modules[m.Path] = m.Parsed
	}
	if be := findForbidden(modules); be != nil {
		return TestReport{}, fmt.Errorf("%w: %w", ErrRejected, be)
	}
	ctx, cancel := context.WithTimeout(ctx, TestRunTimeout)
	defer cancel()
	ch, err := tester.NewRunner().
		SetCompiler(ast.NewCompiler().WithCapabilities(Capabilities())).
		SetTimeout(TestTimeout).
		SetStore(inmem.NewFromObjectWithOpts(b.Data, inmem.OptRoundTripOnWrite(false))).
		Run(ctx, modules)
	if err != nil {
		return TestReport{}, fmt.Errorf("%w: %v", ErrRejected, err)
	}
	r := TestReport{passedIn: map[string]int{}}
	for res := range ch {
		if res.Fail || res.Error != nil {
			r.Failed++
			msg := res.Package + "." + res.Name
			if res.Error != nil {
				msg += ": " + res.Error.Error()
			}
			r.Failures = append(r.Failures, msg)
		} else if !res.Skip {
			r.Passed++
			r.passedIn[res.Package]++
		}
	}
	sort.Strings(r.Failures)
	switch {
	case ctx.Err() != nil:
		return r, fmt.Errorf("%w: the Rego tests did not finish within %s", ErrRejected, TestRunTimeout)
	case r.Failed > 0:
		return r, fmt.Errorf("%w: %d of %d Rego tests failed: %s", ErrRejected, r.Failed, r.Failed+r.Passed, strings.Join(r.Failures, "; "))
	case r.Passed == 0:
		return r, fmt.Errorf("%w: the bundle has no Rego tests", ErrRejected)
	}
	return r, nil
}

// revisionOf is the manifest's revision, or else a hash of the content.
func revisionOf(b *bundle.Bundle) string {
	if b.Manifest.Revision != "" {
		return b.Manifest.Revision
	}
	h := sha256.New()
	paths := make([]string, 0, len(b.Modules))
	byPath := map[string][]byte{}
	for _, m := range b.Modules {
		paths = append(paths, m.Path)
		byPath[m.Path] = m.Raw
	}
	sort.Strings(paths)
	for _, p := range paths {
		h.Write([]byte(p))
		h.Write(byPath[p])
	}
	data, _ := json.Marshal(b.Data)
	h.Write(data)
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// Engine serves decisions from the active revision and swaps revisions
// atomically: an evaluation sees one whole revision, never a mix.
type Engine struct {
	cur atomic.Pointer[compiled]
	// NoInputHash leaves Decision.InputHash empty, saving the input's
	// encoding and hash on every decision: for simulations, which keep no
	// audit record. Set it before the first decision.
	NoInputHash bool
}

// NewEngine loads b as the first revision.
func NewEngine(ctx context.Context, b *bundle.Bundle) (*Engine, error) {
	e := &Engine{}
	if _, err := e.Load(ctx, b); err != nil {
		return nil, err
	}
	return e, nil
}

// Load checks b and, only if it passes, makes it the active revision.
// On any failure the running revision keeps serving.
func (e *Engine) Load(ctx context.Context, b *bundle.Bundle) (TestReport, error) {
	c, report, err := Check(ctx, b)
	if err != nil {
		return report, err
	}
	e.cur.Store(c)
	return report, nil
}

// Check runs every check on b, as Load does, without serving it: for an
// upload that goes live only after approval. It returns b's revision.
func (e *Engine) Check(ctx context.Context, b *bundle.Bundle) (string, TestReport, error) {
	c, report, err := Check(ctx, b)
	if err != nil {
		return "", report, err
	}
	return c.revision, report, nil
}

// Revision of the active bundle.
func (e *Engine) Revision() string { return e.cur.Load().revision }

// Catalog of the active bundle.
func (e *Engine) Catalog() Catalog { return e.cur.Load().catalog }

// ErrTimeout is returned for an evaluation that did not finish in time.
var ErrTimeout = errors.New("policy evaluation timed out")

// ErrUnknownService is returned for a service the active catalog lacks.
var ErrUnknownService = errors.New("unknown service")

// Eligibility decides whether the service applies to the subject described
// by input (see the policies' README for its shape).
func (e *Engine) Eligibility(ctx context.Context, service string, input map[string]any) (Decision, error) {
	c := e.cur.Load()
	pq, ok := c.eligibility[service]
	if !ok {
		return Decision{}, fmt.Errorf("policies: %w: %s", ErrUnknownService, service)
	}
	d, err := eval(ctx, c, pq, input, e.NoInputHash)
	if err == nil && d.Allow && d.Fields == nil {
		d.Fields = c.catalog[service].FieldNames(false)
	}
	return d, err
}

// SharingInput asks whether fields may go to a recipient.
type SharingInput struct {
	Service         string              `json:"service"`
	Municipality    string              `json:"municipality"`
	Recipient       string              `json:"recipient"`
	Basis           proposals.BasisKind `json:"basis"`
	Fields          []string            `json:"fields"`
	OptionalConsent bool                `json:"optionalConsent"`
}

// Sharing decides a data transfer.
//
// Whatever the policy says, a transfer the catalog does not declare is
// refused here too: fields it does not list, another recipient or basis,
// optional fields without their consent. The platform guarantees probe
// policies for this at upload; this holds where a policy dodged a probe.
func (e *Engine) Sharing(ctx context.Context, in SharingInput) (Decision, error) {
	c := e.cur.Load()
	key := sharingKey(in)
	if d, ok := c.shared.Load(key); ok {
		return d.(Decision).clone(), nil
	}
	d, err := c.sharingDecision(ctx, in, e.NoInputHash)
	if err != nil {
		return d, err
	}
	c.catalog.enforce(in, &d)
	if c.sharedSize.Add(1) <= maxShared {
		c.shared.Store(key, d.clone())
	}
	return d, nil
}

func sharingKey(in SharingInput) string {
	var b strings.Builder
	for _, s := range []string{in.Service, in.Municipality, in.Recipient, string(in.Basis), strconv.FormatBool(in.OptionalConsent)} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, f := range in.Fields {
		b.WriteString(f)
		b.WriteByte(0)
	}
	return b.String()
}

// clone copies what a caller may change.
func (d Decision) clone() Decision {
	d.Reasons = slices.Clone(d.Reasons)
	d.Fields = slices.Clone(d.Fields)
	d.Values = maps.Clone(d.Values)
	return d
}

func (c *compiled) sharingDecision(ctx context.Context, in SharingInput, noHash bool) (Decision, error) {
	fields := make([]any, len(in.Fields))
	for i, f := range in.Fields {
		fields[i] = f
	}
	return eval(ctx, c, c.sharing, map[string]any{
		"service": in.Service, "municipality": in.Municipality, "recipient": in.Recipient,
		"basis": in.Basis, "fields": fields, "optionalConsent": in.OptionalConsent,
	}, noHash)
}

// Eval runs an arbitrary decision query of the active revision (dry runs).
func (e *Engine) Eval(ctx context.Context, query string, input map[string]any) (Decision, error) {
	c := e.cur.Load()
	if query == SharingQuery {
		d, err := eval(ctx, c, c.sharing, input, false)
		if err != nil {
			return d, err
		}
		// The dry run answers as a transfer would be answered.
		in := SharingInput{OptionalConsent: input["optionalConsent"] == true}
		in.Service, _ = input["service"].(string)
		in.Municipality, _ = input["municipality"].(string)
		in.Recipient, _ = input["recipient"].(string)
		basis, _ := input["basis"].(string)
		in.Basis = proposals.BasisKind(basis)
		fields, _ := input["fields"].([]any)
		for _, f := range fields {
			if name, ok := f.(string); ok {
				in.Fields = append(in.Fields, name)
			}
		}
		c.catalog.enforce(in, &d)
		return d, nil
	}
	for id, s := range c.catalog {
		if query == "data."+s.Policy+".decision" || query == id {
			return e.Eligibility(ctx, id, input)
		}
	}
	return Decision{}, fmt.Errorf("policies: %w: %s", ErrUnknownService, query)
}

func eval(ctx context.Context, c *compiled, pq rego.PreparedEvalQuery, input map[string]any, noHash bool) (Decision, error) {
	d := Decision{Revision: c.revision}
	if !noHash {
		raw, err := json.Marshal(input)
		if err != nil {
			return Decision{}, fmt.Errorf("policies: input: %w", err)
		}
		sum := sha256.Sum256(raw)
		d.InputHash = hex.EncodeToString(sum[:])
	}
	v, err := ast.InterfaceToValue(input)
	if err != nil {
		return Decision{}, fmt.Errorf("policies: input: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, EvalTimeout)
	defer cancel()
	rs, err := pq.Eval(ctx, rego.EvalParsedInput(v))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return Decision{}, fmt.Errorf("policies: %w after %s", ErrTimeout, EvalTimeout)
		}
		return Decision{}, fmt.Errorf("policies: eval: %w", err)
	}
	if len(rs) == 0 || len(rs[0].Expressions) == 0 {
		d.Reasons = []string{"undefined_decision"}
		return d, nil
	}
	out, ok := rs[0].Expressions[0].Value.(map[string]any)
	if !ok {
		d.Reasons = []string{"malformed_decision"}
		return d, nil
	}
	d.Allow, _ = out["allow"].(bool)
	d.Reasons = strings_(out["reasons"])
	if f, ok := out["fields"]; ok {
		d.Fields = strings_(f)
	}
	if vals, ok := out["values"].(map[string]any); ok && len(vals) > 0 {
		d.Values = vals
	}
	if d.Reasons == nil {
		d.Reasons = []string{}
	}
	return d, nil
}

func strings_(v any) []string {
	arr, _ := v.([]any)
	out := make([]string, 0, len(arr))
	for _, x := range arr {
		if s, ok := x.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// ServiceName names a service in lang from the active catalog, in German
// where the catalog has no name in lang; "" for a service it does not
// hold.
func (e *Engine) ServiceName(lang texts.Lang, id string) string {
	s, ok := e.Catalog()[id]
	if !ok {
		return ""
	}
	if n := s.Name[string(lang)]; n != "" {
		return n
	}
	return s.Name[string(texts.German)]
}

// AppliesAutomatically reports whether the active catalog lets a standing
// consent apply for the service without asking.
func (e *Engine) AppliesAutomatically(id string) bool {
	s, ok := e.Catalog()[id]
	return ok && s.AutoApply
}
