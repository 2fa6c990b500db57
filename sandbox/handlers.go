package sandbox

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// ---- operations ----

// newOperation records an asynchronous operation for a change already applied; the caller holds
// s.mu for writing. The write's own response is always "pending": the state advances only by
// polling, so a client that never waits is caught.
func (s *Sandbox) newOperation(ref *reference) operation {
	op := &operation{ID: newUUID(), State: "pending", Reference: ref, pollsLeft: s.opts.pendingPolls}
	s.ops[op.ID] = op
	return *op
}

func (s *Sandbox) getOperation(c *call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	op, ok := s.ops[strings.ToLower(c.id)]
	if !ok {
		return notFound("operation", c.id)
	}
	if op.pollsLeft > 0 {
		op.pollsLeft--
	} else {
		op.State = "success"
	}
	return jsonResponse(http.StatusOK, op)
}

func ref(id, link, command string) *reference {
	return &reference{ID: id, Link: "/v2" + link, Command: command}
}

// ---- IAM API keys ----

type apiKeyJSON struct {
	Key    string `json:"key"`
	Name   string `json:"name"`
	RoleID string `json:"role-id"`
	Secret string `json:"secret,omitempty"`
}

func (s *Sandbox) listAPIKeys(*call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]apiKeyJSON, 0, len(s.keyOrder))
	for _, id := range s.keyOrder {
		k := s.keys[id]
		out = append(out, apiKeyJSON{Key: k.key, Name: k.name, RoleID: k.roleID})
	}
	return jsonResponse(http.StatusOK, map[string]any{"api-keys": out})
}

func (s *Sandbox) getAPIKey(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, ok := s.keys[c.id]
	if !ok {
		return notFound("api-key", c.id)
	}
	return jsonResponse(http.StatusOK, apiKeyJSON{Key: k.key, Name: k.name, RoleID: k.roleID})
}

func (s *Sandbox) createAPIKey(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"name", "role-id"}, nil)
	ck.required(root, m, "name", "role-id")
	var name, roleID string
	if v, ok := m["name"]; ok {
		name, _ = ck.str(root.field("name"), v, 1, 255)
	}
	if v, ok := m["role-id"]; ok {
		roleID, _ = ck.uuid(root.field("role-id"), v)
	}
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.roles[roleID]; !ok {
		ck.fail(root.field("role-id"), "no IAM role with this id (list-iam-roles shows the existing ones)")
		return invalidBody(ck.errs)
	}
	k := s.addKey(name, roleID)
	return jsonResponse(http.StatusOK, apiKeyJSON{Key: k.key, Name: k.name, RoleID: k.roleID, Secret: k.secret})
}

func (s *Sandbox) deleteAPIKey(c *call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.keys[c.id]
	if !ok {
		return notFound("api-key", c.id)
	}
	// The secret stays in s.minted: Secrets() covers every secret ever handed out.
	delete(s.keys, k.key)
	s.keyOrder = removeID(s.keyOrder, k.key)
	return jsonResponse(http.StatusOK, s.newOperation(ref(k.key, "/api-key/"+k.key, "get-api-key")))
}

// ---- AI API keys ----

type aiKeyJSON struct {
	ID        string `json:"id"`
	OrgUUID   string `json:"org-uuid"`
	Name      string `json:"name"`
	Scope     string `json:"scope"`
	CreatedAt string `json:"created-at"`
	UpdatedAt string `json:"updated-at"`
	Value     string `json:"value,omitempty"`
}

func timestamp(t time.Time) string { return t.UTC().Truncate(time.Second).Format(time.RFC3339) }

func (k *aiKey) json() aiKeyJSON {
	return aiKeyJSON{ID: k.id, OrgUUID: OrgID, Name: k.name, Scope: k.scope, CreatedAt: timestamp(k.created), UpdatedAt: timestamp(k.updated)}
}

func (s *Sandbox) listAIKeys(*call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]aiKeyJSON, 0, len(s.aiOrder))
	for _, id := range s.aiOrder {
		out = append(out, s.aiKeys[id].json())
	}
	return jsonResponse(http.StatusOK, map[string]any{"ai-api-keys": out})
}

func (s *Sandbox) lookupAIKey(id string) (*aiKey, *response) {
	k, ok := s.aiKeys[strings.ToLower(id)]
	if !ok {
		r := notFound("ai-api-key", id)
		return nil, &r
	}
	return k, nil
}

