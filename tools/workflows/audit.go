package workflows

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

const auditSchema = `{"type":"object","properties":{
"inactive-days":{"type":"integer","minimum":1,"maximum":3650,"description":"flag keys with no event for this long (default 90)"}},
"additionalProperties":false}`

func (w *workflows) auditTool() tools.Tool {
	t := tools.Tool{
		Name: AuditKeys, Title: "Audit IAM keys, roles and users", Toolset: "iam-audit",
		Description: "Review keys, roles, AI keys, users, the organization policy and recent events in one call: findings by severity, each with why and the tool call that fixes it.",
		InputSchema: compact(auditSchema),
		Annotations: tools.Annotations{ReadOnly: true, Idempotent: true, OpenWorld: true},
		Access:      schemas.Read,
	}
	return validated(t, w.audit)
}

// Severity of a finding.
const (
	high   = "high"
	medium = "medium"
	low    = "low"
)

// Finding is one result of audit-iam-keys.
type Finding struct {
	Severity string    `json:"severity"`
	Finding  string    `json:"finding"`
	Subject  Subject   `json:"subject"`
	Why      string    `json:"why"`
	Fix      *toolCall `json:"fix"`
}

// Subject is what a finding is about.
type Subject struct {
	Kind string `json:"kind"` // api-key | role | ai-api-key | user | organization-policy
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// powerful are the operations that let a key mint or remove keys or change who may do what.
var powerful = []string{
	"create-api-key", "delete-api-key", "create-iam-role", "update-iam-role", "update-iam-role-policy",
	"delete-iam-role", "update-iam-organization-policy", "reset-iam-organization-policy", "assume-iam-role",
}

// reach is what a policy pair allows, judged by the policy engine over every API operation.
type reach struct {
	allowed, conditional, total int
	all                         bool                     // every operation allowed
	perService                  map[string]*serviceReach // by service class
	powerful                    []string                 // powerful operations allowed or conditional
}

type serviceReach struct {
	Allowed     int      `json:"allowed"`
	Conditional int      `json:"conditional,omitempty"`
	Of          int      `json:"of"`
	Operations  []string `json:"operations,omitempty"` // listed when few are allowed
	Inferred    bool     `json:"service-inferred,omitempty"`
}

func reachOf(org, role *policy.Policy) reach {
	ops := schemas.AllOperations()
	reqs := make([]policy.Request, len(ops))
	for i, op := range ops {
		reqs[i] = policy.Request{Operation: op.Name}
	}
	ds := policy.Simulate(org, role, reqs)
	r := reach{total: len(ops), perService: map[string]*serviceReach{}}
	for i, d := range ds {
		op := ops[i]
		sr := r.perService[op.Service]
		if sr == nil {
			sr = &serviceReach{}
			r.perService[op.Service] = sr
		}
		sr.Of++
		sr.Inferred = sr.Inferred || op.ServiceInferred
		switch d.Outcome {
		case policy.Allow:
			r.allowed++
			sr.Allowed++
			sr.Operations = append(sr.Operations, op.Name)
		case policy.Conditional:
			r.conditional++
			sr.Conditional++
		}
		if d.Outcome != policy.Deny && slices.Contains(powerful, op.Name) {
			r.powerful = append(r.powerful, op.Name)
		}
	}
	for _, sr := range r.perService {
		if sr.Allowed == sr.Of || sr.Allowed > 12 {
			sr.Operations = nil
		}
	}
	r.all = r.allowed == r.total
	return r
}

// auditData is what the audit reads; a read that failed leaves its part nil and is named.
type auditData struct {
	keys, roles, aiKeys, users, events []map[string]any
	org                                *policy.Policy
	unavailable                        []string
}

func (w *workflows) audit(ctx context.Context, args map[string]any) (tools.Result, error) {
	days := 90
	if n, ok := args["inactive-days"].(json.Number); ok {
		if v, err := n.Int64(); err == nil {
			days = int(v)
		}
	} else if f, ok := args["inactive-days"].(float64); ok {
		days = int(f)
	}
	since := time.Now().UTC().Add(-time.Duration(days) * 24 * time.Hour)
	var d auditData
	read := func(op string, a map[string]any, field string, into *[]map[string]any) error {
		s, err := w.call(ctx, op, a)
		if err != nil {
			return err
		}
		if !s.ok() {
			d.unavailable = append(d.unavailable, unavailable(op, s.res.Text))
			return nil
		}
		*into = items(s.obj, field)
		return nil
	}
	for _, r := range []struct {
		op    string
		args  map[string]any
		field string
		into  *[]map[string]any
	}{
		{"list-api-keys", nil, "api-keys", &d.keys},
		{"list-iam-roles", nil, "iam-roles", &d.roles},
		{"list-ai-api-keys", nil, "ai-api-keys", &d.aiKeys},
		{"list-users", nil, "users", &d.users},
		{"list-events", map[string]any{"from": since.Format(time.RFC3339)}, "events", &d.events},
	} {
		if err := read(r.op, r.args, r.field, r.into); err != nil {
			return tools.Result{}, err
		}
	}
	s, err := w.call(ctx, "get-iam-organization-policy", nil)
	if err != nil {
		return tools.Result{}, err
	}
	if s.ok() {
		if b, err := json.Marshal(s.obj); err == nil {
			if p, err := policy.Parse(b); err == nil {
				d.org = p
			} else {
				d.unavailable = append(d.unavailable, "get-iam-organization-policy: unreadable policy: "+err.Error())
			}
		}
	} else {
		d.unavailable = append(d.unavailable, unavailable("get-iam-organization-policy", s.res.Text))
	}
	findings := w.findings(ctx, d, days, since)
	if findings == nil {
		findings = []Finding{} // an empty list, not null: the output schema says array
	}
	sort.SliceStable(findings, func(i, j int) bool { return sevRank(findings[i].Severity) < sevRank(findings[j].Severity) })
	count := map[string]int{high: 0, medium: 0, low: 0}
	for _, f := range findings {
		count[f.Severity]++
	}
	out := map[string]any{
		"summary": map[string]any{
			"api-keys": len(d.keys), "roles": len(d.roles), "ai-api-keys": len(d.aiKeys), "users": len(d.users),
			"events": len(d.events), "events-since": since.Format(time.RFC3339), "findings": count,
		},
		"findings": findings,
		"notes": []string{
			fmt.Sprintf("Events record changes only, never reads: a key that only reads shows no event, so 'no event for %d days' does not prove it unused.", days),
			"Reach is judged by this server's policy engine over every API operation, with both the organization and the role policy; 'conditional' depends on values known only at call time (zone, source IP, parameters).",
		},
	}
	if len(d.unavailable) > 0 {
		out["unavailable"] = d.unavailable
		out["notes"] = append(out["notes"].([]string), "Some data could not be read (see unavailable): the findings cover only what was read.")
		if slices.ContainsFunc(d.unavailable, func(u string) bool { return strings.Contains(u, ": 403 ") }) {
			// Said once here rather than in each entry: the same key was refused each read.
			out["notes"] = append(out["notes"].([]string), "The server's key may not make the reads answered 403: the operator can allow them in its role (with a key that may change IAM) or run the server with another key.")
		}
	}
	return tools.ValueResult(tools.OK, out, "")
}

func sevRank(s string) int {
	return map[string]int{high: 0, medium: 1, low: 2}[s]
}

// unavailable is what a failed read of the audit says: the operation and Exoscale's answer,
// without the step's advice (one note covers every refused read).
func unavailable(op, text string) string {
	t := strings.TrimPrefix(firstLine(text), op+": ")
	if i := strings.Index(t, ". "); i >= 0 {
		t = t[:i]
	}
	return op + ": " + t
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

func (w *workflows) findings(ctx context.Context, d auditData, days int, since time.Time) []Finding {
	var out []Finding
	own := w.e.Identity(ctx).Key
	roles := map[string]map[string]any{}
	reaches := map[string]reach{}
	for _, r := range d.roles {
		id := str(r, "id")
		roles[id] = r
		rp, err := rolePolicy(r)
		if err != nil {
			out = append(out, Finding{Severity: medium, Finding: "role policy this server cannot read", Subject: Subject{"role", id, str(r, "name")},
				Why: err.Error() + ": its reach cannot be judged", Fix: &toolCall{Tool: "get-iam-role", Arguments: map[string]any{"id": id}}})
			continue
		}
		reaches[id] = reachOf(d.org, rp)
	}
	used := map[string][]string{} // role id → keys and users on it
	for _, k := range d.keys {
		used[str(k, "role-id")] = append(used[str(k, "role-id")], str(k, "key"))
	}
	for _, u := range d.users {
		if r, ok := u["role"].(map[string]any); ok {
			used[str(r, "id")] = append(used[str(r, "id")], str(u, "email"))
		}
	}
	active := map[string]bool{}
	created := map[string]bool{} // key names created within the window
	for _, e := range d.events {
		if k, ok := e["iam-api-key"].(map[string]any); ok {
			active[str(k, "key")] = true
		}
		if str(e, "handler") == "create-api-key" {
			if b, ok := e["body-params"].(map[string]any); ok {
				created[str(b, "name")] = true
			}
		}
	}

	// Keys.
	for _, k := range d.keys {
		id, name, roleID := str(k, "key"), str(k, "name"), str(k, "role-id")
		subj := Subject{"api-key", id, name}
		rc, known := reaches[roleID]
		roleName := str(roles[roleID], "name")
		isOwn := strings.EqualFold(id, own)
		switch {
		case isOwn && known:
			sev, why := low, fmt.Sprintf("this server acts as this key: it can call %d of %d operations (%d more depending on call-time values)", rc.allowed, rc.total, rc.conditional)
			switch {
			case rc.all:
				sev, why = high, "this server acts as this key, and its role allows every operation: whoever controls the server's configuration controls the organization"
			case len(rc.powerful) > 0:
				sev, why = medium, why+"; among them "+strings.Join(rc.powerful, ", ")
			}
			out = append(out, Finding{Severity: sev, Finding: "the server's own key", Subject: subj, Why: why + ". The server needs only its tools' operations.",
				Fix: &toolCall{Tool: CreateRestrictedKey, Arguments: map[string]any{"name": name + "-restricted", "operations": serverOperations()}}})
		case known && rc.all:
			out = append(out, Finding{Severity: high, Finding: "key on a role that allows everything", Subject: subj,
				Why: fmt.Sprintf("role '%s' allows all %d operations: a leaked secret gives the whole organization; replace the key by one allowed what it uses, then delete it", roleName, rc.total),
				Fix: &toolCall{Tool: CreateRestrictedKey, Arguments: map[string]any{"name": name + "-restricted", "operations": []string{"(the operations it uses)"}}}})
		}
		// A key of a name created within the window may be younger than the window: an
		// event naming its key id is the only other trace, so it is not called stale.
		if !active[id] && d.events != nil && !isOwn && !created[name] {
			out = append(out, Finding{Severity: low, Finding: fmt.Sprintf("no event for %d days", days), Subject: subj,
				Why: fmt.Sprintf("this key made no change since %s; events record changes only, so it may still be reading: check before deleting it", since.Format("2006-01-02")),
				Fix: &toolCall{Tool: "delete-api-key", Arguments: map[string]any{"id": id}}})
		}
	}

	// Roles.
	for _, r := range d.roles {
		id, name := str(r, "id"), str(r, "name")
		subj := Subject{"role", id, name}
		if perms, _ := r["permissions"].([]any); slices.Contains(perms, any("reset-iam-organization-policy")) {
			out = append(out, Finding{Severity: high, Finding: "role with reset-iam-organization-policy", Subject: subj,
				Why: "a key or user on this role can undo the organization policy, whatever it denies",
				Fix: &toolCall{Tool: "update-iam-role", Arguments: map[string]any{"id": id, "permissions": []string{}}}})
		}
		if rc, ok := reaches[id]; ok && !rc.all && len(rc.powerful) > 0 {
			sev := medium
			if len(used[id]) > 0 {
				sev = high
			}
			f := Finding{Severity: sev, Finding: "role that can mint keys or change policies", Subject: subj,
				Why: fmt.Sprintf("it allows %s: a key on it (%d keys and users use it) can give itself or others more access", strings.Join(rc.powerful, ", "), len(used[id]))}
			if rp, err := rolePolicy(r); err == nil {
				for _, op := range rc.powerful {
					if np, _, err := denyOperation(rp, op); err == nil {
						rp = np
					}
				}
				if pa, err := policyArgs(rp); err == nil {
					if r["editable"] == false {
						// No key can update such a role: the fix is a role without those
						// operations, and new keys on it.
						f.Why += "; the role was created with editable: false, so the fix is a new role and new keys on it"
						f.Fix = &toolCall{Tool: "create-iam-role", Arguments: map[string]any{"name": name + "-restricted", "policy": pa}}
					} else {
						pa["id"] = id
						f.Fix = &toolCall{Tool: "update-iam-role-policy", Arguments: pa}
					}
				}
			}
			out = append(out, f)
		}
		if len(used[id]) == 0 {
			out = append(out, Finding{Severity: low, Finding: "role no key or user uses", Subject: subj,
				Why: "an unused role is access waiting for a key; delete it if nothing will use it", Fix: &toolCall{Tool: "delete-iam-role", Arguments: map[string]any{"id": id}}})
		}
	}

	// AI keys.
	for _, k := range d.aiKeys {
		if str(k, "scope") == "public" {
			out = append(out, Finding{Severity: medium, Finding: "AI key scoped public", Subject: Subject{"ai-api-key", str(k, "id"), str(k, "name")},
				Why: "scope public lets the key call every public model; scope it to the one deployment it serves",
				Fix: &toolCall{Tool: "update-ai-api-key", Arguments: map[string]any{"id": str(k, "id"), "scope": w.deploymentPlaceholder()}}})
		}
	}

	// The organization policy.
	if d.org != nil {
		if rc := reachOf(d.org, nil); rc.all {
			out = append(out, Finding{Severity: medium, Finding: "organization policy allows everything", Subject: Subject{"organization-policy", "organization", ""},
				Why: "the organization policy is the one guard every key passes; allowing everything leaves all limits to each role",
				Fix: &toolCall{Tool: "update-iam-organization-policy", Arguments: map[string]any{"default-service-strategy": "allow", "services": map[string]any{"(a service no key uses)": map[string]any{"type": "deny"}}}}})
		}
	}

	// Users.
	for _, u := range d.users {
		// Single-sign-on users authenticate with their identity provider, whose second factor
		// this flag does not show; a pending invitation has no account yet.
		if u["two-factor-authentication"] == false && u["pending"] != true && u["sso"] != true {
			out = append(out, Finding{Severity: medium, Finding: "user without two-factor authentication", Subject: Subject{"user", str(u, "id"), str(u, "email")},
				Why: "a stolen password alone opens this account; no API call enables 2FA: the user turns it on in the portal"})
		}
	}
	for i := range out {
		w.served(out[i].Fix)
	}
	return out
}

// serverOperations are the operations this server's catalog tools call: what a restricted key
// for the server needs.
func serverOperations() []string {
	var out []string
	for _, op := range schemas.Catalog() {
		if _, ok := schemas.LookupAPIOperation(op.Name); ok {
			out = append(out, op.Name)
		}
	}
	return out
}

// deploymentPlaceholder stands for the deployment id in a fix that scopes an AI key.
func (w *workflows) deploymentPlaceholder() string {
	const list = "list-deployments"
	if w.e.Serves(list) {
		return "(deployment id from " + list + ")"
	}
	return "(the deployment's id)"
}
