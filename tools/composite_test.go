package tools

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
)

func TestWrapArray_PutsABareArrayUnderItsField(t *testing.T) {
	t.Parallel()
	assert.JSONEq(t, `{"events":[{"a":1}]}`, string(wrapArray("events", []byte(" [{\"a\":1}]\n"))))
	assert.Equal(t, `{"x":1}`, string(wrapArray("events", []byte(`{"x":1}`))), "an object stays as it is")
	assert.Empty(t, wrapArray("events", nil))
}

func TestListEvents_AnswersWithAnObject(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	require.Equal(t, OK, v.call(t, context.Background(), "create-iam-role", map[string]any{"name": "evented"}).Outcome)
	res := v.call(t, context.Background(), "list-events", nil)
	require.Equal(t, OK, res.Outcome, res.Text)
	obj, err := res.Object()
	require.NoError(t, err)
	assert.NotEmpty(t, obj["events"])
}

func TestSetAsideSecretFiles_RenamesOnlyThatKeysFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	v := newEnv(t, Options{Secrets: SecretDelivery{Mode: DeliverFile, Dir: dir}})
	a := v.call(t, context.Background(), "create-api-key", map[string]any{"name": "a", "role-id": sandbox.RestrictedRoleID})
	b := v.call(t, context.Background(), "create-api-key", map[string]any{"name": "b", "role-id": sandbox.RestrictedRoleID})
	ao, err := a.Object()
	require.NoError(t, err)
	bo, err := b.Object()
	require.NoError(t, err)

	got := v.e.SetAsideSecretFiles(ao["key"].(string), ".retired")
	require.Equal(t, []string{ao["secret-file"].(string) + ".retired"}, got)
	assert.FileExists(t, got[0])
	assert.FileExists(t, bo["secret-file"].(string), "another key's file is untouched")
	info, err := os.Stat(got[0])
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	none := v.e.SetAsideSecretFiles("EXO*", ".retired")
	assert.Empty(t, none, "a glob in an id matches nothing")
	entries, _ := filepath.Glob(filepath.Join(dir, "*.env"))
	assert.Len(t, entries, 1)

	inline := newEnv(t, Options{})
	none = inline.e.SetAsideSecretFiles(ao["key"].(string), ".retired")
	assert.Empty(t, none)
}

func TestIdentity_SaysWhatTheServerActsAs(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{Confirm: ConfirmOptions{Mode: ConfirmWrites, AllowWithoutElicitation: true}})
	id := v.e.Identity(context.Background())
	assert.Equal(t, v.key, id.Key)
	assert.False(t, id.Tenant)
	assert.Equal(t, DeliverInline, id.SecretDelivery)
	assert.Equal(t, ConfirmWrites, id.Confirm)
	assert.Equal(t, "allow", id.ConfirmFallback)
}

func TestUndo_OnlyDeletes(t *testing.T) {
	t.Parallel()
	v := newEnv(t, Options{})
	_, err := v.e.Undo(context.Background(), "create-api-key", map[string]any{"name": "x"})
	assert.Error(t, err, "Undo is for deletes only: it skips the confirmation")
}