func (s *Sandbox) getAIKey(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, nf := s.lookupAIKey(c.id)
	if nf != nil {
		return *nf
	}
	return jsonResponse(http.StatusOK, k.json())
}

// aiKeyFields validates the fields of create-ai-api-key and update-ai-api-key. The scope's
// deployment is checked later, under the lock (scopeExists).
func aiKeyFields(ck *checker, m map[string]any) (name, scope string) {
	if v, ok := m["name"]; ok {
		l := root.field("name")
		if n, ok := ck.str(l, v, 1, 50); ok {
			if aiKeyNameRE.MatchString(n) {
				name = n
			} else {
				ck.fail(l, "does not match pattern "+aiKeyNamePattern+" (letters, digits, spaces and _'()- inside, starting and ending with a letter or digit)")
			}
		}
	}
	if v, ok := m["scope"]; ok {
		l := root.field("scope")
		if sc, ok := v.(string); !ok {
			ck.fail(l, "expected string, got "+jsonType(v))
		} else if sc != "public" && !isUUID(sc) {
			ck.fail(l, `expected "public" (every deployment) or the uuid of one AI deployment`)
		} else {
			scope = strings.ToLower(sc)
		}
	}
	return name, scope
}

// scopeExists checks a uuid scope names a deployment; the caller holds s.mu.
func (s *Sandbox) scopeExists(ck *checker, scope string) {
	if scope != "" && scope != "public" {
		if _, ok := s.deps[scope]; !ok {
			ck.fail(root.field("scope"), "no AI deployment with this id (list-deployments shows the existing ones)")
		}
	}
}

func (s *Sandbox) createAIKey(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"name", "scope"}, nil)
	ck.required(root, m, "name", "scope")
	name, scope := aiKeyFields(&ck, m)
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.scopeExists(&ck, scope); !ck.ok() {
		return invalidBody(ck.errs)
	}
	now := s.opts.now()
	k := &aiKey{id: newUUID(), name: name, scope: scope, value: newAIKeyValue(), created: now, updated: now}
	s.addAIKey(k)
	out := k.json()
	out.Value = k.value
	return jsonResponse(http.StatusOK, out)
}

func (s *Sandbox) updateAIKey(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"name", "scope"}, nil)
	_, hasName := m["name"]
	_, hasScope := m["scope"]
	if !hasName && !hasScope {
		ck.fail(root, "at least one of name, scope is required")
	}
	name, scope := aiKeyFields(&ck, m)
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	k, nf := s.lookupAIKey(c.id)
	if nf != nil {
		return *nf
	}
	if s.scopeExists(&ck, scope); !ck.ok() {
		return invalidBody(ck.errs)
	}
	if hasName {
		k.name = name
	}
	if hasScope {
		k.scope = scope
	}
	k.updated = s.opts.now()
	return jsonResponse(http.StatusOK, k.json())
}

func (s *Sandbox) deleteAIKey(c *call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, nf := s.lookupAIKey(c.id)
	if nf != nil {
		return *nf
	}
	delete(s.aiKeys, k.id)
	s.aiOrder = removeID(s.aiOrder, k.id)
	return jsonResponse(http.StatusOK, s.newOperation(ref(k.id, "/ai/api-key/"+k.id, "get-ai-api-key")))
}

type valueJSON struct {
	Value string `json:"value"`
}

func (s *Sandbox) rotateAIKey(c *call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, nf := s.lookupAIKey(c.id)
	if nf != nil {
		return *nf
	}
	k.value = newAIKeyValue()
	k.updated = s.opts.now()
	s.minted = append(s.minted, k.value)
	return jsonResponse(http.StatusOK, valueJSON{k.value})
}

func (s *Sandbox) revealAIKey(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	k, nf := s.lookupAIKey(c.id)
	if nf != nil {
		return *nf
	}
	return jsonResponse(http.StatusOK, valueJSON{k.value})
}

// ---- IAM roles ----

func (s *Sandbox) listRoles(*call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*role, 0, len(s.roleOrder))
	for _, id := range s.roleOrder {
		out = append(out, s.roles[id])
	}
	return jsonResponse(http.StatusOK, map[string]any{"iam-roles": out})
}

