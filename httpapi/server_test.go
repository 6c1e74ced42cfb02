package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.temporal.io/sdk/converter"

	"github.com/lifeevents/lifeevents/agencies"
	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/codec"
	"github.com/lifeevents/lifeevents/consent"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/httpapi"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/ingest"
	"github.com/lifeevents/lifeevents/intake"
	"github.com/lifeevents/lifeevents/policies"
	"github.com/lifeevents/lifeevents/proposals"
)

// verifier trusts tokens that are a role's name, for the subject "s-1";
// "bad" is an invalid token.
type verifier struct{}

func (verifier) Verify(tok string) (auth.Principal, error) {
	if tok == "bad" {
		return auth.Principal{}, auth.ErrInvalidToken
	}
	return auth.Principal{Subject: "s-1", Roles: []string{tok}}, nil
}

// fakes answer every dependency with "nothing there", enough for the
// handlers to run to an answer of their own.
type fakes struct {
	engine *policies.Engine
	// reached counts the calls that took an id, so a test can prove that
	// a bad id never got that far.
	reached *atomic.Int64
}

func (fakes) ListForCitizen(context.Context, string, proposals.Status) ([]proposals.Proposal, error) {
	return nil, nil
}
func (f fakes) GetForCitizen(context.Context, string, string) (proposals.Proposal, error) {
	f.reached.Add(1)
	return proposals.Proposal{}, proposals.ErrNotFound
}
func (fakes) ListForLifeEvent(context.Context, string) ([]proposals.Proposal, error) { return nil, nil }
func (f fakes) Get(context.Context, string) (events.Status, error) {
	f.reached.Add(1)
	return events.Status{}, events.ErrUnknownEvent
}
func (fakes) Submit(context.Context, intake.Application) (intake.Receipt, error) {
	return intake.Receipt{}, &events.Rejection{Code: events.ReasonMalformedData, Message: "no"}
}
func (fakes) List(context.Context, int) ([]ingest.DeadLetter, error) { return nil, nil }
func (fakes) Replay(context.Context, string) error                   { return ingest.ErrNoDeadLetter }
func (fakes) Propose(context.Context, string, []byte, string, int) (policies.Revision, error) {
	return policies.Revision{}, nil
}
func (f fakes) Approve(context.Context, string, string, int, func([]byte) error) (policies.Revision, []byte, error) {
	f.reached.Add(1)
	return policies.Revision{}, nil, policies.ErrUnknownRevision
}
func (fakes) Proposed(context.Context) ([]policies.Revision, error) { return nil, nil }
func (fakes) Decide(context.Context, string, string, proposals.Decision, map[string]string) (proposals.Status, error) {
	return "", errors.New("not reached")
}
func (fakes) AgencyResult(context.Context, string, string, string) error { return nil }
func (fakes) ListForAgency(context.Context, string, string, *time.Time) ([]agencies.Submission, error) {
	return nil, nil
}
func (fakes) Result(context.Context, string, string, string, string) (agencies.Submission, error) {
	return agencies.Submission{}, agencies.ErrNotFound
}

type consents struct{}

func (consents) List(context.Context, string) ([]consent.Consent, error) { return nil, nil }
func (consents) Give(context.Context, string, consent.Request) (consent.Consent, []consent.Withdrawn, error) {
	return consent.Consent{}, nil, &consent.InvalidError{Code: "invalid_kind", Message: "no"}
}
func (consents) Withdraw(context.Context, string, string, string) (consent.Consent, []consent.Withdrawn, error) {
	return consent.Consent{}, nil, consent.ErrNotFound
}
func (consents) Receipt(context.Context, string, string) (consent.Receipt, error) {
	return consent.Receipt{}, consent.ErrNotFound
}
func (consents) Transfers(context.Context, string) ([]consent.Record, error) { return nil, nil }

type messages struct{}

func (messages) ListForCitizen(context.Context, string) ([]inbox.Message, error) { return nil, nil }

