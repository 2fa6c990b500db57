package tools

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
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
	harmless := with(map[string]any{"id": sandbox.AdminRoleID, "dry-run": true}, map[string]any{"default-service-strategy": "allow", "services": map[string]any{}})
	for _, status := range []int{404, 403, 500} {
		v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: status, Count: 1})
		res := v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
		assert.Equal(t, Refused, res.Outcome, status)
		assert.Contains(t, res.Text, "could not look up the role of the server's own key", status)
		assert.Contains(t, res.Text, "--allow-self-lockout", status)
		// Even a harmless-looking policy: whether it is the server's role cannot be told.
		v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: status, Count: 1})
		res = v.call(t, t.Context(), "update-iam-role-policy", harmless)
		assert.Equal(t, Refused, res.Outcome, status)
	}
	assert.NotContains(t, v.call(t, t.Context(), "update-iam-role-policy", with(harmless, nil)).Text, "could not look up")
	// Nothing was cached from the failures: the own role is read now and protects it.
	res := v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "is the role of the key this server signs with")
	// And the successful read is remembered: a later outage does not matter.
	v.sb.Inject(sandbox.Fault{Method: "GET", Path: "/api-key/" + v.key, Status: 500, Count: 1})
	res = v.call(t, t.Context(), "delete-iam-role", map[string]any{"id": sandbox.AdminRoleID})
	assert.Contains(t, res.Text, "is the role of the key this server signs with")
	assert.Zero(t, v.sb.Requests("DELETE", "/iam-role/*"))
}

// TestGuard_PoliciesUnreadableFailClosed: the own role's policy and the organization policy
// are read for every guarded change; when either cannot be read the change is refused, and
// nothing of the failure is remembered.
func TestGuard_PoliciesUnreadableFailClosed(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	allowAll := map[string]any{"default-service-strategy": "allow", "services": map[string]any{}}
	cases := []struct {
		fault, tool, want string
		args              map[string]any
	}{
		{"/iam-organization-policy", "update-iam-organization-policy", "could not look up the organization policy", allowAll},
		{"/iam-organization-policy", "update-iam-role-policy", "could not look up the organization policy", with(map[string]any{"id": sandbox.AdminRoleID}, allowAll)},
		{"/iam-role/" + sandbox.AdminRoleID, "update-iam-organization-policy", "could not look up the policy of the server's own role", allowAll},
		{"/iam-role/" + sandbox.AdminRoleID, "reset-iam-organization-policy", "could not look up the policy of the server's own role", nil},
	}
	for _, c := range cases {
		v.sb.Inject(sandbox.Fault{Method: "GET", Path: c.fault, Status: 503, Count: 1})
		res := v.call(t, t.Context(), c.tool, c.args)
		assert.Equal(t, Refused, res.Outcome, c.tool)
		assert.Contains(t, res.Text, c.want, c.tool)
	}
	assert.Zero(t, v.sb.Requests("PUT", "/iam-organization-policy"))
	assert.Zero(t, v.sb.Requests("PUT", "/iam-role/*"))
	assert.Zero(t, v.sb.Requests("POST", "/iam-organization-policy:reset"))
	// Once readable, the same calls go through.
	for _, c := range cases {
		res := v.call(t, t.Context(), c.tool, c.args)
		assert.Equal(t, OK, res.Outcome, "%s: %s", c.tool, res.Text)
	}
}

func rulesPolicy(def string, services map[string]any) map[string]any {
	return map[string]any{"default-service-strategy": def, "services": services}
}

func rules(rs ...[2]string) map[string]any {
	var out []any
	for _, r := range rs {
		out = append(out, map[string]any{"action": r[0], "expression": r[1]})
	}
	return map[string]any{"type": "rules", "rules": out}
}

// everyIAMOperation is a CEL list of every operation of the iam class.
func everyIAMOperation() string {
	var q []string
	for _, op := range schemas.OperationsOf("iam") {
		q = append(q, "'"+op.Name+"'")
	}
	return "[" + strings.Join(q, ", ") + "]"
}

