package policies_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/lifeevents/lifeevents/policies"
)

// entry is one file of a hand-made tarball.
type entry struct {
	name string
	typ  byte
	size int64 // the header's claim
	data []byte
}

func tarball(t testing.TB, entries ...entry) []byte {
	t.Helper()
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for _, e := range entries {
		typ := e.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		size := e.size
		if size == 0 {
			size = int64(len(e.data))
		}
		h := &tar.Header{Name: e.name, Typeflag: typ, Mode: 0o644, Size: size}
		if typ == tar.TypeSymlink {
			h.Linkname, h.Size = "/etc/passwd", 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(e.data)
	}
	_ = tw.Flush()
	_ = gz.Close()
	return buf.Bytes()
}

// paxBomb is a tarball of empty files, each behind a PAX header of 900 KiB
// of padding: nothing in it is an entry's content.
func paxBomb(t testing.TB) []byte {
	var buf bytes.Buffer
	gz, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	tw := tar.NewWriter(gz)
	for i := range 40 {
		h := &tar.Header{Name: "/f" + string(rune('a'+i%26)) + string(rune('a'+i/26)) + ".rego", Mode: 0o644, Typeflag: tar.TypeReg,
			PAXRecords: map[string]string{"LIFEEVENTS.pad": strings.Repeat("a", 900<<10)}, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
	}
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}

// lyingTarball is a gzip of well under a kilobyte whose one tar header
// claims an entry of 4 GiB: the reader must not take the claim's word.
func lyingTarball() []byte {
	var raw bytes.Buffer
	tw := tar.NewWriter(&raw)
	_ = tw.WriteHeader(&tar.Header{Name: "/data.json", Mode: 0o644, Size: 1 << 32})
	_, _ = tw.Write([]byte(`{}`)) // then the stream just ends
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	_, _ = gz.Write(raw.Bytes()[:512+2])
	_ = gz.Close()
	return buf.Bytes()
}

// TestHostileBundlesAreRefusedCheaply holds class 1 of the security
// review: an upload is untrusted input. Each hostile archive is refused
// with the limit it broke, having cost little memory.
func TestHostileBundlesAreRefusedCheaply(t *testing.T) {
	zeros := make([]byte, 1<<20)
	var many []entry
	for i := range 2001 {
		many = append(many, entry{name: "/f" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "/" + string(rune('a'+i/26%26)) + ".rego"})
	}
	var tenMiB []entry
	for i := range 10 {
		tenMiB = append(tenMiB, entry{name: "/zeros" + string(rune('a'+i)) + ".json", data: zeros})
	}
	cases := []struct {
		name  string
		raw   []byte
		limit string
	}{
		{"header claims 4 GiB", lyingTarball(), "file_size"},
		{"one entry inflates to 40 MiB", tarball(t, entry{name: "/data.json", data: make([]byte, 40<<20)}), "file_size|compression_ratio"},
		{"ten entries of 1 MiB of zeros", tarball(t, tenMiB...), "compression_ratio"},
		{"2001 entries", tarball(t, many...), "file_count"},
		{"PAX headers of 900 KiB each", paxBomb(t), "compression_ratio|total_size"},
		{"a symlink", tarball(t, entry{name: "/link.rego", typ: tar.TypeSymlink}), "entry_type"},
		{"a path outside", tarball(t, entry{name: "../../etc/x.rego", data: []byte("package x")}), "entry_name"},
		{"larger than 8 MiB", append(make([]byte, 0, 9<<20), make([]byte, 9<<20)...), "compressed_size"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			_, err := policies.ReadUpload(c.raw, policies.DefaultLimits())
			runtime.ReadMemStats(&after)
			var le *policies.LimitError
			if !errors.As(err, &le) || !slices.Contains(strings.Split(c.limit, "|"), le.Limit) || !errors.Is(err, policies.ErrLimit) {
				t.Fatalf("err = %v, want the %s limit", err, c.limit)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("refusing it allocated %d MiB", grew>>20)
			}
		})
	}

	// The total, with limits of its own.
	small := policies.DefaultLimits()
	small.Total, small.File = 3<<20, 2<<20
	small.Ratio = 1 << 20
	var three []entry
	for i := range 3 {
		three = append(three, entry{name: "/d" + string(rune('a'+i)) + ".json", data: make([]byte, 1<<20+1)})
	}
	var le *policies.LimitError
	if _, err := policies.ReadUpload(tarball(t, three...), small); !errors.As(err, &le) || le.Limit != "total_size" {
		t.Fatalf("total: %v", err)
	}
}

// TestForbiddenBuiltinsAreRefusedByName: no policy and no Rego test may
// reach the network or the process, however it spells the call.
func TestForbiddenBuiltinsAreRefusedByName(t *testing.T) {
	e := engine(t)
	before := e.Revision()
	cases := map[string]struct{ file, src, builtin string }{
		"http.send in a policy": {"services/waste_bins/exfil.rego", `package lifeevents.eligibility.waste_bins

leak := http.send({"method": "POST", "url": "http://127.0.0.1:1/", "body": input})
`, "http.send"},
		"http.send in a test": {"services/waste_bins/exfil_test.rego", `package lifeevents.eligibility.waste_bins_test

test_leak if {
	http.send({"method": "GET", "url": "http://127.0.0.1:1/"})
}
`, "http.send"},
		"http.send mocked": {"services/waste_bins/mock_test.rego", `package lifeevents.eligibility.waste_bins_test

test_mock if {
	true with http.send as {"status_code": 200}
}
`, "http.send"},
		"DNS lookup": {"lib/dns.rego", `package lifeevents.lib

resolve(h) := net.lookup_ip_addr(h)
`, "net.lookup_ip_addr"},
		"the environment": {"lib/env.rego", `package lifeevents.lib

env := opa.runtime().env
`, "opa.runtime"},
		"the clock": {"lib/clock.rego", `package lifeevents.lib

now := time.now_ns()
`, "time.now_ns"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := policies.FSBundle(fixture(t, map[string]string{c.file: c.src}))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Load(context.Background(), b)
			var be *policies.BuiltinError
			if !errors.As(err, &be) || be.Builtin != c.builtin || !strings.Contains(be.Location, c.file) || !errors.Is(err, policies.ErrRejected) {
				t.Fatalf("err = %v, want %s named", err, c.builtin)
			}
			if e.Revision() != before {
				t.Fatal("the revision changed")
			}
		})
	}
	if got := strings.Join(policies.ForbiddenBuiltins(), " "); !strings.Contains(got, "http.send") || !strings.Contains(got, "net.lookup_ip_addr") {
		t.Fatalf("ForbiddenBuiltins() = %s", got)
	}
}

