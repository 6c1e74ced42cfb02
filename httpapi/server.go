// Package httpapi serves the JSON API under /api/v1, the health and metrics
// endpoints and the citizen portal. Every API route names the role it needs;
// a citizen only ever reaches their own records.
package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/inbox"
	"github.com/lifeevents/lifeevents/portal"
	"github.com/lifeevents/lifeevents/proposals"
	"github.com/lifeevents/lifeevents/texts"
)

// Portal is the citizen portal's pages (package portal), served beside
// the API with the same headers.
type Portal interface {
	http.Handler
	Routes() []portal.Route
	// FormActions are origins besides our own a form may lead to (the
	// identity provider, where logging out continues).
	FormActions() []string
}

// TokenVerifier checks bearer tokens.
type TokenVerifier interface {
	Verify(token string) (auth.Principal, error)
}

// ProposalReader reads the proposals read model.
type ProposalReader interface {
	ListForCitizen(ctx context.Context, citizenID string, status proposals.Status) ([]proposals.Proposal, error)
	GetForCitizen(ctx context.Context, citizenID, id string) (proposals.Proposal, error)
	ListForLifeEvent(ctx context.Context, lifeEventID string) ([]proposals.Proposal, error)
}

// EventStatuses reads where life events stand.
type EventStatuses interface {
	Get(ctx context.Context, id string) (events.Status, error)
}

// Check is one readiness condition.
type Check struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are what the API serves from.
type Deps struct {
	Verifier  TokenVerifier
	Proposals ProposalReader
	Events    EventStatuses
	// Intake and DeadLetters are optional: without them their routes answer 404.
	Intake      Intake
	DeadLetters DeadLetterIndex
	Policies    PolicyEngine
	Bundles     BundleStore
	// PolicyApprovers is how many different policy users must approve an
	// upload before it goes live (the uploader counts); default 2.
	PolicyApprovers int
	Messages        MessageReader
	// Texts and ServiceNames render inbox messages in the caller's
	// language; without Texts, messages keep their stored text.
	Texts        *texts.Catalog
	ServiceNames inbox.ServiceNames
	Consents     Consents
	Withdrawals  WithdrawalNotifier
	Journeys     Journeys
	Submissions  Submissions
	// Codec, when set, is served at /codec for operators: the stock
	// temporal CLI and UI decode encrypted histories through it.
	Codec   http.Handler
	Checks  []Check
	Metrics *prometheus.Registry
	Log     *slog.Logger
	// Portal is optional: without it, the binary serves the API alone.
	Portal Portal
	// DevIdP is dev mode's built-in identity provider, served under
	// /dev/idp/, and DevMail the e-mails its SMTP sink caught, at
	// /dev/mail; never set in production.
	DevIdP, DevMail http.Handler
}

// Server is the HTTP handler of the whole API.
type Server struct {
	deps     Deps
	mux      *http.ServeMux
	routes   []Route
	csp      string
	requests *prometheus.HistogramVec
	// checking admits one bundle check at a time.
	checking chan struct{}
}

// Role is who may call a route. Every route declares one: registering a
// route takes it, so a route without a role does not compile.
type Role string

const (
	// Public routes need no token: health, metrics, the portal's files and
	// the API description.
	Public   Role = "public"
	Citizen  Role = "citizen"
	Registry Role = "registry"
	Agency   Role = "agency"
	Policy   Role = "policy"
	Operator Role = "operator"
	// AnyRole is any valid token (unknown API paths: 404 only to callers
	// who identified themselves).
	AnyRole Role = "any"
	// Session routes are the portal's pages for a logged-in citizen: a
	// session cookie, never a bearer token (the portal checks it).
	Session Role = "session"
)

// Allows reports whether a principal holds the role.
func (r Role) Allows(p auth.Principal) bool {
	switch r {
	case Public, AnyRole:
		return true
	case Citizen:
		return p.Has(auth.RoleCitizen)
	case Registry:
		return len(p.Registries()) > 0
	case Agency:
		return len(p.Agencies()) > 0
	case Policy:
		return p.Has(auth.RolePolicy)
	case Operator:
		return p.Has(auth.RoleOperator)
	}
	return false
}

// Route is one entry of the route table: the matrix test and the OpenAPI
// document are built from it.
type Route struct {
	Method, Path string
	Role         Role
	Summary      string
	// Personal routes answer with a citizen's data: never cached.
	Personal bool
	// Page routes are the portal's, not the API's.
	Page bool
}

// Routes lists every route the server serves, in registration order.
func (s *Server) Routes() []Route { return append([]Route(nil), s.routes...) }