func server(t testing.TB) *httpapi.Server {
	s, _ := serverWithFakes(t)
	return s
}

func serverWithFakes(t testing.TB) (*httpapi.Server, fakes) {
	t.Helper()
	b, err := policies.DefaultBundle()
	if err != nil {
		t.Fatal(err)
	}
	e, err := policies.NewEngine(context.Background(), b)
	if err != nil {
		t.Fatal(err)
	}
	f := fakes{engine: e, reached: &atomic.Int64{}}
	c, err := codec.New(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	return httpapi.New(httpapi.Deps{
		Verifier: verifier{}, Proposals: f, Events: f, Intake: f, DeadLetters: f,
		Policies: e, Bundles: f, Messages: messages{}, Consents: consents{},
		Journeys: f, Submissions: f,
		Codec:   converter.NewPayloadCodecHTTPHandler(c),
		Metrics: prometheus.NewRegistry(), Log: slog.New(slog.DiscardHandler),
	}), f
}

// tokens are one principal of each role the system knows.
var tokens = map[httpapi.Role]string{
	httpapi.Citizen:  auth.RoleCitizen,
	httpapi.Registry: auth.RegistryRole("03353022"),
	httpapi.Agency:   auth.AgencyRole("kfz-winsen"),
	httpapi.Policy:   auth.RolePolicy,
	httpapi.Operator: auth.RoleOperator,
}

func request(method, path, token string) *http.Request {
	path = strings.ReplaceAll(strings.ReplaceAll(path, "{id}", "x-1"), "{revision}", "r-1")
	path = strings.ReplaceAll(strings.ReplaceAll(path, "{file}", "app.js"), "{$}", "")
	if method == "" {
		method = http.MethodGet
		path = strings.TrimSuffix(path, "/") + "/no-such-route"
	}
	r := httptest.NewRequest(method, path, bytes.NewReader([]byte("{}")))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	return r
}

// TestRouteRoleMatrix: every route of the route table against no token, a
// bad token and every role. A route's own role passes the gate; every
// other role gets 403, no token or a bad one 401; and public routes are
// open to all. The table is the router's, so a new route is covered the
// moment it is registered, and registering one needs a role.
func TestRouteRoleMatrix(t *testing.T) {
	s := server(t)
	routes := s.Routes()
	if len(routes) < 25 {
		t.Fatalf("only %d routes in the table", len(routes))
	}
	cells := 0
	for _, rt := range routes {
		for _, caller := range []string{"", "bad", "citizen", "registry", "agency", "policy", "operator"} {
			token := caller
			if tok, ok := tokens[httpapi.Role(caller)]; ok {
				token = tok
			}
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, request(rt.Method, rt.Path, token))
			cells++
			var want string
			switch {
			case rt.Role == httpapi.Public:
				want = "open"
			case caller == "" || caller == "bad":
				want = "401"
			case rt.Role == httpapi.AnyRole || string(rt.Role) == caller:
				want = "open"
			default:
				want = "403"
			}
			got := rec.Code
			var body struct{ Error struct{ Code string } }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			gated := (got == 401 && body.Error.Code == "unauthenticated") || (got == 403 && body.Error.Code == "forbidden")
			ok := (want == "401" && got == 401 && gated) || (want == "403" && got == 403 && gated) ||
				(want == "open" && !gated && got < 500)
			if !ok {
				t.Errorf("%s %s as %q: %d, want %s (%s)", rt.Method, rt.Path, caller, got, want, rec.Body)
			}
		}
	}
	t.Logf("%d routes × 7 callers = %d cells", len(routes), cells)
}

