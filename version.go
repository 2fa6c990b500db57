package main

import (
	_ "embed"
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// versionFile is the version of the current release line, the one source of truth: release
// builds stamp it (the .goreleaser.yaml hook refuses a tag that differs, the Dockerfile reads
// it), and server.json and manifest.json carry it (TestReleaseFiles_VersionIsVERSION).
//
//go:embed VERSION
var versionFile string

// releaseVersion is VERSION without its newline.
func releaseVersion() string { return strings.TrimSpace(versionFile) }

// version is what the binary calls itself: in `version`, the MCP serverInfo and the User-Agent.
// Release builds stamp it with -ldflags "-X main.version=0.1.0"; left empty, init takes the
// module version that `go install …@v0.1.0` records, else VERSION with "-dev".
var version string

func init() {
	bi, _ := debug.ReadBuildInfo()
	version = resolveVersion(version, bi)
}

// pseudoVersion matches Go's pseudo-versions (v0.0.0-20261205003949-91f4d2a15c44 and the
// .0.yyyymmddhhmmss forms), with the +dirty a modified checkout adds.
var pseudoVersion = regexp.MustCompile(`[-.]\d{14}-[0-9a-f]{12}(\+incompatible)?(\+dirty)?$`)

// resolveVersion picks the version: a stamp wins, then the module version, except where it says
// nothing a reader wants: "(devel)" (a checkout built without VCS stamping) and the
// pseudo-version Go derives from an untagged checkout's commit (the revision line shows that
// commit), which give VERSION-dev. A pseudo-version from go install …@commit is kept: it is all
// that build knows of its commit.
func resolveVersion(stamped string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi == nil || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return releaseVersion() + "-dev"
	}
	if pseudoVersion.MatchString(bi.Main.Version) && readBuildDetails(bi).revision != "" {
		return releaseVersion() + "-dev"
	}
	return strings.TrimPrefix(bi.Main.Version, "v")
}

// buildDetails is what `version` prints besides the version, from the build info.
type buildDetails struct {
	module, moduleVersion string
	revision, time        string // empty when built without VCS information
	modified              string // "true", "false" or "" (unknown)
	goVersion             string
}

func readBuildDetails(bi *debug.BuildInfo) buildDetails {
	d := buildDetails{goVersion: runtime.Version()}
	if bi == nil {
		return d
	}
	d.module, d.moduleVersion, d.goVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			d.revision = s.Value
		case "vcs.time":
			d.time = s.Value
		case "vcs.modified":
			d.modified = s.Value
		}
	}
	return d
}

// writeVersion prints the version and where the binary came from, one fact a line.
func writeVersion(w io.Writer, version string, d buildDetails) error {
	var b strings.Builder
	fmt.Fprintf(&b, "exoscale-keys-mcp %s\n", version)
	if d.module != "" {
		fmt.Fprintf(&b, "  module    %s %s\n", d.module, d.moduleVersion)
	}
	if d.revision != "" {
		fmt.Fprintf(&b, "  revision  %s %s\n", d.revision, d.time)
		fmt.Fprintf(&b, "  modified  %s\n", d.modified)
	} else if d.moduleVersion != "" && d.moduleVersion != "(devel)" {
		// go install …@version builds from the module zip, which has no VCS information: the
		// module version (a pseudo-version names the commit) stands for it.
		b.WriteString("  revision  unknown (built from the module version above, not a checkout)\n")
	} else {
		// A checkout built with -buildvcs=false (some machines set it in GOFLAGS).
		b.WriteString("  revision  unknown (built without VCS information; go build -buildvcs=true records it)\n")
	}
	fmt.Fprintf(&b, "  go        %s %s/%s\n", d.goVersion, runtime.GOOS, runtime.GOARCH)
	_, err := io.WriteString(w, b.String())
	return err
}