const allowAll = `package lifeevents.sharing

decision := {"allow": true, "reasons": [], "fields": input.fields}
`

const denyAll = `package lifeevents.sharing

decision := {"allow": false, "reasons": ["closed"], "fields": []}
`

const trivialSharingTest = `package lifeevents.sharing_test

import data.lifeevents.sharing

test_decides if sharing.decision with input as {"fields": []}
`

// TestPlatformGuaranteesHoldWhateverTheUpload: an upload cannot drop the
// guarantees the way it can drop its own tests.
func TestPlatformGuaranteesHoldWhateverTheUpload(t *testing.T) {
	e := engine(t)
	before := e.Revision()
	optionalFree := strings.Replace(mustRead(t, "sharing/policy.rego"), "\tnot input.optionalConsent\n", "\tfalse\n", 1)
	cases := map[string]struct {
		change    map[string]string
		guarantee string
	}{
		"allow-all sharing with one trivial test": {map[string]string{"sharing/policy.rego": allowAll, "sharing/policy_test.rego": trivialSharingTest}, policies.GuaranteeDeclaredFieldsShareable + "|" + policies.GuaranteeDeclaredFieldsOnly},
		"deny-all sharing with one trivial test":  {map[string]string{"sharing/policy.rego": denyAll, "sharing/policy_test.rego": trivialSharingTest}, policies.GuaranteeDeclaredFieldsShareable},
		"sharing tests dropped":                   {map[string]string{"sharing/policy_test.rego": "", "lib/keep_test.rego": "package lifeevents.lib_test\n\ntest_ok if true\n"}, policies.GuaranteeSharingTested},
		"a service's tests dropped":               {map[string]string{"services/dog_tax/policy_test.rego": ""}, policies.GuaranteeServiceTested},
		"optional data without its consent":       {map[string]string{"sharing/policy.rego": optionalFree, "sharing/policy_test.rego": trivialSharingTest}, policies.GuaranteeOptionalNeedsConsent},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			b, err := policies.FSBundle(fixture(t, c.change))
			if err != nil {
				t.Fatal(err)
			}
			_, err = e.Load(context.Background(), b)
			var ge *policies.GuaranteeError
			if !errors.As(err, &ge) || !strings.Contains(c.guarantee, ge.Guarantee) || !errors.Is(err, policies.ErrRejected) {
				t.Fatalf("err = %v, want guarantee %s", err, c.guarantee)
			}
			if e.Revision() != before {
				t.Fatal("the revision changed")
			}
		})
	}
}

func mustRead(t *testing.T, name string) string {
	t.Helper()
	b, err := fstest.MapFS(fixture(t, nil))[name].Data, error(nil)
	if err != nil || len(b) == 0 {
		t.Fatalf("read %s", name)
	}
	return string(b)
}