// New builds the handler and registers its metrics.
func New(d Deps) *Server {
	s := &Server{deps: d, mux: http.NewServeMux(), checking: make(chan struct{}, 1), csp: contentSecurityPolicy(nil)}
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "lifeevents_http_request_seconds", Help: "API requests by route and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	d.Metrics.MustRegister(s.requests)

	s.public("GET /healthz", "liveness", s.healthz)
	s.public("GET /readyz", "readiness of Temporal, Kafka, Postgres, worker and consumer", s.readyz)
	metrics := promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{})
	s.public("GET /metrics", "Prometheus metrics", metrics.ServeHTTP)
	if d.Portal != nil {
		s.csp = contentSecurityPolicy(d.Portal.FormActions())
		for _, rt := range d.Portal.Routes() {
			role := Public
			if rt.Citizen {
				role = Session
			}
			// The portal checks its own path ids and sessions.
			s.register(Route{Role: role, Summary: rt.Summary, Personal: rt.Citizen, Page: true}, rt.Method+" "+rt.Path, d.Portal.ServeHTTP)
		}
	}
	if d.DevIdP != nil {
		s.register(Route{Role: Public, Summary: "dev mode's identity provider", Page: true}, "/dev/idp/", d.DevIdP.ServeHTTP)
	}
	if d.DevMail != nil {
		s.register(Route{Role: Public, Summary: "the e-mails dev mode caught", Page: true}, "GET /dev/mail", d.DevMail.ServeHTTP)
	}
	s.public("GET /api/v1/openapi.json", "this API's OpenAPI 3.1 description", s.openAPI)

	s.route(Citizen, "GET /api/v1/me/proposals", "the caller's proposals", true, s.listMyProposals)
	s.route(Citizen, "GET /api/v1/me/proposals/{id}", "one of the caller's proposals with its preview", true, s.getMyProposal)
	s.route(Operator, "GET /api/v1/ops/events/{id}", "where one life event stands", true, s.getEvent)
	if d.Intake != nil {
		s.route(Registry, "POST /api/v1/applications", "an initial application of the caller's registry office", false, s.postApplication)
	}
	if d.Policies != nil && d.Bundles != nil {
		s.route(Policy, "GET /api/v1/policies", "the active revision, its services and the proposed revisions", false, s.getPolicies)
		s.route(Policy, "PUT /api/v1/policies", "upload a bundle; it is proposed for approval", false, s.putPolicies)
		s.route(Policy, "POST /api/v1/policies/{revision}/approve", "approve a proposed revision (four eyes)", false, s.approvePolicies)
		s.route(Policy, "POST /api/v1/policies/eval", "dry-run one decision", false, s.evalPolicy)
	}
	if d.Journeys != nil {
		s.route(Citizen, "POST /api/v1/me/proposals/{id}/decision", "accept or decline a pending proposal", true, s.decide)
	}
	if d.Submissions != nil && d.Journeys != nil {
		s.route(Agency, "GET /api/v1/agency/submissions", "submissions addressed to the caller's agency", true, s.listSubmissions)
		s.route(Agency, "POST /api/v1/agency/submissions/{id}/result", "report granted or rejected", true, s.submissionResult)
	}
	if d.Codec != nil {
		codec := http.StripPrefix("/codec", d.Codec)
		s.route(Operator, "POST /codec/encode", "encrypt payloads (Temporal codec server)", true, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
			r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
			codec.ServeHTTP(w, r)
		})
		s.route(Operator, "POST /codec/decode", "decrypt payloads (Temporal codec server)", true, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
			r.Body = http.MaxBytesReader(w, r.Body, maxCodecBody)
			codec.ServeHTTP(w, r)
		})
	}
	if d.Consents != nil {
		s.route(Citizen, "GET /api/v1/me/consents", "the caller's consents", true, s.listMyConsents)
		s.route(Citizen, "POST /api/v1/me/consents", "give a consent (or object to offers)", true, s.giveConsent)
		s.route(Citizen, "POST /api/v1/me/consents/{id}/withdraw", "withdraw a consent", true, s.withdrawConsent)
		s.route(Citizen, "GET /api/v1/me/consents/{id}/receipt", "the receipt of a consent", true, s.consentReceipt)
		s.route(Citizen, "GET /api/v1/me/transfers", "every transfer of the caller's data", true, s.listMyTransfers)
		s.route(Citizen, "GET /api/v1/me/export", "everything held about the caller", true, s.export)
	}
	if d.Messages != nil {
		s.route(Citizen, "GET /api/v1/me/messages", "the caller's inbox", true, s.listMyMessages)
	}
	if d.DeadLetters != nil {
		s.route(Operator, "GET /api/v1/ops/dlq", "the dead letters", true, s.listDeadLetters)
		s.route(Operator, "POST /api/v1/ops/dlq/{id}/replay", "replay a dead letter", true, s.replayDeadLetter)
	}
	// Unknown API paths still need a valid token: an anonymous caller learns
	// nothing about which routes exist.
	s.route(AnyRole, "/api/", "", false, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	})
	return s
}

