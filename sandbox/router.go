package sandbox

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
)

// route is one operation: its operationId, the policy service it belongs to ("" = public,
// unsigned, never enforced) and its handler.
type route struct {
	name    string
	service string
	handle  func(s *Sandbox, c *call) response
}

// call is one authenticated request as a handler sees it.
type call struct {
	r    *http.Request
	id   string // the path's {id}, decoded
	body []byte
	key  string // the calling IAM key ("" for public routes)
}

// methods maps an HTTP method to the route serving it on one path pattern.
type methods map[string]route

func (m methods) allow() string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

// Services for policy enforcement (contract: iam, ai, compute for operations).
const (
	svcIAM     = "iam"
	svcAI      = "ai"
	svcCompute = "compute"
)

var (
	apiKeys = methods{
		http.MethodGet:  {"list-api-keys", svcIAM, (*Sandbox).listAPIKeys},
		http.MethodPost: {"create-api-key", svcIAM, (*Sandbox).createAPIKey},
	}
	apiKey = methods{
		http.MethodGet:    {"get-api-key", svcIAM, (*Sandbox).getAPIKey},
		http.MethodDelete: {"delete-api-key", svcIAM, (*Sandbox).deleteAPIKey},
	}
	aiKeys = methods{
		http.MethodGet:  {"list-ai-api-keys", svcAI, (*Sandbox).listAIKeys},
		http.MethodPost: {"create-ai-api-key", svcAI, (*Sandbox).createAIKey},
	}
	aiKeyOne = methods{
		http.MethodGet:    {"get-ai-api-key", svcAI, (*Sandbox).getAIKey},
		http.MethodPatch:  {"update-ai-api-key", svcAI, (*Sandbox).updateAIKey},
		http.MethodDelete: {"delete-ai-api-key", svcAI, (*Sandbox).deleteAIKey},
	}
	aiKeyRotate = methods{http.MethodPost: {"rotate-ai-api-key", svcAI, (*Sandbox).rotateAIKey}}
	aiKeyReveal = methods{http.MethodGet: {"reveal-ai-api-key", svcAI, (*Sandbox).revealAIKey}}
	roles       = methods{
		http.MethodGet:  {"list-iam-roles", svcIAM, (*Sandbox).listRoles},
		http.MethodPost: {"create-iam-role", svcIAM, (*Sandbox).createRole},
	}
	roleOne = methods{
		http.MethodGet:    {"get-iam-role", svcIAM, (*Sandbox).getRole},
		http.MethodPut:    {"update-iam-role", svcIAM, (*Sandbox).updateRole},
		http.MethodDelete: {"delete-iam-role", svcIAM, (*Sandbox).deleteRole},
	}
	rolePolicy = methods{http.MethodPut: {"update-iam-role-policy", svcIAM, (*Sandbox).updateRolePolicy}}
	orgPolicy  = methods{
		http.MethodGet: {"get-iam-organization-policy", svcIAM, (*Sandbox).getOrgPolicy},
		http.MethodPut: {"update-iam-organization-policy", svcIAM, (*Sandbox).updateOrgPolicy},
	}
	orgPolicyReset = methods{http.MethodPost: {"reset-iam-organization-policy", svcIAM, (*Sandbox).resetOrgPolicy}}
	deployments    = methods{http.MethodGet: {"list-deployments", svcAI, (*Sandbox).listDeployments}}
	deploymentOne  = methods{http.MethodGet: {"get-deployment", svcAI, (*Sandbox).getDeployment}}
	deploymentKey  = methods{http.MethodGet: {"reveal-deployment-api-key", svcAI, (*Sandbox).revealDeploymentKey}}
	operationOne   = methods{http.MethodGet: {"get-operation", svcCompute, (*Sandbox).getOperation}}
	zones          = methods{http.MethodGet: {"list-zones", "", (*Sandbox).listZones}}
)

// match finds the path pattern of p (the decoded path below /v2) and its {id}.
func match(p string) (methods, string) {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for _, s := range segs[1:] {
		if s == "" { // "/api-key/" or "//": no such path
			return nil, ""
		}
	}
	switch len(segs) {
	case 1:
		switch segs[0] {
		case "api-key":
			return apiKeys, ""
		case "iam-role":
			return roles, ""
		case "iam-organization-policy":
			return orgPolicy, ""
		case "iam-organization-policy:reset":
			return orgPolicyReset, ""
		case "zone":
			return zones, ""
		}
	case 2:
		switch segs[0] {
		case "api-key":
			return apiKey, segs[1]
		case "iam-role":
			if id, ok := strings.CutSuffix(segs[1], ":policy"); ok && id != "" {
				return rolePolicy, id
			}
			return roleOne, segs[1]
		case "operation":
			return operationOne, segs[1]
		case "ai":
			switch segs[1] {
			case "api-key":
				return aiKeys, ""
			case "deployment":
				return deployments, ""
			}
		}
	case 3:
		if segs[0] == "ai" {
			switch segs[1] {
			case "api-key":
				return aiKeyOne, segs[2]
			case "deployment":
				return deploymentOne, segs[2]
			}
		}
	case 4:
		if segs[0] == "ai" {
			switch segs[1] + "/" + segs[3] {
			case "api-key/rotate":
				return aiKeyRotate, segs[2]
			case "api-key/reveal":
				return aiKeyReveal, segs[2]
			case "deployment/api-key":
				return deploymentKey, segs[2]
			}
		}
	}
	return nil, ""
}