func (s *Sandbox) lookupRole(id string) (*role, *response) {
	r, ok := s.roles[strings.ToLower(id)]
	if !ok {
		resp := notFound("iam-role", id)
		return nil, &resp
	}
	return r, nil
}

func (s *Sandbox) getRole(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	r, nf := s.lookupRole(c.id)
	if nf != nil {
		return *nf
	}
	return jsonResponse(http.StatusOK, r)
}

// roleFields validates the role fields create-iam-role and update-iam-role share into r; set
// lists the fields present.
func roleFields(ck *checker, m map[string]any, r *role) (set map[string]bool) {
	set = map[string]bool{}
	if v, ok := m["description"]; ok {
		r.Description, set["description"] = ck.str(root.field("description"), v, 1, 255)
	}
	if v, ok := m["labels"]; ok {
		r.Labels, set["labels"] = ck.stringMap(root.field("labels"), v)
	}
	if v, ok := m["max-session-ttl"]; ok {
		r.MaxSessionTTL, set["max-session-ttl"] = ck.positiveInt(root.field("max-session-ttl"), v)
	}
	if v, ok := m["permissions"]; ok {
		r.Permissions, set["permissions"] = ck.permissions(root.field("permissions"), v)
	}
	if v, ok := m["assume-role-policy"]; ok {
		r.AssumeRolePolicy = ck.assumeRolePolicy(root.field("assume-role-policy"), v)
		set["assume-role-policy"] = true
	}
	return set
}

func (s *Sandbox) createRole(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"name", "description", "editable", "labels", "max-session-ttl", "permissions", "policy", "assume-role-policy"}, nil)
	ck.required(root, m, "name")
	r := &role{Editable: true}
	if v, ok := m["name"]; ok {
		r.Name, _ = ck.str(root.field("name"), v, 1, 191)
	}
	if v, ok := m["editable"]; ok {
		if b, ok := ck.boolean(root.field("editable"), v); ok {
			r.Editable = b
		}
	}
	if v, ok := m["policy"]; ok {
		r.Policy = ck.policy(root.field("policy"), v)
	}
	roleFields(&ck, m, r)
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	// Role names may repeat, as on Exoscale: the MCP server guards against duplicates itself.
	r.ID = newUUID()
	s.addRole(r)
	return jsonResponse(http.StatusOK, s.newOperation(ref(r.ID, "/iam-role/"+r.ID, "get-iam-role")))
}

func (s *Sandbox) updateRole(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"description", "labels", "max-session-ttl", "permissions", "assume-role-policy"}, map[string]string{
		"name":     "cannot be changed: a role's name is fixed at creation",
		"policy":   "cannot be changed here: use update-iam-role-policy (PUT /iam-role/{id}:policy)",
		"editable": "cannot be changed: editable is fixed at creation",
		"id":       "cannot be changed: the id is in the path",
	})
	var upd role
	set := roleFields(&ck, m, &upd)
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, nf := s.lookupRole(c.id)
	if nf != nil {
		return *nf
	}
	// Fields left out keep their value; readers hold s.mu, so updating in place is safe.
	if set["description"] {
		r.Description = upd.Description
	}
	if set["labels"] {
		r.Labels = upd.Labels
	}
	if set["max-session-ttl"] {
		r.MaxSessionTTL = upd.MaxSessionTTL
	}
	if set["permissions"] {
		r.Permissions = upd.Permissions
	}
	if set["assume-role-policy"] {
		r.AssumeRolePolicy = upd.AssumeRolePolicy
	}
	return jsonResponse(http.StatusOK, s.newOperation(ref(r.ID, "/iam-role/"+r.ID, "get-iam-role")))
}

// policyBody validates a body that is a whole iam-policy document.
func policyBody(body []byte) (*policy, *response) {
	m, bad := decodeObject(body)
	if bad != nil {
		return nil, bad
	}
	var ck checker
	p := ck.policy(root, m)
	if !ck.ok() {
		r := invalidBody(ck.errs)
		return nil, &r
	}
	p.compile()
	return p, nil
}