// TestHeadersOnEveryResponse holds class 5: no answer may be framed or
// sniffed, the CSP allows no inline script, and personal answers are not
// cached.
func TestHeadersOnEveryResponse(t *testing.T) {
	s := server(t)
	for _, rt := range s.Routes() {
		token := tokens[rt.Role]
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, request(rt.Method, rt.Path, token))
		h := rec.Header()
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "frame-ancestors 'none'") || strings.Contains(csp, "unsafe-inline") || !strings.Contains(csp, "script-src 'none'") {
			t.Errorf("%s %s: CSP %q", rt.Method, rt.Path, csp)
		}
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Referrer-Policy") == "" || h.Get("X-Frame-Options") != "DENY" {
			t.Errorf("%s %s: headers %v", rt.Method, rt.Path, h)
		}
		if (rt.Personal || rt.Role != httpapi.Public) && h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: Cache-Control %q on a personal answer", rt.Method, rt.Path, h.Get("Cache-Control"))
		}
	}
}

// TestHostileInputIsA4xx holds class 4: ids that cannot be ids, NUL
// characters, and bodies over their limit answer 4xx with a stable code
// before anything reaches a store.
func TestHostileInputIsA4xx(t *testing.T) {
	s, f := serverWithFakes(t)
	cases := []struct {
		name, method, path, token, body string
		code                            int
		errCode                         string
	}{
		{"NUL in an id", "GET", "/api/v1/me/proposals/a%00b", "citizen", "", 404, "not_found"},
		{"a bad id without a token", "GET", "/api/v1/me/proposals/a%00b", "", "", 401, "unauthenticated"},
		{"invalid UTF-8 in an id", "GET", "/api/v1/me/proposals/%ff%fe", "citizen", "", 404, "not_found"},
		{"an id of 1000 bytes", "GET", "/api/v1/ops/events/" + strings.Repeat("a", 1000), "operator", "", 404, "not_found"},
		{"control character in a revision", "POST", "/api/v1/policies/r%0a1/approve", "policy", "", 404, "not_found"},
		{"NUL in a body", "POST", "/api/v1/me/consents", "citizen", `{"kind":"standing","purpose":"a\u0000b"}`, 400, "invalid_text"},
		{"consent body over its limit", "POST", "/api/v1/me/consents", "citizen", `{"noticeVersion":"` + strings.Repeat("v", 20<<10) + `"}`, 413, "too_large"},
		{"unknown consent field", "POST", "/api/v1/me/consents", "citizen", `{"kind":"standing","color":"red"}`, 400, "invalid_json"},
		{"consent on another's proposal", "POST", "/api/v1/me/consents", "citizen", `{"kind":"proposal","purpose":"child_benefit","recipient":"familienkasse","fields":["applicantId"],"proposalId":"p-of-someone-else"}`, 422, "unknown_proposal"},
		{"two JSON values", "POST", "/api/v1/me/proposals/x/decision", "citizen", `{"decision":"accept"}{"decision":"decline"}`, 400, "invalid_json"},
		{"codec body within its limit", "POST", "/codec/decode", "operator", `{"payloads":[{"data":"` + strings.Repeat("eHh4", 3<<18) + `"}]}`, 200, ""},
		{"codec body over its limit", "POST", "/codec/decode", "operator", `{"payloads":[{"data":"` + strings.Repeat("eHh4", 5<<18) + `"}]}`, 400, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := httptest.NewRequest(c.method, "/", strings.NewReader(c.body))
			r.URL.RawPath = ""
			r.URL.Path = mustUnescape(t, c.path)
			r.RequestURI = c.path
			r.Header.Set("Authorization", "Bearer "+c.token)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			var body struct{ Error struct{ Code string } }
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if rec.Code != c.code || (c.errCode != "" && body.Error.Code != c.errCode) {
				t.Fatalf("%d %s, want %d %s", rec.Code, rec.Body, c.code, c.errCode)
			}
			if strings.Contains(c.name, " id") || strings.Contains(c.name, "revision") {
				if n := f.reached.Swap(0); n != 0 {
					t.Fatalf("the bad id reached a store (%d calls)", n)
				}
			}
			f.reached.Store(0)
		})
	}
}

func mustUnescape(t *testing.T, p string) string {
	t.Helper()
	u, err := http.NewRequest(http.MethodGet, "http://x"+p, nil)
	if err != nil {
		t.Fatal(err)
	}
	return u.URL.Path
}

