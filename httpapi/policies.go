package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
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
	Load(ctx context.Context, b *policies.Bundle) (policies.TestReport, error)
	Eval(ctx context.Context, query string, input map[string]any) (policies.Decision, error)
}

// BundleStore shares accepted uploads with every process.
type BundleStore interface {
	Save(ctx context.Context, revision string, raw []byte, by string) error
}

func policy(p auth.Principal) bool { return p.Has(auth.RolePolicy) }

const maxBundle = 8 << 20

func (s *Server) getPolicies(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	type service struct {
		ID       string            `json:"id"`
		Name     map[string]string `json:"name"`
		Triggers []string          `json:"triggers"`
		Policy   string            `json:"policy"`
	}
	var out []service
	for _, svc := range s.deps.Policies.Catalog().Sorted() {
		out = append(out, service{ID: svc.ID, Name: svc.Name, Triggers: svc.Triggers, Policy: svc.Policy})
	}
	writeJSON(w, http.StatusOK, map[string]any{"revision": s.deps.Policies.Revision(), "services": out})
}

// putPolicies accepts a bundle as `opa build` makes it. It goes live only
// after it compiled, its Rego tests passed and its catalog validated;
// otherwise the answer carries the compiler or test output and the running
// revision stays.
func (s *Server) putPolicies(w http.ResponseWriter, r *http.Request, p auth.Principal) {
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBundle))
	if err != nil {
		writeError(w, http.StatusRequestEntityTooLarge, "bundle_too_large", "the bundle is larger than 8 MiB")
		return
	}
	b, err := policies.TarballBundle(bytes.NewReader(raw))
	if err != nil {
		writeError(w, http.StatusBadRequest, "bundle_unreadable", "not a gzipped OPA bundle: "+err.Error())
		return
	}
	report, err := s.deps.Policies.Load(r.Context(), b)
	if errors.Is(err, policies.ErrRejected) {
		writeJSON(w, http.StatusUnprocessableEntity, map[string]any{
			"error": apiError{Code: "bundle_rejected", Message: err.Error()}, "tests": report,
			"revision": s.deps.Policies.Revision(),
		})
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	if s.deps.Bundles != nil {
		if err := s.deps.Bundles.Save(r.Context(), s.deps.Policies.Revision(), raw, p.Subject); err != nil {
			s.internal(w, r, err)
			return
		}
	}
	s.deps.Log.Info("policy bundle activated", "revision", s.deps.Policies.Revision(), "by", p.Subject)
	writeJSON(w, http.StatusOK, map[string]any{"revision": s.deps.Policies.Revision(), "tests": report})
}

func (s *Server) evalPolicy(w http.ResponseWriter, r *http.Request, _ auth.Principal) {
	var req struct {
		Service string         `json:"service"`
		Query   string         `json:"query"`
		Input   map[string]any `json:"input"`
	}
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil {
		writeError(w, http.StatusBadRequest, "invalid_json", "expected {\"service\" or \"query\", \"input\"}")
		return
	}
	q := req.Query
	if q == "" {
		q = req.Service
	}
	d, err := s.deps.Policies.Eval(r.Context(), q, req.Input)
	if errors.Is(err, policies.ErrUnknownService) {
		writeError(w, http.StatusNotFound, "unknown_service", "no such service or query in the active revision")
		return
	}
	if err != nil {
		s.internal(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, d)
}