func (s *Sandbox) updateRolePolicy(c *call) response {
	p, bad := policyBody(c.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, nf := s.lookupRole(c.id)
	if nf != nil {
		return *nf
	}
	if !r.Editable {
		return problem(http.StatusForbidden, "forbidden", "Forbidden",
			"IAM role "+quoteID(r.ID)+" was created with editable: false; its policy cannot be changed", nil)
	}
	r.Policy = p // replaced, never mutated: authorize evaluates policies outside the lock
	return jsonResponse(http.StatusOK, s.newOperation(ref(r.ID, "/iam-role/"+r.ID, "get-iam-role")))
}

func (s *Sandbox) deleteRole(c *call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, nf := s.lookupRole(c.id)
	if nf != nil {
		return *nf
	}
	n := 0
	for _, k := range s.keys {
		if k.roleID == r.ID {
			n++
		}
	}
	if n > 0 {
		noun := "API keys"
		if n == 1 {
			noun = "API key"
		}
		return problem(http.StatusConflict, "conflict", "Conflict",
			"IAM role "+quoteID(r.ID)+" is still assigned to "+strconv.Itoa(n)+" "+noun+"; delete them (or move them to another role by creating new keys) first", nil)
	}
	for _, u := range s.users {
		if u.RoleID == r.ID {
			return problem(http.StatusConflict, "conflict", "Conflict",
				"IAM role "+quoteID(r.ID)+" is still assigned to users; give them another role first", nil)
		}
	}
	delete(s.roles, r.ID)
	s.roleOrder = removeID(s.roleOrder, r.ID)
	return jsonResponse(http.StatusOK, s.newOperation(ref(r.ID, "/iam-role/"+r.ID, "get-iam-role")))
}

// maxSessionTTL bounds an assumed role's lifetime when the role sets no max-session-ttl, so
// expiry arithmetic cannot overflow (about ten years).
const maxSessionTTL = 10 * 365 * 24 * 3600

type assumeJSON struct {
	Key       string `json:"key"`
	Name      string `json:"name"`
	OrgID     string `json:"org-id"`
	RoleID    string `json:"role-id"`
	Secret    string `json:"secret"`
	ExpiresAt string `json:"expires-at"`
}

// assumeRole mints short-lived credentials acting as the role: they sign requests, held to the
// role's policy, until expires-at. The ttl is capped by the role's max-session-ttl. A role with
// an assume-role-policy is assumed only when its first rule whose expression is true (with the
// caller's bindings) allows it; Exoscale does not document this evaluation, so the sandbox
// reuses the rules semantics of policies.
func (s *Sandbox) assumeRole(c *call) response {
	m, bad := decodeObject(c.body)
	if bad != nil {
		return *bad
	}
	var ck checker
	ck.object(root, m, []string{"ttl"}, nil)
	ck.required(root, m, "ttl")
	var ttl int64
	if v, ok := m["ttl"]; ok {
		ttl, _ = ck.positiveInt(root.field("ttl"), v)
	}
	if !ck.ok() {
		return invalidBody(ck.errs)
	}
	now := s.opts.now()
	if c.policy != nil {
		c.policy.activation() // gathers resources under the read lock: before the write lock below
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r, nf := s.lookupRole(c.id)
	if nf != nil {
		return *nf
	}
	if arp := r.AssumeRolePolicy; arp != nil && len(arp.Rules) > 0 && !assumeAllowed(arp, c.policy) {
		return messageResponse(http.StatusForbidden, "Forbidden by the assume-role policy of IAM role "+r.ID)
	}
	if r.MaxSessionTTL > 0 && ttl > r.MaxSessionTTL {
		ttl = r.MaxSessionTTL
	}
	ttl = min(ttl, maxSessionTTL)
	for k, ss := range s.sessions { // expired sessions never sign again
		if !now.Before(ss.expires) {
			delete(s.sessions, k)
		}
	}
	ss := &session{key: newIAMKeyID(), name: "assumed-" + r.Name, roleID: r.ID, secret: newIAMSecret(),
		expires: now.Add(time.Duration(ttl) * time.Second)}
	s.sessions[ss.key] = ss
	s.minted = append(s.minted, ss.secret)
	return jsonResponse(http.StatusOK, assumeJSON{Key: ss.key, Name: ss.name, OrgID: OrgID, RoleID: r.ID, Secret: ss.secret,
		ExpiresAt: timestamp(ss.expires)})
}

// assumeAllowed evaluates an assume-role-policy's rules in order: the first true decides, none
// deciding denies.
func assumeAllowed(arp *assumeRolePolicy, req *policyRequest) bool {
	if req == nil {
		return false
	}
	for _, rule := range arp.Rules {
		if prg := program(rule.Expression); prg != nil && req.isTrue(prg) {
			return rule.Action == "allow"
		}
	}
	return false
}

// ---- organization policy ----

func orgRef() *reference {
	return ref(OrgID, "/iam-organization-policy", "get-iam-organization-policy")
}

func (s *Sandbox) getOrgPolicy(*call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return jsonResponse(http.StatusOK, s.orgPolicy)
}

func (s *Sandbox) updateOrgPolicy(c *call) response {
	p, bad := policyBody(c.body)
	if bad != nil {
		return *bad
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgPolicy = p
	return jsonResponse(http.StatusOK, s.newOperation(orgRef()))
}

func (s *Sandbox) resetOrgPolicy(*call) response {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.orgPolicy = allowAllPolicy()
	return jsonResponse(http.StatusOK, s.newOperation(orgRef()))
}

// ---- AI deployments ----

// deploymentEntry is a list-deployments entry: a deployment without inference-engine-version.
type deploymentEntry struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	State         string   `json:"state"`
	DeploymentURL string   `json:"deployment-url"`
	Model         modelRef `json:"model"`
	Visibility    string   `json:"visibility"`
	GPUType       string   `json:"gpu-type"`
	GPUCount      int      `json:"gpu-count"`
	Replicas      int      `json:"replicas"`
	ServiceLevel  string   `json:"service-level"`
	CreatedAt     string   `json:"created-at"`
	UpdatedAt     string   `json:"updated-at"`
}

func (s *Sandbox) listDeployments(c *call) response {
	visibility := c.r.URL.Query().Get("visibility")
	if visibility != "" && visibility != "private" && visibility != "public" {
		return problem(http.StatusBadRequest, "invalid-request-parameter", "Invalid Request Parameter",
			"visibility: expected one of: private, public",
			[]fieldError{{Path: "visibility", Detail: "expected one of: private, public", Location: "query"}})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]deploymentEntry, 0, len(s.depOrder))
	for _, id := range s.depOrder {
		d := s.deps[id]
		if visibility != "" && d.Visibility != visibility {
			continue
		}
		out = append(out, deploymentEntry{
			ID: d.ID, Name: d.Name, State: d.State, DeploymentURL: d.DeploymentURL, Model: d.Model,
			Visibility: d.Visibility, GPUType: d.GPUType, GPUCount: d.GPUCount, Replicas: d.Replicas,
			ServiceLevel: d.ServiceLevel, CreatedAt: d.CreatedAt, UpdatedAt: d.UpdatedAt,
		})
	}
	return jsonResponse(http.StatusOK, map[string]any{"deployments": out})
}

func (s *Sandbox) lookupDeployment(id string) (*deployment, *response) {
	d, ok := s.deps[strings.ToLower(id)]
	if !ok {
		r := notFound("deployment", id)
		return nil, &r
	}
	return d, nil
}

func (s *Sandbox) getDeployment(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, nf := s.lookupDeployment(c.id)
	if nf != nil {
		return *nf
	}
	return jsonResponse(http.StatusOK, d)
}

func (s *Sandbox) revealDeploymentKey(c *call) response {
	s.mu.RLock()
	defer s.mu.RUnlock()
	d, nf := s.lookupDeployment(c.id)
	if nf != nil {
		return *nf
	}
	return jsonResponse(http.StatusOK, map[string]string{"api-key": d.apiKey})
}

// ---- zones ----

// zoneNames are the eight Exoscale zones served by list-zones, sorted.
var zoneNames = []string{"at-vie-1", "at-vie-2", "bg-sof-1", "ch-dk-2", "ch-gva-2", "de-fra-1", "de-muc-1", "hr-zag-1"}

var zonesResponse = func() response {
	type zone struct {
		Name        string `json:"name"`
		APIEndpoint string `json:"api-endpoint"`
		SOSEndpoint string `json:"sos-endpoint"`
	}
	out := make([]zone, 0, len(zoneNames))
	for _, z := range zoneNames {
		out = append(out, zone{Name: z, APIEndpoint: "https://api-" + z + ".exoscale.com/v2", SOSEndpoint: "https://sos-" + z + ".exo.io"})
	}
	return jsonResponse(http.StatusOK, map[string]any{"zones": out})
}()

// listZones is public: the real API serves it unsigned and never applies policies to it.
func (s *Sandbox) listZones(*call) response { return zonesResponse }
