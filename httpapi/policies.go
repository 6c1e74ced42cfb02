package httpapi

import (
	"context"
	"errors"
	"io"
	"net/http"

	"github.com/lifeevents/lifeevents/auth"
	"github.com/lifeevents/lifeevents/policies"
)

// PolicyEngine is the running policy engine.
type PolicyEngine interface {
	Revision() string
	Catalog() policies.Catalog
	Check(ctx context.Context, b *policies.Bundle) (string, policies.TestReport, error)
	Load(ctx context.Context, b *policies.Bundle) (policies.TestReport, error)
	Eval(ctx context.Context, query string, input map[string]any) (policies.Decision, error)
}

// BundleStore keeps uploads and their approvals and shares the active
// revision with every process.
type BundleStore interface {
	Propose(ctx context.Context, revision string, raw []byte, by string, required int) (policies.Revision, error)
	Approve(ctx context.Context, revision, by string, required int, vet func(raw []byte) error) (policies.Revision, []byte, error)
	Proposed(ctx context.Context) ([]policies.Revision, error)
}

func (s *Server) getPolicies(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	type service struct {
		ID       string            `json:"id"`
		Name     map[string]string `json:"name"`
		Triggers []string          `json:"triggers"`
		Policy   string            `json:"policy"`
	}
	out := []service{}
	for _, svc := range s.deps.Policies.Catalog().Sorted() {
		out = append(out, service{ID: svc.ID, Name: svc.Name, Triggers: svc.Triggers, Policy: svc.Policy})
	}
	proposed := []policies.Revision{}
	if s.deps.Bundles != nil {
		var err error
		if proposed, err = s.deps.Bundles.Proposed(r.Context()); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"revision": s.deps.Policies.Revision(), "services": out,
		"proposed": proposed, "approvalsRequired": s.approvers(),
	})
}

// approvers is how many different people must approve an upload.
func (s *Server) approvers() int {
	if s.deps.PolicyApprovers < 1 {
		return 2
	}
	return s.deps.PolicyApprovers
}

// checkSlot takes the one place for a bundle check, or answers 429.
func (s *Server) checkSlot(w http.ResponseWriter) bool {
	select {
	case s.checking <- struct{}{}:
		return true
	default:
		writeError(w, http.StatusTooManyRequests, "upload_busy", "another bundle is being checked; try again in a minute")
		return false
	}
}

// bundleRefused answers a bundle that failed a check, naming what it broke;
// the running revision is unchanged.
func (s *Server) bundleRefused(w http.ResponseWriter, r *http.Request, err error, report policies.TestReport) {
	body := map[string]any{"tests": report, "revision": s.deps.Policies.Revision()}
	var le *policies.LimitError
	var be *policies.BuiltinError
	var ge *policies.GuaranteeError
	switch {
	case errors.As(err, &le):
		body["error"] = apiError{Code: "bundle_limit", Message: le.Message}
		body["limit"] = le.Limit
		writeJSON(w, http.StatusRequestEntityTooLarge, body)
	case errors.As(err, &be):
		body["error"] = apiError{Code: "bundle_forbidden_builtin", Message: be.Error()}
		body["builtin"] = be.Builtin
		writeJSON(w, http.StatusUnprocessableEntity, body)
	case errors.As(err, &ge):
		body["error"] = apiError{Code: "bundle_guarantee", Message: ge.Error()}
		body["guarantee"] = ge.Guarantee
		writeJSON(w, http.StatusUnprocessableEntity, body)
	case errors.Is(err, policies.ErrRejected):
		body["error"] = apiError{Code: "bundle_rejected", Message: err.Error()}
		writeJSON(w, http.StatusUnprocessableEntity, body)
	default:
		writeError(w, http.StatusBadRequest, "bundle_unreadable", "not a gzipped OPA bundle: "+err.Error())
	}
}