// TestEvaluationHasADeadline: a policy that computes for long on some
// input answers ErrTimeout within its deadline instead of holding the
// journey.
func TestEvaluationHasADeadline(t *testing.T) {
	slow := mustRead(t, "services/waste_bins/policy.rego") + `
deny contains "slow" if {
	input.slow
	count([1 | some i in numbers.range(1, 20000); some j in numbers.range(1, 20000); i == j + 1]) > 0
}
`
	b, err := policies.FSBundle(fixture(t, map[string]string{"services/waste_bins/policy.rego": slow}))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	in := moveInput()
	in["slow"] = true
	began := time.Now()
	_, err = e.Eligibility(context.Background(), "waste_bins", in)
	if !errors.Is(err, policies.ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if took := time.Since(began); took > policies.EvalTimeout+2*time.Second {
		t.Fatalf("the deadline of %s ended the evaluation only after %s", policies.EvalTimeout, took)
	}
}

// FuzzReadUpload: whatever the bytes, reading an upload ends with a bundle
// or an error, never a panic or an allocation beyond the limits.
func FuzzReadUpload(f *testing.F) {
	f.Add(lyingTarball())
	f.Add(tarball(f, entry{name: "/a.rego", data: []byte("package a\n\nx := 1\n")}))
	f.Add([]byte{0x1f, 0x8b})
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, _ = policies.ReadUpload(raw, policies.DefaultLimits())
	})
}

// TestSharingHoldsWhereAPolicyDodgesTheProbes: a sharing policy that lets
// one undeclared field through (which no probe can guess) goes live, and
// the transfer is still refused.
func TestSharingHoldsWhereAPolicyDodgesTheProbes(t *testing.T) {
	dodging := strings.Replace(mustRead(t, "sharing/policy.rego"), "\tnot name in declared\n", "\tnot name in declared\n\tname != \"taxId\"\n", 1)
	b, err := policies.FSBundle(fixture(t, map[string]string{"sharing/policy.rego": dodging}))
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatalf("the dodging policy was refused, so this test proves nothing: %v", err)
	}
	d, err := e.Sharing(context.Background(), policies.SharingInput{Service: "waste_bins", Municipality: "03353022",
		Recipient: "abfallwirtschaft-landkreis", Basis: "consent", Fields: []string{"applicantId", "newAddress", "taxId"}})
	if err != nil || d.Allow || !slices.Contains(d.Reasons, "platform:undeclared_field:taxId") {
		t.Fatalf("sharing: %+v %v", d, err)
	}
	// The dry run answers as the transfer would be answered.
	dry, err := e.Eval(context.Background(), policies.SharingQuery, map[string]any{"service": "waste_bins", "municipality": "03353022",
		"recipient": "abfallwirtschaft-landkreis", "basis": "consent", "fields": []any{"applicantId", "taxId"}})
	if err != nil || dry.Allow {
		t.Fatalf("dry run: %+v %v", dry, err)
	}
	for name, in := range map[string]policies.SharingInput{
		"another recipient": {Service: "waste_bins", Municipality: "03353022", Recipient: "someone", Basis: "consent", Fields: []string{"applicantId"}},
		"another basis":     {Service: "waste_bins", Municipality: "03353022", Recipient: "abfallwirtschaft-landkreis", Basis: "law", Fields: []string{"applicantId"}},
	} {
		if d, _ := e.Sharing(context.Background(), in); d.Allow {
			t.Errorf("%s allowed", name)
		}
	}
}

// TestSchemaBuiltinsCannotReachFiles: a JSON schema's $ref can name a file
// (file:///dev/zero reads without end), so the schema builtins are refused.
func TestSchemaBuiltinsCannotReachFiles(t *testing.T) {
	src := "package lifeevents.lib_test\n\ntest_schema if json.verify_schema({\"$ref\": \"file:///dev/zero\"})\n"
	b, err := policies.FSBundle(fixture(t, map[string]string{"lib/schema_test.rego": src}))
	if err != nil {
		t.Fatal(err)
	}
	var be *policies.BuiltinError
	if _, err := policies.NewEngine(context.Background(), b); !errors.As(err, &be) || be.Builtin != "json.verify_schema" {
		t.Fatalf("err = %v", err)
	}
}

// TestManifestRevisionIsAName: a revision names the bundle in URLs and the
// audit record; one that cannot is refused.
func TestManifestRevisionIsAName(t *testing.T) {
	m := fixture(t, nil)
	m[".manifest"] = &fstest.MapFile{Data: []byte(`{"revision":"a/b"}`)}
	b, err := policies.FSBundle(m)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := policies.NewEngine(context.Background(), b); !errors.Is(err, policies.ErrRejected) || !strings.Contains(err.Error(), "revision") {
		t.Fatalf("err = %v", err)
	}
}
