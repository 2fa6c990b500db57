// Package buildinfo says which build a binary is: the version it calls itself and where it came
// from (module, VCS revision, Go version), from its stamp and debug.ReadBuildInfo.
//
// The stamp itself stays in package main (-ldflags "-X main.version=…", as .goreleaser.yaml,
// build/static.sh and the Dockerfile set it), and so does the embedded VERSION file: main
// passes both in.
package buildinfo

import (
	"fmt"
	"io"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
)

// pseudoVersion matches Go's pseudo-versions (v0.0.0-20261205003949-91f4d2a15c44 and the
// .0.yyyymmddhhmmss forms), with the +dirty a modified checkout adds.
var pseudoVersion = regexp.MustCompile(`[-.]\d{14}-[0-9a-f]{12}(\+incompatible)?(\+dirty)?$`)

// Version picks the version a binary calls itself: a stamp wins, then the module version,
// except where it says nothing a reader wants: "(devel)" (a checkout built without VCS
// stamping) and the pseudo-version Go derives from an untagged checkout's commit (the revision
// line shows that commit), which give release+"-dev". A pseudo-version from go install
// …@commit is kept: it is all that build knows of its commit. release is the VERSION file's
// version, without a newline.
func Version(stamped, release string, bi *debug.BuildInfo) string {
	if stamped != "" {
		return stamped
	}
	if bi == nil || bi.Main.Version == "" || bi.Main.Version == "(devel)" {
		return release + "-dev"
	}
	if pseudoVersion.MatchString(bi.Main.Version) && Read(bi).Revision != "" {
		return release + "-dev"
	}
	return strings.TrimPrefix(bi.Main.Version, "v")
}

// Details is what `version` prints besides the version, from the build info.
type Details struct {
	Module, ModuleVersion string
	Revision, Time        string // empty when built without VCS information
	Modified              string // "true", "false" or "" (unknown)
	GoVersion             string
}

// Read extracts the details from bi; a nil bi gives only the running Go version.
func Read(bi *debug.BuildInfo) Details {
	d := Details{GoVersion: runtime.Version()}
	if bi == nil {
		return d
	}
	d.Module, d.ModuleVersion, d.GoVersion = bi.Main.Path, bi.Main.Version, bi.GoVersion
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			d.Revision = s.Value
		case "vcs.time":
			d.Time = s.Value
		case "vcs.modified":
			d.Modified = s.Value
		}
	}
	return d
}

// Write prints the version and where the binary came from, one fact a line.
func Write(w io.Writer, version string, d Details) error {
	var b strings.Builder
	fmt.Fprintf(&b, "exoscale-keys-mcp %s\n", version)
	if d.Module != "" {
		fmt.Fprintf(&b, "  module    %s %s\n", d.Module, d.ModuleVersion)
	}
	if d.Revision != "" {
		fmt.Fprintf(&b, "  revision  %s %s\n", d.Revision, d.Time)
		fmt.Fprintf(&b, "  modified  %s\n", d.Modified)
	} else if d.ModuleVersion != "" && d.ModuleVersion != "(devel)" {
		// go install …@version builds from the module zip, which has no VCS information: the
		// module version (a pseudo-version names the commit) stands for it.
		b.WriteString("  revision  unknown (built from the module version above, not a checkout)\n")
	} else {
		// A checkout built with -buildvcs=false (some machines set it in GOFLAGS).
		b.WriteString("  revision  unknown (built without VCS information; go build -buildvcs=true records it)\n")
	}
	fmt.Fprintf(&b, "  go        %s %s/%s\n", d.GoVersion, runtime.GOOS, runtime.GOARCH)
	_, err := io.WriteString(w, b.String())
	return err
}
