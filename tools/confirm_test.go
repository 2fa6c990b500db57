package tools

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

// clock is a settable clock for expiry tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func newAIKey(t *testing.T, v *env, name string) string {
	t.Helper()
	res := v.call(t, t.Context(), "create-ai-api-key", map[string]any{"name": name, "scope": "public"})
	require.Equal(t, OK, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	return obj["id"].(string)
}

// ask runs a call that needs confirmation on a client that can ask, and returns the
// question's sealed state.
func ask(t *testing.T, v *env, session, op string, args map[string]any) (string, *Question) {
	t.Helper()
	res := v.call(t, WithPeer(t.Context(), &fakePeer{session: session, canAsk: true}), op, args)
	require.Equal(t, NeedsInput, res.Outcome, res.Text)
	require.NotNil(t, res.Question)
	require.NotEmpty(t, res.State)
	return res.State, res.Question
}

func answer(session string, yes bool, state string) context.Context {
	return WithPeer(context.Background(), &fakePeer{session: session, canAsk: true, answers: map[string]Answer{
		ConfirmID: {Accepted: true, Yes: yes, State: state},
	}})
}

func TestConfirm_AskThenTheAnswerForThisCallGoesAhead(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	id := newAIKey(t, v, "to-delete")
	args := map[string]any{"id": id}

	state, q := ask(t, v, "s1", "delete-ai-api-key", args)
	assert.Equal(t, ConfirmID, q.ID)
	assert.Contains(t, q.Message, "'to-delete'", "the question names the object by its fetched name")
	assert.Contains(t, q.Message, "cannot be undone")
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))

	res := v.call(t, answer("s1", true, state), "delete-ai-api-key", args)
	assert.Equal(t, OK, res.Outcome, res.Text)
	assert.Equal(t, 1, v.sb.Requests("DELETE", "/ai/api-key/*"))
}

func TestConfirm_NoMeansDeclined(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	id := newAIKey(t, v, "kept")
	state, _ := ask(t, v, "s1", "delete-ai-api-key", map[string]any{"id": id})
	res := v.call(t, answer("s1", false, state), "delete-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, Declined, res.Outcome)
	assert.Contains(t, res.Text, "declined")
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))
}

// TestConfirm_ForgedAnswerWithoutStateDeletesNothing: a client that cannot ask sends an
// answer it made up; it is ignored and the fallback (deny) applies.
func TestConfirm_ForgedAnswerWithoutStateDeletesNothing(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	id := newAIKey(t, v, "victim")
	for _, state := range []string{"", "forged", "e30.AAAA"} {
		ctx := WithPeer(t.Context(), &fakePeer{session: "s1", answers: map[string]Answer{ConfirmID: {Accepted: true, Yes: true, State: state}}})
		res := v.call(t, ctx, "delete-ai-api-key", map[string]any{"id": id})
		assert.Equal(t, Refused, res.Outcome, state)
		assert.Contains(t, res.Text, "--confirm-fallback allow")
	}
	// A client that can ask is asked again.
	ctx := WithPeer(t.Context(), &fakePeer{session: "s1", canAsk: true, answers: map[string]Answer{ConfirmID: {Accepted: true, Yes: true}}})
	res := v.call(t, ctx, "delete-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, NeedsInput, res.Outcome)
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))
}

func TestConfirm_AnswerForKeyADoesNotDeleteKeyB(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	a, b := newAIKey(t, v, "key-a"), newAIKey(t, v, "key-b")
	state, _ := ask(t, v, "s1", "delete-ai-api-key", map[string]any{"id": a})
	res := v.call(t, answer("s1", true, state), "delete-ai-api-key", map[string]any{"id": b})
	assert.Equal(t, NeedsInput, res.Outcome, "the answer is ignored and the human asked about b")
	assert.Contains(t, res.Question.Message, "'key-b'")
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))
	// Nor another tool with the same arguments, nor another session.
	res = v.call(t, answer("s1", true, state), "rotate-ai-api-key", map[string]any{"id": a})
	assert.Equal(t, NeedsInput, res.Outcome)
	res = v.call(t, answer("s2", true, state), "delete-ai-api-key", map[string]any{"id": a})
	assert.Equal(t, NeedsInput, res.Outcome)
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))
	assert.Zero(t, v.sb.Requests("POST", "/ai/api-key/*"))
}