// maxCodecBody bounds what an operator may send to the codec endpoints.
const maxCodecBody = 4 << 20

// ServeHTTP sets the security headers every response carries, then routes.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Content-Security-Policy", s.csp)
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	h.Set("Cross-Origin-Resource-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

// contentSecurityPolicy allows the portal its own style sheets and fonts
// (KERN UX draws its icons as data: images) and nothing inline, no script
// at all; forms may lead to this origin and to the identity provider's
// (logging out continues there). JSON answers need nothing.
func contentSecurityPolicy(formActions []string) string {
	actions := "'self'"
	for _, o := range formActions {
		actions += " " + o
	}
	return "default-src 'none'; script-src 'none'; style-src 'self'; font-src 'self'; img-src 'self' data:; connect-src 'self'; " +
		"base-uri 'none'; form-action " + actions + "; frame-ancestors 'none'"
}

func (s *Server) public(pattern, summary string, h http.HandlerFunc) {
	s.register(Route{Role: Public, Summary: summary}, pattern, h)
}

// route registers an authenticated route with the role it needs. Its ids
// are checked after the token, so that a caller without one learns nothing
// about which routes exist.
func (s *Server) route(role Role, pattern, summary string, personal bool, h authedHandler) {
	_, path, _ := strings.Cut(pattern, " ")
	names := pathWildcards(path)
	checked := func(w http.ResponseWriter, r *http.Request, p auth.Principal) {
		if id, bad := badWildcard(r, names); bad {
			writeError(w, http.StatusNotFound, "not_found", "no such "+id)
			return
		}
		h(w, r, p)
	}
	s.register(Route{Role: role, Summary: summary, Personal: personal}, pattern, s.require(role, checked))
}

// register adds the route to the table and to the mux. Path wildcards are
// checked before any handler sees them (for authenticated routes, right
// after the token): an id that is too long, not UTF-8 or holds control
// characters names no record, so it is 404 before it reaches a query.
func (s *Server) register(rt Route, pattern string, h http.HandlerFunc) {
	rt.Method, rt.Path, _ = strings.Cut(pattern, " ")
	if rt.Path == "" {
		rt.Method, rt.Path = "", pattern
	}
	s.routes = append(s.routes, rt)
	wildcards := pathWildcards(rt.Path)
	route := pattern
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		if rt.Personal || rt.Role != Public {
			sw.Header().Set("Cache-Control", "no-store")
		}
		if id, bad := badWildcard(r, wildcards); bad && rt.Role == Public && !rt.Page {
			writeError(sw, http.StatusNotFound, "not_found", "no such "+id)
		} else {
			h(sw, r)
		}
		s.requests.WithLabelValues(route, http.StatusText(sw.code)).Observe(time.Since(began).Seconds())
	}))
}

// pathWildcards lists the names of a pattern's {wildcards}.
func pathWildcards(path string) []string {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		if strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && seg != "{$}" {
			out = append(out, strings.TrimSuffix(strings.Trim(seg, "{}"), "..."))
		}
	}
	return out
}

// maxID is longer than any id the system makes.
const maxID = 128

func badWildcard(r *http.Request, names []string) (string, bool) {
	for _, n := range names {
		if !ValidID(r.PathValue(n)) {
			return n, true
		}
	}
	return "", false
}

