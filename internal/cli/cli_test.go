package cli

import (
	"errors"
	"flag"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExitStatus_ZeroTwoOrOneWithOneLine(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		err  error
		code int
		out  string
	}{
		{nil, 0, ""},
		{flag.ErrHelp, 0, ""},
		{Usagef("--confirm: expected none, got %q", "x"), 2, "exoscale-keys-mcp: --confirm: expected none, got \"x\"\n"},
		{fmt.Errorf("wrapped: %w", Usagef("bad")), 2, "exoscale-keys-mcp: bad\n"},
		{errors.New("boom"), 1, "exoscale-keys-mcp: boom\n"},
	} {
		var b strings.Builder
		assert.Equal(t, tc.code, ExitStatus(tc.err, &b), "%v", tc.err)
		assert.Equal(t, tc.out, b.String(), "%v", tc.err)
	}
	var b strings.Builder
	assert.Equal(t, 1, ExitStatus(errors.New("no Exoscale API credentials found: set them"), &b))
	assert.Contains(t, b.String(), "--sandbox", "a newcomer without an account is pointed to the sandbox")
}

func TestParseFlags_HelpMistakesAndArguments(t *testing.T) {
	t.Parallel()
	newFS := func() *flag.FlagSet {
		fs := flag.NewFlagSet("sandbox", flag.ContinueOnError)
		fs.String("listen", "127.0.0.1:8081", "address to serve on")
		return fs
	}
	var help strings.Builder
	require.ErrorIs(t, ParseFlags(newFS(), []string{"-h"}, &help), flag.ErrHelp)
	assert.True(t, strings.HasPrefix(help.String(), "usage: exoscale-keys-mcp sandbox [flags]\n\n"+Summary("sandbox")), help.String())
	assert.Contains(t, help.String(), "-listen")

	var ue *UsageError
	err := ParseFlags(newFS(), []string{"--bogus"}, &help)
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "sandbox: flag provided but not defined: -bogus")
	err = ParseFlags(newFS(), []string{"extra"}, &help)
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), `unexpected argument "extra"`)
	assert.NoError(t, ParseFlags(newFS(), []string{"--listen", "127.0.0.1:0"}, &help))
}
