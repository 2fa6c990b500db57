package tools

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// describeFailure renders a failed call as what happened and what to do next. The texts come
// from apiclient errors, which never carry secrets. tenant: the call was signed with the
// caller's own credentials (multi-tenant HTTP), not the server's. serves says which tools the
// model can call (Engine.Serves): advice names no other tool, and says what the user can do
// instead.
func describeFailure(op schemas.Operation, err error, tenant bool, serves func(string) bool) string {
	var (
		apiErr  *apiclient.Error
		opErr   *apiclient.OperationError
		waitErr *waitError
	)
	switch {
	case errors.As(err, &opErr):
		o := opErr.Operation
		changed := "Nothing should have changed"
		if serves(schemas.Hints.Operation) {
			changed = "Nothing changed unless " + schemas.Hints.Operation + " says otherwise"
		}
		return fmt.Sprintf("%s: Exoscale accepted the request but operation %s ended in %s%s. %s; fix the cause and call again.",
			op.Name, o.ID, o.State, reasonSuffix(o), changed)
	case errors.As(err, &waitErr):
		check := fmt.Sprintf("check with %s id %s", schemas.Hints.Operation, waitErr.op.ID)
		if !serves(schemas.Hints.Operation) {
			check = readState(op, serves)
		}
		return fmt.Sprintf("%s: Exoscale accepted the request (operation %s) but waiting for its outcome failed: %v. Do not repeat the call: %s.",
			op.Name, waitErr.op.ID, waitErr.err, check)
	case errors.As(err, &apiErr):
		return apiErr.Error() + ". " + adviceFor(op, apiErr, tenant, serves)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("%s: cancelled. %s", op.Name, unknownOutcomeAdvice(op, serves))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: Exoscale did not answer in time. %s", op.Name, unknownOutcomeAdvice(op, serves))
	default:
		// apiclient's message says whether the request was sent.
		return fmt.Sprintf("%s: the call to Exoscale failed: %v. %s", op.Name, err, unknownOutcomeAdvice(op, serves))
	}
}

func reasonSuffix(o *apiclient.Operation) string {
	var parts []string
	if o.Reason != "" {
		parts = append(parts, "("+o.Reason+")")
	}
	if o.Message != "" {
		parts = append(parts, ": "+o.Message)
	}
	return strings.Join(parts, "")
}

// adviceFor says what to do after an API error answer. It never proposes a call that the
// failure itself rules out: after a 403 for a service, the next step with the same key is not
// another call of that service, and a role that cannot be edited is not "granted" anything.
// Nor does it name a tool that serves does not serve: it says what the user can do instead.
func adviceFor(op schemas.Operation, e *apiclient.Error, tenant bool, serves func(string) bool) string {
	text := strings.ToLower(e.Message + " " + e.Title + " " + e.Detail)
	key, fixCreds, another, who := "the server's key", "the operator must check the key and secret the server runs with", "run the server with another key", "the operator"
	if tenant {
		key, fixCreds, another, who = "your key (X-Exoscale-Api-Key)", "check the X-Exoscale-Api-Key and X-Exoscale-Api-Secret your client sends", "send another key", "an administrator of your organization"
	}
	switch {
	case e.Status == http.StatusBadRequest:
		return "Exoscale rejected the arguments; nothing changed. Fix them and call again."
	case e.Status == http.StatusUnauthorized || strings.Contains(text, "signature"):
		return "The Exoscale credentials were refused (unknown key, revoked, or clock skew). Retrying will not help: " + fixCreds + "."
	case e.Status == http.StatusForbidden && strings.Contains(text, "editable"):
		// No key can change such a role, so granting anything in it is no way out.
		advice := "This role was created with editable: false and no key can change its policy. Nothing changed. "
		if !servesAll(serves, schemas.Hints.NewRole, schemas.Hints.NewKey) {
			return advice + "For another policy, " + who + " must create a new role and new keys on it (a key's role cannot be changed), e.g. in " + portal + "."
		}
		return advice + "For another policy, create a new role (" +
			schemas.Hints.NewRole + ") and put keys on it: a key's role cannot be changed, so that means new keys (" + schemas.Hints.NewKey + " with the new role-id)."
	case e.Status == http.StatusForbidden && strings.Contains(text, "assume-role policy"):
		how := schemas.Hints.AssumeRolePolicy
		if !serves(firstWord(how)) {
			how = portal
		}
		return "The role's assume-role-policy does not let " + key + " assume it; nothing changed. Someone allowed to change IAM roles can widen it (" + how + ")."
	case e.Status == http.StatusForbidden && strings.Contains(text, "organization policy"):
		svc := deniedService(op, text)
		advice := "The organization policy does not let " + key + " call " + op.Name + " (service " + svc + "); nothing changed. An organization owner must allow it (Exoscale portal, or a key the policy allows)."
		switch {
		case !serves(schemas.Hints.OrgPolicy):
			return advice + " The organization owner can read the policy in " + portal + "."
		case svc == schemas.Self.Service:
			return advice + " If this key can still read IAM, " + schemas.Hints.OrgPolicy + " shows the policy."
		}
		return advice + " " + schemas.Hints.OrgPolicy + " shows the policy."
	case e.Status == http.StatusForbidden:
		svc := deniedService(op, text)
		advice := "The IAM role of " + key + " does not allow " + op.Name + " (service " + svc + "); nothing changed."
		which := schemas.Hints.WhichRule + " with operations [\"" + op.Name + "\"] names the rule that denies it"
		if !serves(schemas.Hints.WhichRule) {
			which = upperFirst(who) + " can see the rule that denies it in the role's policy (" + portal + ")"
		}
		if svc == schemas.Self.Service {
			// The role refuses IAM calls: reading or fixing the role with the same key would
			// most likely be refused too.
			advice += " Changing that role is an IAM call too, so do not try it with this key: " + who + " must allow " + op.Name +
				" in the role with a key that may change IAM (the Exoscale portal, or an administrator's key), or " + another + "."
			if !serves(schemas.Hints.WhichRule) {
				return advice + " " + which + "."
			}
			return advice + " If this key can still read IAM, " + which + "."
		}
		grant := schemas.Hints.GrantInRole + ", with a key that may change IAM"
		if !servesAll(serves, strings.Split(schemas.Hints.GrantInRole, ", then ")...) {
			grant = portal + ", or a key that may change IAM"
		}
		if !serves(schemas.Hints.WhichRule) {
			return advice + " " + upperFirst(who) + " can find the rule that denies it in the role's policy and allow it there (" + grant + ") or " + another + "."
		}
		return advice + " " + which + "; " + who + " can then allow it in the role (" + grant + ") or " + another + "."
	case e.Status == http.StatusNotFound && op.Method == http.MethodGet && !strings.Contains(op.Path, "{"):
		// A read that names no object: the path itself is not served there, so the list
		// tool (often this very call) is no way to find an id.
		return "Exoscale does not serve " + op.Name + " at this endpoint and zone; nothing changed. Retrying will not help: the operator must check the server's zone (--zone, EXOSCALE_ZONE) and endpoint."
	case e.Status == http.StatusNotFound:
		if hint := listHint(op, serves); hint != "" {
			return "Not found: check the id; " + hint + "."
		}
		return "Not found: check the id (the user can look it up in " + portal + ")."
	case e.Status == http.StatusConflict:
		return "Conflict with the current state; nothing changed. " + upperFirst(readState(op, serves)) + " and adjust the call."
	case e.Status == http.StatusTooManyRequests:
		wait := "a few seconds"
		if e.RetryAfter > 0 {
			wait = e.RetryAfter.String()
		}
		if op.Method == http.MethodGet || op.Method == http.MethodPut { // what apiclient retries
			return "Rate limited by Exoscale after retries; wait " + wait + " and call again."
		}
		// A 429 is answered before the request is processed: nothing happened.
		return "Rate limited by Exoscale; nothing was done. Wait " + wait + " and call again."
	case e.Status >= 500:
		return "Exoscale failed. " + unknownOutcomeAdvice(op, serves)
	default:
		return "Nothing suggests the change happened; read the state before retrying."
	}
}

