package policies

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// forbidden says why a builtin is not available to policies. Policies
// decide on the data the journey hands them: a builtin that reaches the
// network or the process could carry citizens' register data past consent
// and the transfer log, and one that draws on the clock or chance makes a
// decision that cannot be repeated (audits and simulations replay them).
func forbidden(name string) (string, bool) {
	switch {
	case name == "http.send", strings.HasPrefix(name, "net."):
		return "it reaches the network", true
	case name == "opa.runtime":
		return "it reads the process's environment and configuration", true
	case name == "json.verify_schema", name == "json.match_schema":
		return "a schema's $ref reaches files and the network", true
	case name == "time.now_ns", name == "rand.intn", name == "uuid.rfc4122":
		return "it makes decisions unrepeatable (the journey passes the time in the input)", true
	}
	return "", false
}

// Capabilities are what policies may use: every builtin of this OPA
// version except the forbidden ones, and no network access at compile
// time either (remote JSON schemas).
func Capabilities() *ast.Capabilities {
	c := ast.CapabilitiesForThisVersion()
	c.Builtins = slices.DeleteFunc(c.Builtins, func(b *ast.Builtin) bool {
		_, no := forbidden(b.Name)
		return no
	})
	c.AllowNet = []string{}
	return c
}

// ForbiddenBuiltins lists the builtins policies may not call, sorted.
func ForbiddenBuiltins() []string {
	var out []string
	for _, b := range ast.CapabilitiesForThisVersion().Builtins {
		if _, no := forbidden(b.Name); no {
			out = append(out, b.Name)
		}
	}
	sort.Strings(out)
	return out
}

// BuiltinError names a forbidden builtin a bundle calls, and where.
type BuiltinError struct {
	Builtin  string
	Location string
	Why      string
}

func (e *BuiltinError) Error() string {
	return fmt.Sprintf("%s calls the builtin %s, which policies may not use: %s", e.Location, e.Builtin, e.Why)
}

func isBuiltin(name string) bool {
	_, ok := ast.BuiltinMap[name]
	return ok
}

// findForbidden reports the first call of a forbidden builtin in modules,
// in path order, so that the refusal names it instead of the compiler's
// "undefined function".
func findForbidden(modules map[string]*ast.Module) *BuiltinError {
	paths := make([]string, 0, len(modules))
	for p := range modules {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		var found *BuiltinError
		ast.WalkTerms(modules[p], func(t *ast.Term) bool {
			if found != nil {
				return true
			}
			ref, ok := t.Value.(ast.Ref)
			if !ok {
				return false
			}
			name := ref.String()
			if why, no := forbidden(name); no && isBuiltin(name) {
				loc := p
				if t.Location != nil {
					loc = fmt.Sprintf("%s:%d", p, t.Location.Row)
				}
				found = &BuiltinError{Builtin: name, Location: loc, Why: why}
				return true
			}
			return false
		})
		if found != nil {
			return found
		}
	}
	return nil
}
