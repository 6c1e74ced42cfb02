// Package httpapi serves the JSON API under /api/v1, the health and metrics
// endpoints and the citizen portal. Every API route names the role it needs;
// a citizen only ever reaches their own records.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/events"
	"github.com/lifeevents/lifeevents/proposals"
)

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
	Messages    MessageReader
	Consents    Consents
	Withdrawals WithdrawalNotifier
	Journeys    Journeys
	Submissions Submissions
	// Codec, when set, is served at /codec for operators: the stock
	// temporal CLI and UI decode encrypted histories through it.
	Codec   http.Handler
	Checks  []Check
	Metrics *prometheus.Registry
	Log     *slog.Logger
}

// Server is the HTTP handler of the whole API.
type Server struct {
	deps     Deps
	mux      *http.ServeMux
	requests *prometheus.HistogramVec
}

// New builds the handler and registers its metrics.
func New(d Deps) *Server {
	s := &Server{deps: d, mux: http.NewServeMux()}
	s.requests = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "lifeevents_http_request_seconds", Help: "API requests by route and status code.",
		Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
	}, []string{"route", "code"})
	d.Metrics.MustRegister(s.requests)

	s.handle("GET /healthz", s.healthz)
	s.handle("GET /readyz", s.readyz)
	s.mux.Handle("GET /metrics", promhttp.HandlerFor(d.Metrics, promhttp.HandlerOpts{}))
	s.handle("GET /{$}", portal)

	s.handle("GET /api/v1/me/proposals", s.require(citizen, s.listMyProposals))
	s.handle("GET /api/v1/me/proposals/{id}", s.require(citizen, s.getMyProposal))
	s.handle("GET /api/v1/ops/events/{id}", s.require(operator, s.getEvent))
	if d.Intake != nil {
		s.handle("POST /api/v1/applications", s.require(registry, s.postApplication))
	}
	if d.Policies != nil {
		s.handle("GET /api/v1/policies", s.require(policy, s.getPolicies))
		s.handle("PUT /api/v1/policies", s.require(policy, s.putPolicies))
		s.handle("POST /api/v1/policies/eval", s.require(policy, s.evalPolicy))
	}
	if d.Journeys != nil {
		s.handle("POST /api/v1/me/proposals/{id}/decision", s.require(citizen, s.decide))
	}
	if d.Submissions != nil && d.Journeys != nil {
		s.handle("GET /api/v1/agency/submissions", s.require(agency, s.listSubmissions))
		s.handle("POST /api/v1/agency/submissions/{id}/result", s.require(agency, s.submissionResult))
	}
	if d.Codec != nil {
		codec := http.StripPrefix("/codec", d.Codec)
		s.handle("POST /codec/", s.require(operator, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) { codec.ServeHTTP(w, r) }))
	}
	if d.Consents != nil {
		s.handle("GET /api/v1/me/consents", s.require(citizen, s.listMyConsents))
		s.handle("POST /api/v1/me/consents", s.require(citizen, s.giveConsent))
		s.handle("POST /api/v1/me/consents/{id}/withdraw", s.require(citizen, s.withdrawConsent))
		s.handle("GET /api/v1/me/consents/{id}/receipt", s.require(citizen, s.consentReceipt))
		s.handle("GET /api/v1/me/transfers", s.require(citizen, s.listMyTransfers))
		s.handle("GET /api/v1/me/export", s.require(citizen, s.export))
	}
	if d.Messages != nil {
		s.handle("GET /api/v1/me/messages", s.require(citizen, s.listMyMessages))
	}
	if d.DeadLetters != nil {
		s.handle("GET /api/v1/ops/dlq", s.require(operator, s.listDeadLetters))
		s.handle("POST /api/v1/ops/dlq/{id}/replay", s.require(operator, s.replayDeadLetter))
	}
	// Unknown API paths still need a valid token: an anonymous caller learns
	// nothing about which routes exist.
	s.handle("/api/", s.require(anyRole, func(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
		writeError(w, http.StatusNotFound, "not_found", "no such endpoint")
	}))
	return s
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// handle registers h and measures it under its route pattern, never the raw
// path (which would put ids into metric labels).
func (s *Server) handle(pattern string, h http.HandlerFunc) {
	route := pattern
	s.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		began := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.requests.WithLabelValues(route, http.StatusText(sw.code)).Observe(time.Since(began).Seconds())
	}))
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

// Role predicates.
func citizen(p auth.Principal) bool  { return p.Has(auth.RoleCitizen) }
func operator(p auth.Principal) bool { return p.Has(auth.RoleOperator) }
func anyRole(auth.Principal) bool    { return true }

type authedHandler func(w http.ResponseWriter, r *http.Request, p auth.Principal)

// require authenticates the bearer token and checks the role: 401 without
// a trustworthy token, 403 with one that lacks the role.
func (s *Server) require(allowed func(auth.Principal) bool, h authedHandler) http.HandlerFunc {
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
		if !allowed(p) {
			writeError(w, http.StatusForbidden, "forbidden", "your role does not allow this")
			return
		}
		h(w, r, p)
	}
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	status := map[string]string{}
	code := http.StatusOK
	for _, c := range s.deps.Checks {
		if err := c.Check(ctx); err != nil {
			status[c.Name] = "unavailable"
			code = http.StatusServiceUnavailable
			s.deps.Log.Warn("readiness check failed", "check", c.Name, "error", err)
		} else {
			status[c.Name] = "ok"
		}
	}
	writeJSON(w, code, map[string]any{"ready": code == http.StatusOK, "checks": status})
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
	if errors.Is(err, proposals.ErrNotFound) {
		writeError(w, http.StatusNotFound, "not_found", "no such proposal")
		return
	}
	if err != nil {
		s.internal(w, r, err)
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
	if errors.Is(err, events.ErrUnknownEvent) {
		writeError(w, http.StatusNotFound, "not_found", "no such life event")
		return
	}
	if err != nil {
		s.internal(w, r, err)
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
