package sandbox

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestState_RoundTripResumesTheOrganization(t *testing.T) {
	t.Parallel()
	s := New()
	admin := serverCreds(s)
	roleID := createRole(t, s, admin, "lister", `{"default-service-strategy":"deny","services":{
		"iam":{"type":"rules","rules":[{"action":"allow","expression":"operation.startsWith('list-')"}]}}}`)
	k := createKey(t, s, admin, "lister-key", roleID)
	ai := must(t, s, req{method: "POST", path: "/ai/api-key", creds: admin, body: `{"name":"kept","scope":"` + PrivateDeploymentID + `"}`})
	sess := must(t, s, req{method: "POST", path: "/iam-role/" + AdminRoleID + "/assume", creds: admin, body: `{"ttl":3600}`})
	must(t, s, req{method: "PUT", path: "/iam-organization-policy", creds: admin, body: `{"default-service-strategy":"allow","services":{
		"ai":{"type":"rules","rules":[{"action":"deny","expression":"operation == 'delete-ai-api-key'"},{"action":"allow","expression":"true"}]}}}`})
	op := must(t, s, req{method: "DELETE", path: "/api-key/" + createKey(t, s, admin, "gone", RestrictedRoleID).key, creds: admin})
	depKey := must(t, s, req{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID + "/api-key", creds: admin})["api-key"]

	data, err := s.MarshalState()
	require.NoError(t, err)
	r := New(WithoutSeed())
	require.NoError(t, r.RestoreState(data))

	assert.Equal(t, s.State(), r.State())
	assert.ElementsMatch(t, s.Secrets(), r.Secrets())
	key, secret := r.ServerCredentials()
	assert.Equal(t, admin, creds{key, secret}, "the server credential survives")

	// Keys sign with their old secrets, and their CEL policies hold.
	assert.Equal(t, http.StatusOK, send(t, r, req{method: "GET", path: "/api-key", creds: k}).Status)
	assertForbidden(t, send(t, r, req{method: "GET", path: "/api-key/" + k.key, creds: k}), "Forbidden by role policy for iam")
	assertForbidden(t, send(t, r, req{method: "DELETE", path: "/ai/api-key/" + ai["id"].(string), creds: admin}), "Forbidden by organization policy for ai")
	// The session, AI key values, deployment keys, operations, events and users too.
	assert.Equal(t, http.StatusOK, send(t, r, req{method: "GET", path: "/api-key", creds: creds{sess["key"].(string), sess["secret"].(string)}}).Status)
	assert.Equal(t, ai["value"], must(t, r, req{method: "GET", path: "/ai/api-key/" + ai["id"].(string) + "/reveal", creds: admin})["value"])
	assert.Equal(t, depKey, must(t, r, req{method: "GET", path: "/ai/deployment/" + PrivateDeploymentID + "/api-key", creds: admin})["api-key"])
	assert.Equal(t, "pending", must(t, r, req{method: "GET", path: "/operation/" + op["id"].(string), creds: admin})["state"], "polls left survive")
	assert.Equal(t, listEvents(t, s, req{creds: admin}), listEvents(t, r, req{creds: admin}))
	assert.Equal(t, must(t, s, req{method: "GET", path: "/user", creds: admin}), must(t, r, req{method: "GET", path: "/user", creds: admin}))
	assert.Equal(t, must(t, s, req{method: "GET", path: "/iam-role", creds: admin}), must(t, r, req{method: "GET", path: "/iam-role", creds: admin}))

	// The restored sandbox goes on: new objects, new events.
	createKey(t, r, admin, "after-restart", RestrictedRoleID)
	assert.Len(t, listEvents(t, r, req{creds: admin}), len(listEvents(t, s, req{creds: admin}))+1)
}

func TestRestoreState_RejectsBadDocumentsAndKeepsState(t *testing.T) {
	t.Parallel()
	s := New()
	before := s.State()
	good, err := s.MarshalState()
	require.NoError(t, err)
	for name, doc := range map[string]string{
		"not JSON":      `{`,
		"wrong version": `{"version":2,"server-key":"EXO1","server-secret":"x"}`,
		"unknown field": `{"version":1,"server-key":"EXO1","server-secret":"x","surprise":true}`,
		"no server key": `{"version":1}`,
		"key without secret": `{"version":1,"server-key":"EXO1","server-secret":"x",` +
			`"api-keys":[{"key":"EXO1","name":"n","role-id":"` + AdminRoleID + `"}]}`,
		"duplicate role": `{"version":1,"server-key":"EXO1","server-secret":"x","roles":[{"id":"a","name":"a"},{"id":"a","name":"b"}]}`,
	} {
		assert.Error(t, s.RestoreState([]byte(doc)), name)
	}
	assert.Equal(t, before, s.State())
	require.NoError(t, s.RestoreState(good))
	assert.Equal(t, before, s.State())
}
