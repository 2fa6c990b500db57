package tools

import (
	"cmp"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/sandbox/sandboxtest"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// iamCalls are the IAM operations advice used to send a model to after an IAM 403 with the
// very key that was just refused IAM.
var iamCalls = []string{"get-api-key", "list-iam-roles", "get-iam-role", "update-iam-role-policy", "list-api-keys"}

// TestAdvice_NeverProposesWhatTheFailureRulesOut goes over the advice for every 401, 403,
// 404 and 409 the API answers with: after a 403 for a service, no call of that service is
// proposed as a sure next step with the same key; a role that cannot be edited is not
// granted anything; a 404 of a call that names no object does not send the model to the
// list tool (the failed call itself, or one like it).
func TestAdvice_NeverProposesWhatTheFailureRulesOut(t *testing.T) {
	t.Parallel()
	op := func(name string) schemas.Operation {
		o, ok := schemas.Lookup(name)
		require.True(t, ok, name)
		return o
	}
	cases := []struct {
		name      string
		op        string
		err       apiclient.Error
		tenant    bool
		mustNot   []string
		must      []string
		ifReading string // a call that may be named only as "if this key can still read IAM"
	}{
		{name: "role policy denies iam", op: "list-api-keys", err: apiclient.Error{Status: 403, Message: "Forbidden by role policy for iam"},
			mustNot: append(iamCalls, "grant it in the key's IAM role"), must: []string{"operator", "service iam", "do not try it with this key"}, ifReading: "check-iam-access"},
		{name: "role policy denies iam, tenant", op: "create-api-key", err: apiclient.Error{Status: 403, Message: "Forbidden by role policy for iam"}, tenant: true,
			mustNot: iamCalls, must: []string{"your key", "send another key", "an administrator of your organization"}, ifReading: "check-iam-access"},
		{name: "role policy denies ai", op: "list-ai-api-keys", err: apiclient.Error{Status: 403, Message: "Forbidden by role policy for ai"},
			mustNot: []string{"list-ai-api-keys", "get-ai-api-key"}, must: []string{"check-iam-access", "update-iam-role-policy", "service ai"}},
		{name: "organization policy denies iam", op: "get-iam-role", err: apiclient.Error{Status: 403, Message: "Forbidden by organization policy for iam"},
			mustNot: append(iamCalls, "grant"), must: []string{"organization owner"}, ifReading: "get-iam-organization-policy"},
		{name: "non-editable role", op: "update-iam-role-policy", err: apiclient.Error{Status: 403, Title: "Forbidden", Detail: "IAM role \"x\" was created with editable: false; its policy cannot be changed"},
			mustNot: []string{"grant", "update-iam-role-policy", "does not allow"}, must: []string{"create-iam-role", "create-api-key", "editable: false"}},
		{name: "assume-role policy", op: "assume-iam-role", err: apiclient.Error{Status: 403, Message: "Forbidden by the assume-role policy of IAM role x"},
			mustNot: []string{"grant it in", "assume-iam-role"}, must: []string{"update-iam-role with assume-role-policy"}},
		{name: "bad signature", op: "list-api-keys", err: apiclient.Error{Status: 403, Message: "Invalid request signature"},
			mustNot: iamCalls, must: []string{"operator must check the key and secret"}},
		{name: "unauthorized", op: "list-api-keys", err: apiclient.Error{Status: 401, Message: "Unauthorized"},
			mustNot: iamCalls},
		{name: "list not served", op: "list-deployments", err: apiclient.Error{Status: 404},
			mustNot: []string{"list-deployments", "check the id"}, must: []string{"endpoint and zone"}},
		{name: "object not found", op: "get-api-key", err: apiclient.Error{Status: 404},
			must: []string{"check the id", "list-api-keys"}},
		{name: "conflict", op: "create-iam-role", err: apiclient.Error{Status: 409, Detail: "Conflict"},
			must: []string{"nothing changed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			text := adviceFor(op(tc.op), &tc.err, tc.tenant, allServed)
			// What the advice proposes: the text after its first sentence (which names the
			// refused call as the subject), less the refused call as an argument.
			_, next, _ := strings.Cut(text, ". ")
			next = strings.NewReplacer(`["`+tc.op+`"]`, "", "allow "+tc.op, "").Replace(next)
			for _, s := range tc.mustNot {
				assert.NotContains(t, next, s, text)
			}
			for _, s := range tc.must {
				assert.Contains(t, text, s)
			}
			if tc.ifReading != "" {
				before, _, found := strings.Cut(text, tc.ifReading)
				require.True(t, found, text)
				assert.True(t, strings.HasSuffix(strings.TrimSpace(before), "If this key can still read IAM,"), "%s is named only on condition: %s", tc.ifReading, text)
			}
			if tc.err.Status == http.StatusForbidden || tc.err.Status == http.StatusUnauthorized {
				assert.NotContains(t, next, tc.op, "the refused call is proposed again: %s", text)
			}
		})
	}
}

// TestAdvice_RestrictedKeyRefusedIAMIsNotSentToIAM: a key whose role denies IAM calls
// list-api-keys against the sandbox; the failure says the operator must act and names no IAM
// call to make with that key.
func TestAdvice_RestrictedKeyRefusedIAMIsNotSentToIAM(t *testing.T) {
	t.Parallel()
	sb, base := sandboxtest.Start(t)
	key, secret, ok := sb.KeyCredentials(sandbox.RestrictedKeyName)
	require.True(t, ok)
	e, err := New(Options{Client: sandboxtest.Client(t, base, apiclient.Credentials{Key: key, Secret: secret}), Secrets: SecretDelivery{Mode: DeliverInline}})
	require.NoError(t, err)

	res, err := e.Call(t.Context(), "list-api-keys", nil)
	require.NoError(t, err)
	require.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "Forbidden by role policy for iam")
	assert.Contains(t, res.Text, "the operator must allow list-api-keys")
	for _, name := range []string{"get-api-key", "list-iam-roles", "get-iam-role", "update-iam-role-policy"} {
		assert.NotContains(t, res.Text, name)
	}
}

// TestAdvice_NonEditableRoleIsNotGrantedAnything: the sandbox refuses to change the policy of
// a role created with editable: false; the advice says to make a new role, not to grant the
// call in the key's role (no policy change helps).
func TestAdvice_NonEditableRoleIsNotGrantedAnything(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	ctx := t.Context()
	deny := map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}
	res := v.call(t, ctx, "create-iam-role", map[string]any{"name": "frozen", "editable": false, "policy": deny})
	require.Equal(t, OK, res.Outcome, res.Text)
	var made struct {
		ID        string              `json:"id"`
		Reference struct{ ID string } `json:"reference"`
	}
	require.NoError(t, json.Unmarshal(res.Value, &made))
	id := cmp.Or(made.ID, made.Reference.ID)
	require.NotEmpty(t, id, string(res.Value))

	res = v.call(t, ctx, "update-iam-role-policy", map[string]any{"id": id, "default-service-strategy": "deny", "services": map[string]any{}})
	require.Equal(t, Failed, res.Outcome, res.Text)
	assert.Contains(t, res.Text, "editable: false")
	assert.NotContains(t, res.Text, "grant it in")
	assert.NotContains(t, res.Text, "does not allow")
	assert.Contains(t, res.Text, "create-iam-role")
}
