package tools

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

var (
	denyIAM = map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}
	denyAll = map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}
)

func with(args map[string]any, more map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range args {
		out[k] = v
	}
	for k, v := range more {
		out[k] = v
	}
	return out
}

func TestGuard_SelfLockoutRefusedAndNothingSent(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	cases := []struct {
		tool string
		args map[string]any
	}{
		{"delete-api-key", map[string]any{"id": v.key}},
		{"delete-api-key", map[string]any{"id": "EXO" + strings.ToUpper(v.key[3:])}},
		{"delete-iam-role", map[string]any{"id": sandbox.AdminRoleID}},
		{"delete-iam-role", map[string]any{"id": strings.ToUpper(sandbox.AdminRoleID)}},
		{"update-iam-role-policy", with(map[string]any{"id": sandbox.AdminRoleID}, denyIAM)},
		{"update-iam-role-policy", with(map[string]any{"id": sandbox.AdminRoleID}, denyAll)},
		{"update-iam-organization-policy", denyIAM},
		{"update-iam-organization-policy", denyAll},
	}
	for _, c := range cases {
		res := v.call(t, t.Context(), c.tool, c.args)
		assert.Equal(t, Refused, res.Outcome, c.tool)
		assert.Contains(t, res.Text, "lock this server out", c.tool)
		assert.Contains(t, res.Text, "--allow-self-lockout", c.tool)
		// A dry run is refused too: it previews a call that would be refused.
		res = v.call(t, t.Context(), c.tool, with(c.args, map[string]any{"dry-run": true}))
		assert.Equal(t, Refused, res.Outcome, c.tool)
	}
	assert.Zero(t, v.sb.Requests("DELETE", "/api-key/*"))
	assert.Zero(t, v.sb.Requests("DELETE", "/iam-role/*"))
	assert.Zero(t, v.sb.Requests("PUT", "/iam-role/*"))
	assert.Zero(t, v.sb.Requests("PUT", "/iam-organization-policy"))

	// What does not lock the server out goes through.
	res := v.call(t, t.Context(), "update-iam-role-policy", with(map[string]any{"id": sandbox.RestrictedRoleID}, denyAll))
	assert.Equal(t, OK, res.Outcome, res.Text)
	res = v.call(t, t.Context(), "update-iam-role-policy", with(map[string]any{"id": sandbox.AdminRoleID}, map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}))
	assert.Equal(t, OK, res.Outcome, res.Text)
}

func TestGuard_OperatorCanLiftSelfLockout(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Guards: GuardOptions{AllowSelfLockout: true}})
	res := v.call(t, t.Context(), "update-iam-organization-policy", with(denyAll, map[string]any{"dry-run": true}))
	assert.Equal(t, DryRun, res.Outcome, res.Text)
}

// TestGuard_OwnRoleLookupFailsClosed: a failed read of the server's own key refuses the role
// guards with the reason, and is not remembered (it used to disable the guard for good).
func TestGuard_OwnRoleLookupFailsClosed(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	for _, status := range []int{404, 403, 500} {
		v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: status, Count: 1})
		res := v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
		assert.Equal(t, Refused, res.Outcome, status)
		assert.Contains(t, res.Text, "could not look up the role of the server's own key", status)
		assert.Contains(t, res.Text, "--allow-self-lockout", status)
	}
	// A policy that does not deny iam needs no lookup.
	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: 404, Count: 1})
	res := v.call(t, t.Context(), "update-iam-role-policy", with(map[string]any{"id": sandbox.AdminRoleID, "dry-run": true}, map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}))
	assert.Equal(t, DryRun, res.Outcome)
	v.sb.ClearFaults()
	// Nothing was cached from the failures: the own role is read now and protects it.
	res = v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "is the role of the key this server signs with")
	// And the successful read is remembered: a later outage does not matter.
	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: 500, Count: 1})
	res = v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
	assert.Contains(t, res.Text, "is the role of the key this server signs with")
	assert.Zero(t, v.sb.Requests("DELETE", "/iam-role/*"))
}

// lockoutFunc is a LockoutChecker from a function: the seam a policy engine plugs into.
type lockoutFunc func(context.Context, Guarded) (string, error)

func (f lockoutFunc) CheckLockout(ctx context.Context, g Guarded) (string, error) { return f(ctx, g) }

