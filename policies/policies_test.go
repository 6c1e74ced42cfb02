package policies_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/open-policy-agent/opa/v1/format"

	"github.com/lifeevents/lifeevents/policies"
)

// TestRegoTests runs every Rego test of the policies folder, as policy
// teams would with `opa test policies/ --fail-on-empty`.
func TestRegoTests(t *testing.T) {
	b, err := policies.DirBundle(".")
	if err != nil {
		t.Fatal(err)
	}
	r, err := policies.RunTests(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	if r.Passed < 30 {
		t.Fatalf("only %d Rego tests ran", r.Passed)
	}
	t.Logf("%d Rego tests passed", r.Passed)
}

// TestFormattedAndTested: every Rego file is `opa fmt` clean and every
// policy package has a _test.rego beside it.
func TestFormattedAndTested(t *testing.T) {
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(p, ".rego") {
			return err
		}
		src, _ := os.ReadFile(p)
		out, err := format.Source(p, src)
		if err != nil {
			t.Errorf("%s: %v", p, err)
		} else if !bytes.Equal(out, src) {
			t.Errorf("%s is not opa fmt clean", p)
		}
		if !strings.HasSuffix(p, "_test.rego") {
			if _, err := os.Stat(strings.TrimSuffix(p, ".rego") + "_test.rego"); err != nil {
				t.Errorf("%s has no _test.rego beside it", p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func engine(t *testing.T) *policies.Engine {
	t.Helper()
	b, err := policies.DefaultBundle()
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func TestDefaultCatalog(t *testing.T) {
	e := engine(t)
	c := e.Catalog()
	want := []string{"birth_certificate", "child_benefit", "dog_tax", "parental_allowance", "parking_permit", "vehicle_address", "waste_bins"}
	var got []string
	for _, s := range c.Sorted() {
		got = append(got, s.ID)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("catalog %v", got)
	}
	if n := len(c.TriggeredBy("lifeevents.birth.registered.v1")); n != 3 {
		t.Fatalf("birth triggers %d services", n)
	}
	if c["vehicle_address"].Basis.Kind != "law" || c["child_benefit"].Basis.Kind != "consent" || !c["child_benefit"].Exclusive {
		t.Fatalf("catalog entries: %+v", c["vehicle_address"])
	}
}

func moveInput() map[string]any {
	return map[string]any{
		"event": map[string]any{"type": "lifeevents.move.registered.v1", "data": map[string]any{
			"from":      map[string]any{"municipality": "03353005"},
			"to":        map[string]any{"municipality": "03353022", "street": "Am Markt", "houseNumber": "12", "postalCode": "21423", "city": "Winsen (Luhe)"},
			"household": []any{map[string]any{"citizenId": "c-1001", "role": "adult"}},
		}},
		"subject":  map[string]any{"citizenId": "c-1001", "role": "adult"},
		"registry": map[string]any{"wasteDistrict": "WL-Nord", "vehicles": []any{}, "parkingZone": nil, "dogs": []any{}},
	}
}

func TestEligibility(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	d, err := e.Eligibility(ctx, "waste_bins", moveInput())
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow || fmt.Sprint(d.Values["binSize"]) != "80" || len(d.Fields) == 0 || d.Revision == "" || len(d.InputHash) != 64 {
		t.Fatalf("waste bins: %+v", d)
	}
	d, _ = e.Eligibility(ctx, "parking_permit", moveInput())
	if d.Allow || strings.Join(d.Reasons, ",") != "no_registered_car,not_in_parking_zone" {
		t.Fatalf("parking permit without car: %+v", d)
	}
	if _, err := e.Eligibility(ctx, "nope", moveInput()); !errors.Is(err, policies.ErrUnknownService) {
		t.Fatalf("unknown service: %v", err)
	}
	s, err := e.Sharing(ctx, policies.SharingInput{Service: "waste_bins", Municipality: "03353022",
		Recipient: "abfallwirtschaft-landkreis", Basis: "consent", Fields: []string{"applicantId", "newAddress", "iban"}})
	if err != nil {
		t.Fatal(err)
	}
	if s.Allow || strings.Join(s.Reasons, ",") != "undeclared_field:iban" || strings.Join(s.Fields, ",") != "applicantId,newAddress" {
		t.Fatalf("sharing: %+v", s)
	}
}

// fixture returns the default bundle's files with changes applied.
func fixture(t *testing.T, change map[string]string) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasSuffix(p, ".rego") || filepath.Base(p) == "data.json" {
			b, _ := os.ReadFile(p)
			m[p] = &fstest.MapFile{Data: b}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for p, content := range change {
		if content == "" {
			delete(m, p)
		} else {
			m[p] = &fstest.MapFile{Data: []byte(content)}
		}
	}
	return m
}

func TestBrokenBundlesAreRefusedAndTheOldRevisionServes(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	before := e.Revision()
	cases := map[string]map[string]string{
		"syntax error":  {"services/waste_bins/policy.rego": "package lifeevents.eligibility.waste_bins\n\ndecision := {"},
		"failing test":  {"services/waste_bins/policy_test.rego": "package lifeevents.eligibility.waste_bins_test\n\ntest_fails if false\n"},
		"catalog error": {"services/waste_bins/data.json": `{"id":"waste_bins","name":{"de":"x"}}`},
		"no tests": func() map[string]string {
			m := map[string]string{}
			for p := range fixture(t, nil) {
				if strings.HasSuffix(p, "_test.rego") {
					m[p] = ""
				}
			}
			return m
		}(),
	}
	for name, change := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := policies.FSBundle(fixture(t, change))
			if err == nil {
				_, err = e.Load(ctx, b)
			}
			if err == nil {
				t.Fatal("broken bundle accepted")
			}
			if e.Revision() != before {
				t.Fatal("revision changed after a refused bundle")
			}
			if d, err := e.Eligibility(ctx, "waste_bins", moveInput()); err != nil || !d.Allow {
				t.Fatalf("old revision no longer serves: %+v %v", d, err)
			}
		})
	}
}

const newService = `{"id":"library_card","name":{"de":"Bibliotheksausweis","en":"Library card"},
 "triggers":["lifeevents.move.registered.v1"],"audience":"adults","exclusive":false,
 "recipient":{"id":"stadtbibliothek","name":"Stadtbibliothek"},"purpose":"Bibliotheksausweis ausstellen",
 "basis":{"kind":"consent","reference":"Einwilligung"},
 "fields":[{"name":"newAddress","category":"address","source":"decision.newAddress"}],
 "decisionDays":30,"reminderDays":7,"autoApply":false,"policy":"lifeevents.eligibility.library_card"}`

const newPolicy = `package lifeevents.eligibility.library_card

import data.lifeevents.lib

deny contains "not_a_move" if not lib.is_move

decision := {"allow": count(deny) == 0, "reasons": sort(deny), "values": {"newAddress": lib.new_address}}
`

const newPolicyTest = `package lifeevents.eligibility.library_card_test

import data.lifeevents.eligibility.library_card

test_allow if {
	library_card.decision.allow with input as {"event": {"type": "lifeevents.move.registered.v1", "data": {"to": {"street": "Am Markt", "houseNumber": "1", "postalCode": "21423", "city": "Winsen"}}}}
}
`

// NewServiceFixture is the default bundle plus a library card service,
// added as a folder and nothing else.
func NewServiceFixture(t *testing.T) fstest.MapFS {
	return fixture(t, map[string]string{
		"services/library_card/data.json":        newService,
		"services/library_card/policy.rego":      newPolicy,
		"services/library_card/policy_test.rego": newPolicyTest,
	})
}

func TestReloadIsAtomicUnderConcurrentEvaluation(t *testing.T) {
	e := engine(t)
	ctx := context.Background()
	withNew, err := policies.FSBundle(NewServiceFixture(t))
	if err != nil {
		t.Fatal(err)
	}
	old, _ := policies.DefaultBundle()
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				// Catalog and decision come from one revision: whenever the
				// library card is in the catalog, it can be decided.
				c := e.Catalog()
				if _, ok := c["library_card"]; ok {
					continue
				}
				if d, err := e.Eligibility(ctx, "waste_bins", moveInput()); err != nil || !d.Allow {
					errs <- errors.New("waste bins not decided during reload")
					return
				}
			}
		}()
	}
	for i := range 10 {
		b := withNew
		if i%2 == 1 {
			b = old
		}
		if _, err := e.Load(ctx, b); err != nil {
			t.Fatal(err)
		}
		if d, err := e.Eligibility(ctx, "library_card", moveInput()); (i%2 == 0) != (err == nil && d.Allow) {
			t.Fatalf("after load %d: %+v %v", i, d, err)
		}
	}
	close(stop)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestTarball loads a bundle in the form `opa build` writes it.
func TestTarball(t *testing.T) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	for p, f := range NewServiceFixture(t) {
		_ = tw.WriteHeader(&tar.Header{Name: "/" + p, Mode: 0o644, Size: int64(len(f.Data))})
		_, _ = tw.Write(f.Data)
	}
	_ = tw.WriteHeader(&tar.Header{Name: "/.manifest", Mode: 0o644, Size: int64(len(`{"revision":"r42"}`))})
	_, _ = tw.Write([]byte(`{"revision":"r42"}`))
	_ = tw.Close()
	_ = gz.Close()
	b, err := policies.TarballBundle(&buf)
	if err != nil {
		t.Fatal(err)
	}
	e := engine(t)
	if _, err := e.Load(context.Background(), b); err != nil {
		t.Fatal(err)
	}
	if e.Revision() != "r42" || len(e.Catalog()) != 8 {
		t.Fatalf("revision %s, %d services", e.Revision(), len(e.Catalog()))
	}
}
