package tools

import (
	"context"
	"errors"
	"fmt"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/policy"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// AdviceTexts is every text the engine's advice functions say, for every catalog operation
// and every kind of failure, under serves: the tests of package tools_test hold them to the
// served set. Keys say which function and case said it.
func AdviceTexts(serves func(string) bool) map[string]string {
	out := map[string]string{}
	apiErrs := []apiclient.Error{
		{Status: 400, Message: "bad"},
		{Status: 401, Message: "Unauthorized"},
		{Status: 403, Message: "Invalid request signature"},
		{Status: 403, Message: "Forbidden by role policy for iam"},
		{Status: 403, Message: "Forbidden by role policy for ai"},
		{Status: 403, Message: "Forbidden by organization policy for iam"},
		{Status: 403, Message: "Forbidden by organization policy for ai"},
		{Status: 403, Title: "Forbidden", Detail: "IAM role \"x\" was created with editable: false; its policy cannot be changed"},
		{Status: 403, Message: "Forbidden by the assume-role policy of IAM role x"},
		{Status: 403, Message: "Forbidden"},
		{Status: 404, Message: "Not Found"},
		{Status: 409, Message: "Conflict"},
		{Status: 429, Message: "Too many requests"},
		{Status: 500, Message: "Internal"},
		{Status: 418, Message: "teapot"},
	}
	op := &apiclient.Operation{ID: "op-1", State: "failure", Reason: "r", Message: "m"}
	others := []error{
		&apiclient.OperationError{Operation: op},
		&waitError{op: op, err: errors.New("lost")},
		context.Canceled,
		context.DeadlineExceeded,
		errors.New("connection reset"),
	}
	for _, o := range schemas.Catalog() {
		for _, tenant := range []bool{false, true} {
			for i := range apiErrs {
				out[fmt.Sprintf("adviceFor %s %d %q tenant=%v", o.Name, apiErrs[i].Status, apiErrs[i].Message+apiErrs[i].Detail, tenant)] = adviceFor(o, &apiErrs[i], tenant, serves)
			}
			for _, err := range others {
				out[fmt.Sprintf("describeFailure %s %v tenant=%v", o.Name, err, tenant)] = describeFailure(o, err, tenant, serves)
			}
		}
		out["unknownOutcomeAdvice "+o.Name] = unknownOutcomeAdvice(o, serves)
		out["readState "+o.Name] = readState(o, serves)
		out["listHint "+o.Name] = listHint(o, serves)
		if o.InUse != nil {
			out["inUseAdvice "+o.Name] = inUseAdvice(o.InUse, "x", serves)
		}
	}
	e := &Engine{}
	e.SetServed(serves)
	out["policyTools"] = e.policyTools()
	g := &SelfLockoutGuard{zone: "ch-gva-2"}
	// The refusal names the operations lost (facts, not calls to make): one no tool serves.
	out["lockout refusal"] = g.refusal("this call", []policy.Loss{{Operation: "create-instance"}}, serves)
	return out
}