// putPolicies accepts a bundle as `opa build` makes it. It is read under
// limits, compiled without network builtins, its Rego tests and the
// platform guarantees run; a bundle that passes is a proposed revision that
// goes live once a second, different policy user approves it.
func (s *Server) putPolicies(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	limits := policies.DefaultLimits()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limits.Compressed))
	var tooLarge *http.MaxBytesError
	if err != nil && !errors.As(err, &tooLarge) {
		writeError(w, http.StatusBadRequest, "bundle_unreadable", "the upload could not be read")
		return
	}
	if err != nil {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]any{
			"error": apiError{Code: "bundle_limit", Message: "the bundle is larger than 8 MiB compressed"}, "limit": "compressed_size",
		})
		return
	}
	// One bundle check at a time, once the body is in: each may take a
	// core for up to policies.CheckTimeout.
	if !s.checkSlot(w) {
		return
	}
	defer func() { <-s.checking }()
	b, err := policies.ReadUpload(raw, limits)
	if err != nil {
		s.bundleRefused(w, r, err, policies.TestReport{})
		return
	}
	revision, report, err := s.deps.Policies.Check(r.Context(), b)
	if err != nil {
		s.bundleRefused(w, r, err, report)
		return
	}
	rev, err := s.deps.Bundles.Propose(r.Context(), revision, raw, p.Subject, s.approvers())
	if err != nil {
		s.fail(w, r, err)
		return
	}
	if rev.ActivatedAt == nil {
		s.deps.Log.Info("policy bundle proposed", "revision", revision, "by", p.Subject)
		writeJSON(w, http.StatusAccepted, map[string]any{
			"revision": revision, "status": "proposed", "proposal": rev, "approvalsRequired": s.approvers(),
			"active": s.deps.Policies.Revision(), "tests": report,
		})
		return
	}
	if _, err := s.deps.Policies.Load(r.Context(), b); err != nil {
		s.internal(w, r, err)
		return
	}
	s.deps.Log.Info("policy bundle activated", "revision", revision, "by", p.Subject, "approvers", 1)
	writeJSON(w, http.StatusOK, map[string]any{"revision": revision, "status": "active", "proposal": rev, "tests": report})
}

// approvePolicies records a policy user's approval; the last one required
// makes the revision live.
func (s *Server) approvePolicies(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	revision := r.PathValue("revision")
	if !s.checkSlot(w) { // the last approval checks the bundle again
		return
	}
	defer func() { <-s.checking }()
	var report policies.TestReport
	vet := func(raw []byte) error {
		b, err := policies.ReadUpload(raw, policies.DefaultLimits())
		if err != nil {
			return err
		}
		_, report, err = s.deps.Policies.Check(r.Context(), b)
		return err
	}
	rev, raw, err := s.deps.Bundles.Approve(r.Context(), revision, p.Subject, s.approvers(), vet)
	var le *policies.LimitError
	switch {
	case errors.As(err, &le):
		// It passed when uploaded; this version's limits refuse it.
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": apiError{Code: "bundle_limit", Message: le.Message}, "limit": le.Limit, "revision": s.deps.Policies.Revision(),
		})
		return
	case errors.Is(err, policies.ErrRejected):
		// It passed when uploaded; this version's checks refuse it.
		s.bundleRefused(w, r, err, report)
		return
	case err != nil:
		s.fail(w, r, err)
		return
	}
	if raw == nil {
		writeJSON(w, http.StatusOK, map[string]any{"revision": revision, "status": "proposed", "proposal": rev, "approvalsRequired": s.approvers()})
		return
	}
	b, err := policies.ReadUpload(raw, policies.DefaultLimits())
	if err == nil {
		_, err = s.deps.Policies.Load(r.Context(), b)
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	s.deps.Log.Info("policy bundle activated", "revision", revision, "approvedBy", p.Subject, "approvals", len(rev.Approvals))
	writeJSON(w, http.StatusOK, map[string]any{"revision": revision, "status": "active", "proposal": rev})
}

func (s *Server) evalPolicy(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	var req struct {
		Service string         `json:"service"`
		Query   string         `json:"query"`
		Input   map[string]any `json:"input"`
	}
	if !s.decodeJSON(w, r, &req, 1<<20, false) {
		return
	}
	q := req.Query
	if q == "" {
		q = req.Service
	}
	d, err := s.deps.Policies.Eval(r.Context(), q, req.Input)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