func TestGuard_LockoutCheckerIsPluggable(t *testing.T) {
	t.Parallel()
	boom := "EXO" + strings.Repeat("0", 24)
	var seen []string
	v := newEnv(t, Options{Lockout: lockoutFunc(func(_ context.Context, g Guarded) (string, error) {
		seen = append(seen, g.Operation.Name+" "+g.ID)
		if g.ID == boom {
			return "", errors.New("the policy engine broke")
		}
		return "the policy engine says no.", nil
	})})
	res := v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.RestrictedRoleID})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "the policy engine says no.")
	_, err := v.e.Call(t.Context(), "delete-api-key", map[string]any{"id": boom})
	require.Error(t, err, "a checker's error is a bug, not advice")
	// Operations without a lockout rule never reach the checker.
	v.call(t, t.Context(), "list-iam-roles", nil)
	assert.Equal(t, []string{"delete-iam-role " + sandbox.RestrictedRoleID, "delete-api-key " + boom}, seen)
}

func TestDeniesIAM(t *testing.T) {
	t.Parallel()
	cases := []struct {
		policy map[string]any
		want   bool
	}{
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}, false},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "allow"}}}, false},
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "deny"}}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "rules"}}}, true},
		{map[string]any{"default-service-strategy": "allow", "services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "deny", "expression": "operation == 'delete-api-key'"}}}}}, true},
		{map[string]any{"default-service-strategy": "deny", "services": map[string]any{"iam": map[string]any{"type": "rules", "rules": []any{
			map[string]any{"action": "allow", "expression": "operation in ['list-api-keys']"}}}}}, false},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, deniesIAM(c.policy), "%v", c.policy)
	}
}

func TestDuplicateCreate_RefusedWithTheExistingObject(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	res := v.call(t, t.Context(), "create-iam-role", map[string]any{"name": sandbox.RestrictedRoleName, "policy": denyAll})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "already taken by "+sandbox.RestrictedRoleID)
	assert.Zero(t, v.sb.Requests("POST", "/iam-role"))

	res = v.call(t, t.Context(), "create-ai-api-key", map[string]any{"name": sandbox.SeedAIKeyName, "scope": "public", "allow-duplicate-name": true})
	assert.Equal(t, OK, res.Outcome, res.Text)

	// When the list cannot be read, the create is refused: it cannot tell.
	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key", Status: 403, Count: 1})
	res = v.call(t, t.Context(), "create-api-key", map[string]any{"name": "new", "role-id": sandbox.RestrictedRoleID})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "could not check whether the name")
	assert.Zero(t, v.sb.Requests("POST", "/api-key"))
}

// TestCreateLock_CancelledWaiterReturnsAtOnce: a retry waiting behind a create of the same
// name returns when its context ends, without waiting for the lock.
func TestCreateLock_CancelledWaiterReturnsAtOnce(t *testing.T) {
	t.Parallel()
	l := NewLocalLocker()
	unlock, err := l.Lock(t.Context(), "k")
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		_, err := l.Lock(ctx, "k")
		done <- err
	}()
	cancel()
	require.ErrorIs(t, <-done, context.Canceled)

	// Another key is not held up; the first key frees for the next holder.
	u2, err := l.Lock(t.Context(), "other")
	require.NoError(t, err)
	u2()
	unlock()
	unlock() // idempotent
	u3, err := l.Lock(t.Context(), "k")
	require.NoError(t, err)
	u3()
	l.mu.Lock()
	assert.Empty(t, l.locks, "no lock left behind")
	l.mu.Unlock()
}

// TestCall_CancelledWhileWaitingForTheCreateLock: through the engine, a create whose lock is
// held elsewhere (another replica, a call still under way) ends at once when cancelled.
func TestCall_CancelledWhileWaitingForTheCreateLock(t *testing.T) {
	t.Parallel()
	locker := NewLocalLocker()
	v := newEnv(t, Options{Locker: locker})
	unlock, err := locker.Lock(t.Context(), createLockKey(v.e.client.Credentials(), "create-ai-api-key", "busy"))
	require.NoError(t, err)
	defer unlock()

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan Result, 1)
	go func() {
		res, _ := v.e.Call(ctx, "create-ai-api-key", map[string]any{"name": "busy", "scope": "public"})
		done <- res
	}()
	cancel()
	res := <-done
	assert.Equal(t, Failed, res.Outcome)
	assert.Contains(t, res.Text, "cancelled while another create")
	assert.Zero(t, v.sb.Requests("POST", "/ai/api-key"))
}