// TestOpenAPIIsTheRouteTable: the description served and the one in docs/
// are built from the route table; every route is in it with its role. Run
// with LIFEEVENTS_UPDATE_OPENAPI=1 to rewrite docs/openapi.json.
func TestOpenAPIIsTheRouteTable(t *testing.T) {
	s := server(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	if rec.Code != 200 {
		t.Fatalf("openapi.json: %d", rec.Code)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json: %v %s", err, doc.OpenAPI)
	}
	for _, rt := range s.Routes() {
		if rt.Method == "" || rt.Page {
			continue
		}
		op := doc.Paths[rt.Path][strings.ToLower(rt.Method)]
		if op == nil || op["x-role"] != string(rt.Role) {
			t.Errorf("%s %s missing or with the wrong role: %v", rt.Method, rt.Path, op)
		}
	}
	file := filepath.Join("..", "docs", "openapi.json")
	if os.Getenv("LIFEEVENTS_UPDATE_OPENAPI") != "" {
		if err := os.WriteFile(file, rec.Body.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	kept, err := os.ReadFile(file)
	if err != nil || !bytes.Equal(kept, rec.Body.Bytes()) {
		t.Fatalf("docs/openapi.json is not what the server serves: regenerate with LIFEEVENTS_UPDATE_OPENAPI=1 go test ./httpapi -run OpenAPI")
	}
}

// FuzzRequestBodies sends arbitrary bodies to every route that takes one,
// as its own role: the answer is never a 5xx and never a panic.
func FuzzRequestBodies(f *testing.F) {
	for _, seed := range []string{`{}`, `{"decision":"accept"}`, `{"kind":"standing","purpose":"child_benefit","recipient":"familienkasse","fields":["applicantId"]}`,
		`{"type":"lifeevents.move.registered.v1","source":"urn:lifeevents:registry:03353022","reference":"R","data":{}}`,
		`{"status":"granted","note":"ok"}`, `{"service":"waste_bins","input":{}}`, `{"payloads":[{"data":"eHh4"}]}`, "\x00", `[`} {
		for i := range 12 {
			f.Add(uint8(i), []byte(seed))
		}
	}
	s := server(f)
	var withBody []httpapi.Route
	for _, rt := range s.Routes() {
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
			withBody = append(withBody, rt)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		rt := withBody[int(which)%len(withBody)]
		r := request(rt.Method, rt.Path, tokens[rt.Role])
		r.Body = io.NopCloser(bytes.NewReader(body))
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, r)
		if rec.Code >= 500 {
			t.Fatalf("%s %s answered %d to %q: %s", rt.Method, rt.Path, rec.Code, body, rec.Body)
		}
	})
}

// TestSlowClientsAreCutOff holds the first case of class 4: a client that
// sent its headers and then sends its body a byte at a time, or sits idle,
// does not keep its connection.
func TestSlowClientsAreCutOff(t *testing.T) {
	cfg := httpapi.DefaultHTTPConfig()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	cfg.ReadTimeout, cfg.IdleTimeout = 300*time.Millisecond, 300*time.Millisecond
	srv := httpapi.NewHTTPServer(server(t), cfg, slog.New(slog.DiscardHandler))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	for name, send := range map[string]string{
		"body never finished":  "POST /api/v1/me/consents HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer citizen\r\nContent-Length: 1000\r\n\r\n{",
		"idle after an answer": "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			conn, err := net.Dial("tcp", l.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if _, err := conn.Write([]byte(send)); err != nil {
				t.Fatal(err)
			}
			began := time.Now()
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			_, err = io.Copy(io.Discard, conn) // until the server closes it
			if err != nil || time.Since(began) > 5*time.Second {
				t.Fatalf("connection held for %s (%v)", time.Since(began), err)
			}
		})
	}
	if err := (httpapi.HTTPConfig{}).Validate(); err == nil {
		t.Fatal("an HTTP config without limits validated")
	}
}