// TestGuard_IssueBypassesRefusedOverTheSandbox: the changes that used to lock the server out
// (issue 9) are refused with nothing sent, by the policy check or by the guard's evaluation.
func TestGuard_IssueBypassesRefusedOverTheSandbox(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	own := func(p map[string]any) map[string]any { return with(map[string]any{"id": sandbox.AdminRoleID}, p) }
	cases := []struct {
		name, tool string
		args       map[string]any
		want       []string
	}{
		{"allow false", "update-iam-role-policy", own(rulesPolicy("allow", map[string]any{"iam": rules([2]string{"allow", "false"})})),
			[]string{"lock this server out", "get-iam-role", "services.iam: no rule allows it"}},
		{"deny every iam op then allow list-zones", "update-iam-role-policy", own(rulesPolicy("allow", map[string]any{"iam": rules(
			[2]string{"deny", "operation in " + everyIAMOperation()}, [2]string{"allow", "operation == 'list-zones'"})})),
			[]string{"list-zones is an operation of service compute"}},
		{"deny every iam op then allow true", "update-iam-role-policy", own(rulesPolicy("allow", map[string]any{"iam": rules(
			[2]string{"deny", "operation in " + everyIAMOperation()}, [2]string{"allow", "true"})})),
			[]string{"lock this server out", "role policy services.iam.rules[0]", "delete-api-key"}},
		{"org allows only no-such-operation", "update-iam-organization-policy", rulesPolicy("allow", map[string]any{"iam": rules([2]string{"allow", "operation == 'no-such-operation'"})}),
			[]string{"no-such-operation: no such operation"}},
		{"org allows only a never-true rule", "update-iam-organization-policy", rulesPolicy("allow", map[string]any{"iam": rules([2]string{"allow", "zone == 'nowhere'"})}),
			[]string{"lock this server out", "organization policy services.iam: no rule allows it"}},
		{"IAM deny", "update-iam-role-policy", own(rulesPolicy("allow", map[string]any{"IAM": map[string]any{"type": "deny"}})), []string{`services."IAM"`, "did you mean iam?"}},
		{"iam-space deny", "update-iam-organization-policy", rulesPolicy("allow", map[string]any{"iam ": map[string]any{"type": "deny"}}), []string{`services."iam "`, "did you mean iam?"}},
		{"get-operation denied", "update-iam-organization-policy", rulesPolicy("deny", map[string]any{"iam": map[string]any{"type": "allow"}}),
			[]string{"lock this server out", "get-operation: denied by the organization policy default-service-strategy deny"}},
	}
	for _, c := range cases {
		for _, dry := range []bool{false, true} {
			args := c.args
			if dry {
				args = with(args, map[string]any{"dry-run": true})
			}
			res := v.call(t, t.Context(), c.tool, args)
			assert.Contains(t, []Outcome{Refused, Invalid}, res.Outcome, c.name)
			assert.Contains(t, res.Text, "othing was sent", c.name)
			for _, w := range c.want {
				assert.Contains(t, res.Text, w, c.name)
			}
		}
	}
	assert.Zero(t, v.sb.Requests("PUT", "/iam-role/*"))
	assert.Zero(t, v.sb.Requests("PUT", "/iam-organization-policy"))
	// The server still manages IAM.
	assert.Equal(t, OK, v.call(t, t.Context(), "list-iam-roles", nil).Outcome)
}

// TestGuard_HarmlessChangesGoThrough: changes that keep the server's operations are sent.
func TestGuard_HarmlessChangesGoThrough(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	harmless := []map[string]any{
		// iam allowed while other services change
		rulesPolicy("deny", map[string]any{"iam": map[string]any{"type": "allow"}, "compute": map[string]any{"type": "allow"}, "dbaas": map[string]any{"type": "deny"}}),
		rulesPolicy("allow", map[string]any{"compute": rules([2]string{"deny", "operation == 'delete-instance'"}, [2]string{"allow", "true"})}),
		rulesPolicy("allow", map[string]any{"iam": rules([2]string{"deny", "operation == 'list-users'"}, [2]string{"allow", "true"})}),
	}
	for i, p := range harmless {
		res := v.call(t, t.Context(), "update-iam-role-policy", with(map[string]any{"id": sandbox.AdminRoleID}, p))
		assert.Equal(t, OK, res.Outcome, "%d: %s", i, res.Text)
		res = v.call(t, t.Context(), "update-iam-organization-policy", p)
		assert.Equal(t, OK, res.Outcome, "%d: %s", i, res.Text)
	}
	res := v.call(t, t.Context(), "reset-iam-organization-policy", nil)
	assert.Equal(t, OK, res.Outcome, res.Text)
	assert.Equal(t, OK, v.call(t, t.Context(), "list-iam-roles", nil).Outcome, "the server kept its access")
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

// TestGuard_EvaluatesInTheServersZone: a policy that keeps iam only in one zone keeps the
// server's access only when that is the zone the server calls.
func TestGuard_EvaluatesInTheServersZone(t *testing.T) {
	t.Parallel()
	onlyFra := with(map[string]any{"id": sandbox.AdminRoleID, "dry-run": true}, rulesPolicy("allow", map[string]any{"iam": rules([2]string{"allow", "zone == 'de-fra-1'"})}))
	fra := newEnv(t, Options{Guards: GuardOptions{Zone: "de-fra-1"}})
	res := fra.call(t, t.Context(), "update-iam-role-policy", onlyFra)
	assert.Equal(t, DryRun, res.Outcome, res.Text)
	gva := newEnv(t, Options{})
	res = gva.call(t, t.Context(), "update-iam-role-policy", onlyFra)
	assert.Equal(t, Refused, res.Outcome)
	assert.Contains(t, res.Text, "in zone ch-gva-2")
}
