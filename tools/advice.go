package tools

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// describeFailure renders a failed call as what happened and what to do next. The texts come
// from apiclient errors, which never carry secrets. tenant: the call was signed with the
// caller's own credentials (multi-tenant HTTP), not the server's.
func describeFailure(op schemas.Operation, err error, tenant bool) string {
	var (
		apiErr  *apiclient.Error
		opErr   *apiclient.OperationError
		waitErr *waitError
	)
	switch {
	case errors.As(err, &opErr):
		o := opErr.Operation
		return fmt.Sprintf("%s: Exoscale accepted the request but operation %s ended in %s%s. Nothing changed unless %s says otherwise; fix the cause and call again.",
			op.Name, o.ID, o.State, reasonSuffix(o), schemas.Hints.Operation)
	case errors.As(err, &waitErr):
		return fmt.Sprintf("%s: Exoscale accepted the request (operation %s) but waiting for its outcome failed: %v. Do not repeat the call: check with %s id %s.",
			op.Name, waitErr.op.ID, waitErr.err, schemas.Hints.Operation, waitErr.op.ID)
	case errors.As(err, &apiErr):
		return apiErr.Error() + ". " + adviceFor(op, apiErr, tenant)
	case errors.Is(err, context.Canceled):
		return fmt.Sprintf("%s: cancelled. %s", op.Name, unknownOutcomeAdvice(op))
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("%s: Exoscale did not answer in time. %s", op.Name, unknownOutcomeAdvice(op))
	default:
		// apiclient's message says whether the request was sent.
		return fmt.Sprintf("%s: the call to Exoscale failed: %v. %s", op.Name, err, unknownOutcomeAdvice(op))
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
func adviceFor(op schemas.Operation, e *apiclient.Error, tenant bool) string {
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
		return "This role was created with editable: false and no key can change its policy. Nothing changed. For another policy, create a new role (" +
			schemas.Hints.NewRole + ") and put keys on it: a key's role cannot be changed, so that means new keys (" + schemas.Hints.NewKey + " with the new role-id)."
	case e.Status == http.StatusForbidden && strings.Contains(text, "assume-role policy"):
		return "The role's assume-role-policy does not let " + key + " assume it; nothing changed. Someone allowed to change IAM roles can widen it (" +
			schemas.Hints.AssumeRolePolicy + ")."
	case e.Status == http.StatusForbidden && strings.Contains(text, "organization policy"):
		svc := deniedService(op, text)
		advice := "The organization policy does not let " + key + " call " + op.Name + " (service " + svc + "); nothing changed. An organization owner must allow it (Exoscale portal, or a key the policy allows)."
		if svc == schemas.Self.Service {
			return advice + " If this key can still read IAM, " + schemas.Hints.OrgPolicy + " shows the policy."
		}
		return advice + " " + schemas.Hints.OrgPolicy + " shows the policy."
	case e.Status == http.StatusForbidden:
		svc := deniedService(op, text)
		advice := "The IAM role of " + key + " does not allow " + op.Name + " (service " + svc + "); nothing changed."
		if svc == schemas.Self.Service {
			// The role refuses IAM calls: reading or fixing the role with the same key would
			// most likely be refused too.
			return advice + " Changing that role is an IAM call too, so do not try it with this key: " + who + " must allow " + op.Name +
				" in the role with a key that may change IAM (the Exoscale portal, or an administrator's key), or " + another +
				". If this key can still read IAM, " + schemas.Hints.WhichRule + " with operations [\"" + op.Name + "\"] names the rule that denies it."
		}
		return advice + " " + schemas.Hints.WhichRule + " with operations [\"" + op.Name + "\"] names the rule that denies it; " + who + " can then allow it in the role (" +
			schemas.Hints.GrantInRole + ", with a key that may change IAM) or " + another + "."
	case e.Status == http.StatusNotFound && op.Method == http.MethodGet && !strings.Contains(op.Path, "{"):
		// A read that names no object: the path itself is not served there, so the list
		// tool (often this very call) is no way to find an id.
		return "Exoscale does not serve " + op.Name + " at this endpoint and zone; nothing changed. Retrying will not help: the operator must check the server's zone (--zone, EXOSCALE_ZONE) and endpoint."
	case e.Status == http.StatusNotFound:
		return "Not found: check the id; " + schemas.Toolset(op.Toolset).ListHint + "."
	case e.Status == http.StatusConflict:
		return "Conflict with the current state; nothing changed. Read it (the get-/list- tools) and adjust the call."
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
		return "Exoscale failed. " + unknownOutcomeAdvice(op)
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
func unknownOutcomeAdvice(op schemas.Operation) string {
	switch {
	case op.AfterUnknown != "":
		return op.AfterUnknown
	case op.ReadOnly():
		return "Reading is safe to retry; call again."
	case op.Access == schemas.Create:
		return "The object may have been created anyway: check with " + schemas.Toolset(op.Toolset).ListTool + " before calling again (a repeated create is refused while the name exists)."
	default:
		return "The change may have been applied anyway: read the current state (get-/list- tools) before calling again."
	}
}