// deniedService is the service class a 403 names ("Forbidden by role policy for iam"), or
// else the catalog's class of op.
func deniedService(op schemas.Operation, text string) string {
	if _, after, ok := strings.Cut(text, "policy for "); ok {
		if f := strings.Fields(after); len(f) > 0 {
			if s := strings.Trim(f[0], ".,:;\"'"); s != "" {
				return s
			}
		}
	}
	if a, ok := schemas.LookupAPIOperation(op.Name); ok {
		return a.Service
	}
	return "unknown"
}

// unknownOutcomeAdvice: after a failure where the request may have been applied, say how to
// find out before anything is repeated. Retrying a create blindly can mint a second key.
func unknownOutcomeAdvice(op schemas.Operation, serves func(string) bool) string {
	list := schemas.Toolset(op.Toolset).ListTool
	switch {
	case op.AfterUnknown != "" && sayable(serves, op.AfterUnknown):
		return op.AfterUnknown
	case op.ReadOnly():
		return "Reading is safe to retry; call again."
	case op.Access == schemas.Create && list != "" && serves(list):
		return "The object may have been created anyway: check with " + list + " before calling again (a repeated create is refused while the name exists)."
	case op.Access == schemas.Create:
		return "The object may have been created anyway: ask the user to check in " + portal + " before calling again (a repeated create is refused while the name exists)."
	default:
		return "The change may have been applied anyway: " + readState(op, serves) + " before calling again."
	}
}

// readState says how to read the state a call of op changes: with the toolset's served read
// tools, or else by asking the user to look in the portal. It starts in lower case.
func readState(op schemas.Operation, serves func(string) bool) string {
	ts := schemas.Toolset(op.Toolset)
	var read []string
	for _, name := range []string{ts.NameLookup, ts.ListTool} {
		if name != "" && name != op.Name && serves(name) && !slices.Contains(read, name) {
			read = append(read, name)
		}
	}
	if len(read) == 0 {
		return "ask the user to check the current state in " + portal
	}
	return "read the current state (" + strings.Join(read, " or ") + ")"
}

// listHint is the toolset's hint at where ids come from ("list-api-keys shows the IAM API
// keys"), or "" when the tool it names is not served.
func listHint(op schemas.Operation, serves func(string) bool) string {
	ts := schemas.Toolset(op.Toolset)
	if tool := firstWord(ts.ListHint); strings.Contains(tool, "-") && !serves(tool) {
		return ""
	}
	return ts.ListHint
}

func firstWord(s string) string {
	if f := strings.Fields(s); len(f) > 0 {
		return f[0]
	}
	return ""
}

func upperFirst(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