// ServeHTTP serves the Exoscale API v2 under /v2. Each request is counted, may take an injected
// fault, is routed (404 unknown path, 405 wrong method), has its signature verified (except
// list-zones) and is checked against the organization policy and the calling key's role policy
// before its handler runs.
func (s *Sandbox) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, ok := strings.CutPrefix(r.URL.Path, "/v2")
	if !ok || p != "" && p[0] != '/' {
		problem(http.StatusNotFound, "not-found", "Not Found", "no such path: the API is served under /v2", nil).write(w)
		return
	}
	if p == "" {
		p = "/"
	}
	s.countRequest(r.Method, p)
	f, faulted := s.takeFault(r.Method, p)
	if !faulted {
		s.handle(r, p).write(w)
		return
	}
	if f.AfterApply {
		resp := s.handle(r, p)
		if !sleepCtx(r.Context(), f.Delay) {
			return // the client gave up; the change was applied all the same
		}
		if f.replacesResponse() {
			writeFault(w, f)
			return
		}
		resp.write(w)
		return
	}
	if f.Delay > 0 && r.Body != nil {
		// net/http notices a client that went away only once the body is read: read it
		// first, so a delayed POST ends with its client instead of sleeping on.
		body, _ := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	if !sleepCtx(r.Context(), f.Delay) {
		return
	}
	if f.replacesResponse() {
		writeFault(w, f)
		return
	}
	s.handle(r, p).write(w)
}

// handle routes, authenticates, authorises and runs one request.
func (s *Sandbox) handle(r *http.Request, p string) response {
	ms, id := match(p)
	if ms == nil {
		return problem(http.StatusNotFound, "not-found", "Not Found", "no such path: "+quoteID("/v2"+p), nil)
	}
	rt, ok := ms[r.Method]
	if !ok {
		resp := problem(http.StatusMethodNotAllowed, "method-not-allowed", "Method Not Allowed",
			r.Method+" is not allowed here; allowed: "+ms.allow(), nil)
		resp.allow = ms.allow()
		return resp
	}
	c := &call{r: r, id: id}
	if rt.service == "" {
		return rt.handle(s, c)
	}
	var body []byte
	var err error
	if r.Body != nil {
		body, err = io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBodyBytes))
	}
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return problem(http.StatusRequestEntityTooLarge, "payload-too-large", "Payload Too Large", "request body exceeds 1 MiB", nil)
		}
		return problem(http.StatusBadRequest, "invalid-request-body", "Invalid Request Body", "could not read the request body", nil)
	}
	c.body = body
	if resp, ok := s.authorize(r, rt, c); !ok {
		return resp
	}
	return rt.handle(s, c)
}

// authorize verifies the signature and both policies, and sets c.key.
func (s *Sandbox) authorize(r *http.Request, rt route, c *call) (response, bool) {
	var (
		rolePol, orgPol *policy
		canReset        bool
	)
	secretFor := func(key string) (string, bool) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		k, ok := s.keys[key]
		if !ok {
			return "", false
		}
		if ro := s.roles[k.roleID]; ro != nil {
			rolePol = ro.Policy
			for _, perm := range ro.Permissions {
				canReset = canReset || perm == "reset-iam-organization-policy"
			}
		}
		orgPol = s.orgPolicy
		return k.secret, true
	}
	key, err := verifySignature(signedRequest{
		method:      r.Method,
		escapedPath: wirePath(r),
		rawQuery:    r.URL.RawQuery,
		body:        c.body,
		header:      r.Header.Get("Authorization"),
	}, s.opts.now(), secretFor)
	if err != nil {
		return messageResponse(http.StatusForbidden, "Invalid request signature"), false
	}
	// The reset-iam-organization-policy permission is the way out of an organization policy
	// that locks everyone out, so it skips the organization policy for that one operation.
	if !(canReset && rt.name == "reset-iam-organization-policy") && orgPol != nil && !orgPol.allows(rt.service, rt.name) {
		return messageResponse(http.StatusForbidden, "Forbidden by organization policy for "+rt.service), false
	}
	if rolePol == nil || !rolePol.allows(rt.service, rt.name) {
		return messageResponse(http.StatusForbidden, "Forbidden by role policy for "+rt.service), false
	}
	c.key = key
	return response{}, true
}

// wirePath is the request path exactly as the client sent it (what it signed), falling back to
// the re-escaped path for requests built in-process without a RequestURI.
func wirePath(r *http.Request) string {
	if u := r.RequestURI; strings.HasPrefix(u, "/") {
		if i := strings.IndexByte(u, '?'); i >= 0 {
			u = u[:i]
		}
		return u
	}
	return r.URL.EscapedPath()
}
