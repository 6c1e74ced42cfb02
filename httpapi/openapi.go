package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
)

// OpenAPI describes the API as OpenAPI 3.1, built from the route table so
// the description cannot drift from what is served: every route with its
// role (x-role), its path parameters and the errors it can answer.
func (s *Server) OpenAPI() map[string]any {
	paths := map[string]map[string]any{}
	for _, rt := range s.routes {
		if rt.Method == "" || rt.Page {
			continue // the catch-all and the portal's pages are not API
		}
		op := map[string]any{
			"summary":     rt.Summary,
			"operationId": operationID(rt),
			"x-role":      string(rt.Role),
			"responses":   responses(rt),
		}
		if rt.Role == Public {
			op["security"] = []any{}
		} else {
			op["security"] = []any{map[string]any{"bearer": []any{}}}
		}
		var params []any
		for _, name := range pathWildcards(rt.Path) {
			params = append(params, map[string]any{
				"name": name, "in": "path", "required": true,
				"schema": map[string]any{"type": "string", "minLength": 1, "maxLength": maxID},
			})
		}
		if params != nil {
			op["parameters"] = params
		}
		if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
			ct := "application/json"
			if rt.Path == "/api/v1/policies" {
				ct = "application/gzip"
			}
			op["requestBody"] = map[string]any{"required": rt.Method == http.MethodPut || strings.HasSuffix(rt.Path, "/decision"),
				"content": map[string]any{ct: map[string]any{}}}
		}
		p := paths[rt.Path]
		if p == nil {
			p = map[string]any{}
			paths[rt.Path] = p
		}
		p[strings.ToLower(rt.Method)] = op
	}
	return map[string]any{
		"openapi": "3.1.0",
		"info": map[string]any{
			"title":   "lifeevents API",
			"version": "1",
			"description": "Life events in, proactive proposals out. Every request but the public ones carries " +
				"`Authorization: Bearer <JWT>` with sub, roles (a JSON array of strings), iss, aud and exp. " +
				"x-role names the role each operation needs. Errors are {\"error\":{\"code\",\"message\"}}. " +
				"When tracing is on, a W3C traceparent header is continued: an application's journey and the agency's " +
				"webhook are in the trace of the request that posted it.",
		},
		"paths": paths,
		"components": map[string]any{
			"securitySchemes": map[string]any{"bearer": map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
			"schemas": map[string]any{"Error": map[string]any{
				"type": "object", "required": []string{"error"},
				"properties": map[string]any{"error": map[string]any{
					"type": "object", "required": []string{"code", "message"},
					"properties": map[string]any{"code": map[string]any{"type": "string"}, "message": map[string]any{"type": "string"}},
				}},
			}},
		},
	}
}

func operationID(rt Route) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(rt.Method))
	for _, seg := range strings.Split(rt.Path, "/") {
		seg = strings.Trim(seg, "{}$")
		if seg == "" || seg == "api" || seg == "v1" {
			continue
		}
		for _, part := range strings.FieldsFunc(seg, func(r rune) bool { return r == '-' || r == '.' || r == '_' }) {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String()
}

func responses(rt Route) map[string]any {
	errRef := map[string]any{"description": "error", "content": map[string]any{"application/json": map[string]any{
		"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}}
	out := map[string]any{"200": map[string]any{"description": "success"}}
	switch {
	case rt.Method == http.MethodPost && rt.Path == "/api/v1/me/consents":
		out = map[string]any{"201": map[string]any{"description": "created"}}
	case rt.Method == http.MethodPost && rt.Path == "/api/v1/applications":
		out = map[string]any{"202": map[string]any{"description": "accepted, with the event id"}}
	case rt.Method == http.MethodPut:
		out["202"] = map[string]any{"description": "proposed: it goes live when approved"}
	}
	if rt.Role != Public {
		out["401"] = errRef
		out["403"] = errRef
	}
	if len(pathWildcards(rt.Path)) > 0 {
		out["404"] = errRef
	}
	if rt.Method == http.MethodPost || rt.Method == http.MethodPut {
		out["400"] = errRef
		out["409"] = errRef
		out["413"] = errRef
		out["422"] = errRef
	}
	out["500"] = errRef
	return out
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(s.OpenAPI())
}