// ValidID reports whether s can be an id: 1 to 128 bytes of UTF-8 without
// control characters.
func ValidID(s string) bool {
	if s == "" || len(s) > maxID || !utf8.ValidString(s) {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Flush lets streaming handlers (metrics) flush through the wrapper.
func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

type authedHandler func(w http.ResponseWriter, r *http.Request, p auth.Principal)

// require authenticates the bearer token and checks the role: 401 without
// a trustworthy token, 403 with one that lacks the role.
func (s *Server) require(role Role, h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || raw == "" {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lifeevents"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "a bearer token is required")
			return
		}
		p, err := s.deps.Verifier.Verify(strings.TrimSpace(raw))
		if err != nil {
			w.Header().Set("WWW-Authenticate", `Bearer realm="lifeevents", error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "unauthenticated", "the bearer token is invalid or expired")
			return
		}
		if !role.Allows(p) {
			writeError(w, http.StatusForbidden, "forbidden", "your role does not allow this")
			return
		}
		h(w, r, p)
	}
}

// decodeJSON reads a JSON body of at most max bytes into v and answers the
// client itself when it cannot: 413 for a body too large, 400 for anything
// that is not the expected JSON, including a NUL character, which no text
// of ours holds and Postgres refuses.
func (s *Server) decodeJSON(w http.ResponseWriter, r *http.Request, v any, max int64, strict bool) bool {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("the body is larger than %d bytes", max))
		return false
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body could not be read")
		return false
	}
	if bytes.Contains(body, []byte(`\u0000`)) {
		writeError(w, http.StatusBadRequest, "invalid_text", "the body holds a NUL character")
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if strict {
		dec.DisallowUnknownFields()
	}
	if err := dec.Decode(v); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body is not the expected JSON: "+jsonProblem(err))
		return false
	}
	if dec.More() {
		writeError(w, http.StatusBadRequest, "invalid_json", "the body holds more than one JSON value")
		return false
	}
	return true
}

// jsonProblem says what is wrong without echoing the client's input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("field %q has the wrong type", typ.Field)
	case errors.Is(err, io.EOF):
		return "the body is empty"
	case strings.HasPrefix(err.Error(), "json: unknown field"):
		return strings.TrimPrefix(err.Error(), "json: ")
	}
	return "malformed"
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) { healthz(w, r) }

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	readyz(w, r, s.deps.Checks, s.deps.Log)
}

func healthz(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz answers 200 when every check passes, else 503 naming the parts
// that do not answer.
func readyz(w http.ResponseWriter, r *http.Request, checks []Check, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	status := map[string]string{}
	code := http.StatusOK
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			status[c.Name] = "unavailable"
			code = http.StatusServiceUnavailable
			log.Warn("readiness check failed", "check", c.Name, "error", err)
		} else {
			status[c.Name] = "ok"
		}
	}
	writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "checks": status})
}

// NewProbe serves what a process without the API offers its orchestrator:
// /healthz, /readyz (the checks) and /metrics (the registry), all public
// and without personal data.
func NewProbe(checks []Check, metrics *prometheus.Registry, log *slog.Logger) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", healthz)
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) { readyz(w, r, checks, log) })
	mux.Handle("GET /metrics", promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}))
	return mux
}

type list[T any] struct {
	Items []T `json:"items"`
}

func (s *Server) listMyProposals(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	status := proposals.Status(r.URL.Query().Get("status"))
	if status != "" && !status.Valid() {
		writeError(w, http.StatusBadRequest, "invalid_status", "unknown status filter")
		return
	}
	items, err := s.deps.Proposals.ListForCitizen(r.Context(), p.Subject, status)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, list[proposals.Proposal]{Items: items})
}

func (s *Server) getMyProposal(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	item, err := s.deps.Proposals.GetForCitizen(r.Context(), p.Subject, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, item)
}

type eventView struct {
	events.Status
	Proposals []proposals.Proposal `json:"proposals"`
}

func (s *Server) getEvent(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	st, err := s.deps.Events.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	ps, err := s.deps.Proposals.ListForLifeEvent(r.Context(), st.ID)
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, eventView{Status: st, Proposals: ps})
}

// internal logs the real error and answers with a stable code only.
func (s *Server) internal(w http.ResponseWriter, r *http.Request, err error) {
	s.deps.Log.ErrorContext(r.Context(), "request failed", "method", r.Method, "route", r.Pattern, "error", err)
	writeError(w, http.StatusInternalServerError, "internal", "something went wrong on our side; please try again")
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

func writeError(w http.ResponseWriter, code int, errCode, msg string) {
	writeJSON(w, code, map[string]apiError{"error": {Code: errCode, Message: msg}})
}

// HTTPConfig bounds what a client may hold of the server: a slow client
// that sends its body (or reads the answer) a byte a minute is cut off.
type HTTPConfig struct {
	ReadHeaderTimeout time.Duration
	// ReadTimeout covers the whole request, body included (a bundle of
	// 8 MiB on a slow line).
	ReadTimeout time.Duration
	// WriteTimeout covers the handler and the answer; a bundle's checks
	// may take up to a minute.
	WriteTimeout   time.Duration
	IdleTimeout    time.Duration
	MaxHeaderBytes int
}

// DefaultHTTPConfig are the limits the binary serves with.
func DefaultHTTPConfig() HTTPConfig {
	return HTTPConfig{
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      90 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
	}
}

// Validate reports a limit that is not set.
func (c HTTPConfig) Validate() error {
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 || c.MaxHeaderBytes <= 0 {
		return errors.New("httpapi: every HTTP timeout and the header limit must be positive")
	}
	return nil
}

// NewHTTPServer serves h with the limits of c.
func NewHTTPServer(h http.Handler, c HTTPConfig, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    c.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
}
