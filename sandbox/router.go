package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"slices"
	"sort"
	"strings"
	"time"
)

// route is one operation: its operationId, the policy service class it belongs to and its
// handler. A public route (list-zones) is served to unsigned requests too; a request that does
// carry a valid signature is held to the policies like any other.
type route struct {
	name    string
	service string
	handle  func(s *Sandbox, c *call) response
	public  bool
}

// call is one authenticated request as a handler sees it.
type call struct {
	r      *http.Request
	id     string // the path's {id}, decoded
	body   []byte
	key    string // the calling IAM key ("" for unsigned requests to public routes)
	zone   string
	start  time.Time
	caller *caller        // who signed the request (nil when unsigned)
	policy *policyRequest // the CEL bindings the request passed the policies with
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

// Service classes for policy enforcement. Exoscale documents iam for keys, roles and policies,
// and compute for list-zones and get-operation. The rest is an assumption of this sandbox, taken
// from the portal grouping (the "parent" of each operation's tag in Exoscale's OpenAPI
// document), which nothing proves to be the policy class:
//   - svcAI: AI API keys and deployments. The tags say "ai" for keys and "dedicated-inference"
//     for deployments; the sandbox files both under "ai", so one service entry covers an AI
//     key's whole workflow.
//   - list-users: "iam" (its tag's parent).
//   - get-organization: "iam" (its tag has no parent; the organization is IAM's subject).
//   - svcEvents: list-events, "audit-trail" (its tag's parent).
const (
	svcIAM     = "iam"
	svcAI      = "ai"
	svcCompute = "compute"
	svcEvents  = "audit-trail"
)

var (
	apiKeys = methods{
		http.MethodGet:  {"list-api-keys", svcIAM, (*Sandbox).listAPIKeys, false},
		http.MethodPost: {"create-api-key", svcIAM, (*Sandbox).createAPIKey, false},
	}
	apiKey = methods{
		http.MethodGet:    {"get-api-key", svcIAM, (*Sandbox).getAPIKey, false},
		http.MethodDelete: {"delete-api-key", svcIAM, (*Sandbox).deleteAPIKey, false},
	}
	aiKeys = methods{
		http.MethodGet:  {"list-ai-api-keys", svcAI, (*Sandbox).listAIKeys, false},
		http.MethodPost: {"create-ai-api-key", svcAI, (*Sandbox).createAIKey, false},
	}
	aiKeyOne = methods{
		http.MethodGet:    {"get-ai-api-key", svcAI, (*Sandbox).getAIKey, false},
		http.MethodPatch:  {"update-ai-api-key", svcAI, (*Sandbox).updateAIKey, false},
		http.MethodDelete: {"delete-ai-api-key", svcAI, (*Sandbox).deleteAIKey, false},
	}
	aiKeyRotate = methods{http.MethodPost: {"rotate-ai-api-key", svcAI, (*Sandbox).rotateAIKey, false}}
	aiKeyReveal = methods{http.MethodGet: {"reveal-ai-api-key", svcAI, (*Sandbox).revealAIKey, false}}
	roles       = methods{
		http.MethodGet:  {"list-iam-roles", svcIAM, (*Sandbox).listRoles, false},
		http.MethodPost: {"create-iam-role", svcIAM, (*Sandbox).createRole, false},
	}
	roleOne = methods{
		http.MethodGet:    {"get-iam-role", svcIAM, (*Sandbox).getRole, false},
		http.MethodPut:    {"update-iam-role", svcIAM, (*Sandbox).updateRole, false},
		http.MethodDelete: {"delete-iam-role", svcIAM, (*Sandbox).deleteRole, false},
	}
	rolePolicy = methods{http.MethodPut: {"update-iam-role-policy", svcIAM, (*Sandbox).updateRolePolicy, false}}
	roleAssume = methods{http.MethodPost: {"assume-iam-role", svcIAM, (*Sandbox).assumeRole, false}}
	orgPolicy  = methods{
		http.MethodGet: {"get-iam-organization-policy", svcIAM, (*Sandbox).getOrgPolicy, false},
		http.MethodPut: {"update-iam-organization-policy", svcIAM, (*Sandbox).updateOrgPolicy, false},
	}
	orgPolicyReset = methods{http.MethodPost: {"reset-iam-organization-policy", svcIAM, (*Sandbox).resetOrgPolicy, false}}
	deployments    = methods{http.MethodGet: {"list-deployments", svcAI, (*Sandbox).listDeployments, false}}
	deploymentOne  = methods{http.MethodGet: {"get-deployment", svcAI, (*Sandbox).getDeployment, false}}
	deploymentKey  = methods{http.MethodGet: {"reveal-deployment-api-key", svcAI, (*Sandbox).revealDeploymentKey, false}}
	operationOne   = methods{http.MethodGet: {"get-operation", svcCompute, (*Sandbox).getOperation, false}}
	zones          = methods{http.MethodGet: {"list-zones", svcCompute, (*Sandbox).listZones, true}}
	events         = methods{http.MethodGet: {"list-events", svcEvents, (*Sandbox).listEvents, false}}
	users          = methods{http.MethodGet: {"list-users", svcIAM, (*Sandbox).listUsers, false}}
	organization   = methods{http.MethodGet: {"get-organization", svcIAM, (*Sandbox).getOrganization, false}}
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
		case "event":
			return events, ""
		case "user":
			return users, ""
		case "organization":
			return organization, ""
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
		if segs[0] == "iam-role" && segs[2] == "assume" {
			return roleAssume, segs[1]
		}
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
// fault, is routed (404 unknown path, 405 wrong method), has its signature verified (list-zones
// may come unsigned) and is checked against the organization policy and the calling key's role
// policy before its handler runs; a change it applies is recorded as an event.
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

// handle routes, authenticates, authorises and runs one request, and records an event for each
// change it applies.
func (s *Sandbox) handle(r *http.Request, p string) response {
	start := time.Now()
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
	c := &call{r: r, id: id, zone: s.zoneOf(r), start: start}
	if rt.public && r.Header.Get("Authorization") == "" {
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
		if rt.public && c.caller == nil {
			// A public route with a signature that does not verify is served as unsigned.
			return rt.handle(s, c)
		}
		return resp
	}
	resp := rt.handle(s, c)
	if r.Method != http.MethodGet && resp.status >= 200 && resp.status < 300 {
		s.recordEvent(c, rt, resp.status)
	}
	return resp
}

// caller is the credential that signed a request: an IAM key, or an assumed role's session.
type caller struct {
	key, name, roleID, roleName string
}

// authorize verifies the signature, then the organization policy and the calling key's role
// policy, and sets c.key and c.caller.
func (s *Sandbox) authorize(r *http.Request, rt route, c *call) (response, bool) {
	var (
		rolePol, orgPol *policy
		canReset        bool
		who             caller
	)
	now := s.opts.now()
	secretFor := func(key string) (string, bool) {
		s.mu.RLock()
		defer s.mu.RUnlock()
		secret, name, roleID, ok := s.credential(key, now)
		if !ok {
			return "", false
		}
		who = caller{key: key, name: name, roleID: roleID}
		if ro := s.roles[roleID]; ro != nil {
			who.roleName = ro.Name
			rolePol = ro.Policy
			for _, perm := range ro.Permissions {
				canReset = canReset || perm == "reset-iam-organization-policy"
			}
		}
		orgPol = s.orgPolicy
		return secret, true
	}
	key, err := verifySignature(signedRequest{
		method:      r.Method,
		escapedPath: wirePath(r),
		rawQuery:    r.URL.RawQuery,
		body:        c.body,
		header:      r.Header.Get("Authorization"),
	}, now, secretFor)
	if err != nil {
		return messageResponse(http.StatusForbidden, "Invalid request signature"), false
	}
	c.key, c.caller = key, &who
	req := s.newPolicyRequest(c, rt, now)
	// The reset-iam-organization-policy permission is the way out of an organization policy
	// that locks everyone out, so it skips the organization policy for that one operation.
	if !(canReset && rt.name == "reset-iam-organization-policy") && !orgPol.allows(req) {
		return messageResponse(http.StatusForbidden, "Forbidden by organization policy for "+rt.service), false
	}
	if !rolePol.allows(req) {
		return messageResponse(http.StatusForbidden, "Forbidden by role policy for "+rt.service), false
	}
	c.policy = req
	return response{}, true
}

// credential finds the secret of an IAM key or of a current assumed-role session; the caller
// holds s.mu.
func (s *Sandbox) credential(key string, now time.Time) (secret, name, roleID string, ok bool) {
	if k, ok := s.keys[key]; ok {
		return k.secret, k.name, k.roleID, true
	}
	if ss, ok := s.sessions[key]; ok && now.Before(ss.expires) {
		return ss.secret, ss.name, ss.roleID, true
	}
	return "", "", "", false
}

// resourceKinds names, per operation on one object, the key under which the object appears in
// the resources binding (resources.iam_role.name).
var resourceKinds = map[string]string{
	"get-api-key": "api_key", "delete-api-key": "api_key",
	"get-iam-role": "iam_role", "update-iam-role": "iam_role", "delete-iam-role": "iam_role",
	"update-iam-role-policy": "iam_role", "assume-iam-role": "iam_role",
	"get-ai-api-key": "ai_api_key", "update-ai-api-key": "ai_api_key", "delete-ai-api-key": "ai_api_key",
	"rotate-ai-api-key": "ai_api_key", "reveal-ai-api-key": "ai_api_key",
	"get-deployment": "deployment", "reveal-deployment-api-key": "deployment",
}

// newPolicyRequest gathers the CEL bindings of an authenticated call; parameters and resources
// are read only when a rule needs them.
func (s *Sandbox) newPolicyRequest(c *call, rt route, now time.Time) *policyRequest {
	return &policyRequest{
		operation: rt.name,
		service:   rt.service,
		zone:      c.zone,
		now:       now,
		sourceIP:  sourceIP(c.r),
		apiKey:    c.key,
		gather: func(r *policyRequest) {
			params := map[string]any{}
			for k, v := range c.bodyParams() {
				params[k] = celValue(v)
			}
			for k, vs := range c.r.URL.Query() {
				if len(vs) > 0 {
					params[k] = vs[0]
				}
			}
			if c.id != "" {
				params["id"] = c.id
			}
			r.parameters = params
			r.resources = s.resourcesOf(rt.name, c.id)
		},
	}
}

// resourcesOf describes the object an operation touches, when it names one that exists.
func (s *Sandbox) resourcesOf(op, id string) map[string]any {
	kind, ok := resourceKinds[op]
	if !ok || id == "" {
		return map[string]any{}
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	var obj map[string]any
	switch kind {
	case "api_key":
		if k, ok := s.keys[id]; ok {
			obj = map[string]any{"key": k.key, "name": k.name, "role-id": k.roleID}
		}
	case "iam_role":
		if r, ok := s.roles[strings.ToLower(id)]; ok {
			obj = map[string]any{"id": r.ID, "name": r.Name, "editable": r.Editable}
		}
	case "ai_api_key":
		if k, ok := s.aiKeys[strings.ToLower(id)]; ok {
			obj = map[string]any{"id": k.id, "name": k.name, "scope": k.scope}
		}
	case "deployment":
		if d, ok := s.deps[strings.ToLower(id)]; ok {
			obj = map[string]any{"id": d.ID, "name": d.Name, "visibility": d.Visibility}
		}
	}
	if obj == nil {
		return map[string]any{}
	}
	return map[string]any{kind: obj}
}

// bodyParams is the request body's top-level object (numbers as json.Number), or nil when the
// body is empty or not an object.
func (c *call) bodyParams() map[string]any {
	if len(c.body) == 0 {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(c.body))
	dec.UseNumber()
	var m map[string]any
	if dec.Decode(&m) != nil {
		return nil
	}
	return m
}

// celValue turns a decoded JSON value into one CEL takes: json.Number becomes int64 when it is
// an integer, else float64.
func celValue(v any) any {
	switch v := v.(type) {
	case json.Number:
		if i, err := v.Int64(); err == nil {
			return i
		}
		f, _ := v.Float64()
		return f
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = celValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = celValue(e)
		}
		return out
	}
	return v
}

// sourceIP is the client's address as the connection shows it. Forwarding headers are not
// trusted: a client could set them to pass an inIpRange rule.
func sourceIP(r *http.Request) string {
	if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return host
	}
	return r.RemoteAddr
}

// zoneOf is the zone of a request: the one its Host names (api-ZONE.exoscale.com, for clients
// that reach the sandbox under real endpoint names), else the sandbox's zone (WithZone).
func (s *Sandbox) zoneOf(r *http.Request) string {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if z, ok := strings.CutPrefix(strings.ToLower(host), "api-"); ok {
		if z, ok := strings.CutSuffix(z, ".exoscale.com"); ok && slices.Contains(zoneNames, z) {
			return z
		}
	}
	return s.opts.zone
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