func TestConfirm_ReplayedStateRefused(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	id := newAIKey(t, v, "once")
	state, _ := ask(t, v, "s1", "rotate-ai-api-key", map[string]any{"id": id})
	res := v.call(t, answer("s1", true, state), "rotate-ai-api-key", map[string]any{"id": id})
	require.Equal(t, OK, res.Outcome, res.Text)
	res = v.call(t, answer("s1", true, state), "rotate-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, NeedsInput, res.Outcome, "a used state counts no more")
	noAsk := WithPeer(t.Context(), &fakePeer{session: "s1", answers: map[string]Answer{ConfirmID: {Accepted: true, Yes: true, State: state}}})
	res = v.call(t, noAsk, "rotate-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, Refused, res.Outcome)
	assert.Equal(t, 1, v.sb.Requests("POST", "/ai/api-key/*"))
}

func TestConfirm_ExpiredStateRefused(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}, Now: clk.now})
	id := newAIKey(t, v, "late")
	state, _ := ask(t, v, "s1", "delete-ai-api-key", map[string]any{"id": id})
	clk.advance(5*time.Minute + time.Second)
	res := v.call(t, answer("s1", true, state), "delete-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, NeedsInput, res.Outcome)
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))
}

func TestConfirm_TamperedStateRefused(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive}})
	id := newAIKey(t, v, "sealed")
	state, _ := ask(t, v, "s1", "delete-ai-api-key", map[string]any{"id": id})
	payload, mac, ok := strings.Cut(state, ".")
	require.True(t, ok)
	for _, bad := range []string{payload + "x." + mac, payload + "." + mac + "A", payload, payload + ".!!"} {
		res := v.call(t, answer("s1", true, bad), "delete-ai-api-key", map[string]any{"id": id})
		assert.Equal(t, NeedsInput, res.Outcome, bad)
	}
	// A state sealed by another process (another key) is not ours.
	other, err := NewHMACSealer(nil)
	require.NoError(t, err)
	st, err := v.e.sealer.Open(state)
	require.NoError(t, err)
	forged, err := other.Seal(st)
	require.NoError(t, err)
	res := v.call(t, answer("s1", true, forged), "delete-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, NeedsInput, res.Outcome)
	assert.Zero(t, v.sb.Requests("DELETE", "/ai/api-key/*"))

	_, err = NewHMACSealer([]byte("short"))
	assert.Error(t, err)
}

func TestConfirm_FallbackAllowAndModes(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmDestructive, AllowWithoutElicitation: true}})
	id := newAIKey(t, v, "fallback")
	res := v.call(t, t.Context(), "delete-ai-api-key", map[string]any{"id": id})
	assert.Equal(t, OK, res.Outcome, res.Text)

	// --confirm writes asks before a create and names its key and role.
	w := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmWrites}})
	_, q := ask(t, w, "s1", "create-api-key", map[string]any{"name": "ci", "role-id": sandbox.RestrictedRoleID})
	assert.Contains(t, q.Message, "'ci'")
	assert.Contains(t, q.Message, "(role '"+sandbox.RestrictedRoleName+"')")
	assert.NotContains(t, q.Message, "cannot be undone")
	_, q = ask(t, w, "s1", "delete-api-key", map[string]any{"id": "EXO" + strings.Repeat("0", 24)})
	assert.Contains(t, q.Message, "EXO"+strings.Repeat("0", 24))
	// Reads never ask.
	res = w.call(t, t.Context(), "list-api-keys", nil)
	assert.Equal(t, OK, res.Outcome)
}

func TestNonceStore_SingleUseAndForgetsExpired(t *testing.T) {
	t.Parallel()
	clk := &clock{t: time.Unix(0, 0)}
	s := NewLocalNonceStore(clk.now)
	assert.True(t, s.Use("a", clk.now().Add(time.Minute)))
	assert.False(t, s.Use("a", clk.now().Add(time.Minute)))
	for i := range 1100 {
		s.Use(strings.Repeat("x", i+1), clk.now().Add(time.Minute))
	}
	clk.advance(2 * time.Minute)
	assert.True(t, s.Use("fresh", clk.now().Add(time.Minute)))
	s.mu.Lock()
	assert.Less(t, len(s.used), 10, "expired nonces are dropped")
	s.mu.Unlock()
}
