package buildinfo

import (
	"runtime/debug"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVersion_Resolve(t *testing.T) {
	t.Parallel()
	const release = "0.4.2" // stands for VERSION, which package main embeds and passes in
	withModule := func(v string) *debug.BuildInfo {
		return &debug.BuildInfo{Main: debug.Module{Path: "github.com/exokeys/exoscale-keys-mcp", Version: v}}
	}
	withVCS := func(bi *debug.BuildInfo) *debug.BuildInfo {
		bi.Settings = []debug.BuildSetting{{Key: "vcs.revision", Value: "91f4d2a15c441a005a7fdf2cdcbeffd8f1058872"}}
		return bi
	}
	for _, tc := range []struct {
		name    string
		stamped string
		bi      *debug.BuildInfo
		want    string
	}{
		{"a release stamp wins", "1.2.3", withModule("v0.0.9"), "1.2.3"},
		{"go install @version", "", withModule("v0.1.0"), "0.1.0"},
		{"go install @commit", "", withModule("v0.0.0-20261205001000-1f4d50656fad"), "0.0.0-20261205001000-1f4d50656fad"},
		{"a checkout", "", withModule("(devel)"), release + "-dev"},
		{"a checkout stamped with VCS information", "", withVCS(withModule("v0.0.0-20261205003949-91f4d2a15c44+dirty")), release + "-dev"},
		{"a checkout at a tag", "", withVCS(withModule("v0.1.0")), "0.1.0"},
		{"a modified checkout at a tag", "", withVCS(withModule("v0.1.0+dirty")), "0.1.0+dirty"},
		{"go install @commit after a tag", "", withModule("v0.1.1-0.20261205003949-91f4d2a15c44"), "0.1.1-0.20261205003949-91f4d2a15c44"},
		{"no build info", "", nil, release + "-dev"},
	} {
		assert.Equal(t, tc.want, Version(tc.stamped, release, tc.bi), tc.name)
	}
}

func TestVersion_PrintsRevisionAndModifiedFlag(t *testing.T) {
	t.Parallel()
	bi := &debug.BuildInfo{GoVersion: "go1.26.8", Main: debug.Module{Path: "github.com/exokeys/exoscale-keys-mcp", Version: "(devel)"},
		Settings: []debug.BuildSetting{{Key: "vcs.revision", Value: "1f4d50656fadea572dd885aab22de8165dc69221"}, {Key: "vcs.time", Value: "2026-12-05T00:10:00Z"}, {Key: "vcs.modified", Value: "true"}}}
	var b strings.Builder
	require.NoError(t, Write(&b, "0.1.0-dev", Read(bi)))
	out := b.String()
	assert.True(t, strings.HasPrefix(out, "exoscale-keys-mcp 0.1.0-dev\n"), out)
	assert.Contains(t, out, "module    github.com/exokeys/exoscale-keys-mcp (devel)")
	assert.Contains(t, out, "revision  1f4d50656fadea572dd885aab22de8165dc69221 2026-12-05T00:10:00Z")
	assert.Contains(t, out, "modified  true")
	assert.Contains(t, out, "go        go1.26.8")

	b.Reset()
	require.NoError(t, Write(&b, "0.1.0-dev", Read(&debug.BuildInfo{Main: bi.Main})))
	assert.Contains(t, b.String(), "revision  unknown", "without VCS information it says so")
	assert.Contains(t, b.String(), "-buildvcs=true")

	b.Reset()
	installed := &debug.BuildInfo{Main: debug.Module{Path: bi.Main.Path, Version: "v0.1.0"}}
	require.NoError(t, Write(&b, "0.1.0", Read(installed)))
	assert.Contains(t, b.String(), "module    github.com/exokeys/exoscale-keys-mcp v0.1.0")
	assert.Contains(t, b.String(), "revision  unknown (built from the module version above", "go install @version has no VCS information")
}
