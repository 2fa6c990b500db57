package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/tools"
)

// command is one subcommand as `help` lists it. README's command list is generated from this
// table (TestREADME_CommandListIsCurrent).
type command struct {
	name, args, summary string
}

var commands = []command{
	{"stdio", "[flags]", "serve MCP over stdin/stdout (the default command)"},
	{"http", "[flags]", "serve MCP over streamable HTTP at /mcp"},
	{"sandbox", "[flags]", "run the embedded sandbox Exoscale API as a process of its own"},
	{"tools", "", "print the tool table (markdown)"},
	{"version", "", "print the version, VCS revision and Go version"},
	{"help", "[command]", "list the commands, or show one command's flags"},
}

// commandList is the commands, one a line, as `help` prints them and README shows them.
func commandList() string {
	var b strings.Builder
	for _, c := range commands {
		fmt.Fprintf(&b, "  %-26s %s\n", strings.TrimSpace(c.name+" "+c.args), c.summary)
	}
	return b.String()
}

func usage() string {
	return "usage: exoscale-keys-mcp [command] [flags]\n\nCommands:\n" + commandList() + `
"exoscale-keys-mcp help COMMAND" (or COMMAND -h) shows a command's flags.
Add --sandbox to stdio or http to try the server on an in-memory Exoscale, no account needed.
`
}

func summary(name string) string {
	for _, c := range commands {
		if c.name == name {
			return c.summary
		}
	}
	return ""
}

// usageError is a mistake on the command line: one line on stderr and exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return &usageError{fmt.Sprintf(format, a...)} }

// exitStatus reports err on stderr, on one line for a usage mistake, and returns the process's
// exit status: 0 for success and for help, 2 for a usage mistake, 1 for anything else.
func exitStatus(err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "exoscale-keys-mcp: %s\n", ue.msg)
		return 2
	}
	msg := err.Error()
	// apiclient's no-credentials error ends with how to fix it; it cannot know about --sandbox,
	// which is what a newcomer without an account wants.
	if strings.HasPrefix(msg, "no Exoscale API credentials found") {
		msg += "\nOr try the server without an account: add --sandbox to serve an embedded in-memory Exoscale."
	}
	fmt.Fprintf(stderr, "exoscale-keys-mcp: %s\n", msg)
	return 1
}

// parseFlags parses a command's flags. Mistakes come back as one usage error (the flag package
// would print the error and every flag, and run would print the error again); -h prints the
// command's flags on help and returns flag.ErrHelp. Positional arguments are refused: no
// command takes any.
func parseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		fmt.Fprintf(help, "usage: exoscale-keys-mcp %s", fs.Name())
		n := 0
		fs.VisitAll(func(*flag.Flag) { n++ })
		if n > 0 {
			io.WriteString(help, " [flags]")
		}
		fmt.Fprintf(help, "\n\n%s\n", summary(fs.Name()))
		if n > 0 {
			io.WriteString(help, "\nFlags:\n")
			fs.SetOutput(help)
			fs.PrintDefaults()
		}
		return flag.ErrHelp
	}
	if err != nil {
		return usagef("%s: %v (exoscale-keys-mcp %s -h lists the flags)", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return usagef("%s: unexpected argument %q: %s takes no arguments besides flags (exoscale-keys-mcp %s -h lists them)", fs.Name(), fs.Arg(0), fs.Name(), fs.Name())
	}
	return nil
}

// isHelpFlag reports whether arg asks for help in any of the spellings people type.
func isHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// runTools prints the tool table.
func runTools(args []string, stdout io.Writer) error {
	if err := parseFlags(flag.NewFlagSet("tools", flag.ContinueOnError), args, stdout); err != nil {
		return err
	}
	_, err := io.WriteString(stdout, toolTable())
	return err
}

// runVersion prints the version and the build's module, VCS revision and Go version.
func runVersion(args []string, stdout io.Writer) error {
	if err := parseFlags(flag.NewFlagSet("version", flag.ContinueOnError), args, stdout); err != nil {
		return err
	}
	bi, _ := debug.ReadBuildInfo()
	return writeVersion(stdout, version, readBuildDetails(bi))
}

// runHelp lists the commands. (run hands "help COMMAND" to "COMMAND -h".)
func runHelp(args []string, stdout io.Writer) error {
	switch {
	case len(args) > 1:
		return usagef("help: expected at most one command, got %d arguments", len(args))
	case len(args) == 1 && !isHelpFlag(args[0]) && summary(args[0]) == "":
		return usagef("help: unknown command %q (exoscale-keys-mcp help lists the commands)", args[0])
	}
	_, err := io.WriteString(stdout, usage())
	return err
}

// check refuses bad flag values before anything starts (the sandbox, a listener, a
// secretCommand): the engine's own rules, worded with the flag's name (it checks them again when
// it is built), and an --audit-log it could not open.
func (c *common) check() error {
	if _, err := newLogger(c.logLevel, io.Discard); err != nil {
		return &usageError{err.Error()}
	}
	switch tools.ConfirmMode(c.confirm) {
	case tools.ConfirmNone, tools.ConfirmDestructive, tools.ConfirmWrites:
	default:
		return usagef("--confirm: expected none, destructive or writes, got %q", c.confirm)
	}
	if c.confirmFallback != "deny" && c.confirmFallback != "allow" {
		return usagef("--confirm-fallback: expected deny or allow, got %q", c.confirmFallback)
	}
	switch tools.DeliveryMode(c.secretDelivery) {
	case tools.DeliverFile, tools.DeliverInline:
	default:
		return usagef("--secret-delivery: expected file or inline, got %q", c.secretDelivery)
	}
	for _, f := range []struct {
		flag   string
		filter tools.Filter
	}{
		{"--toolsets", tools.Filter{Toolsets: splitList(c.toolsets)}},
		{"--tools", tools.Filter{Tools: splitList(c.only)}},
		{"--exclude-tools", tools.Filter{Exclude: splitList(c.exclude)}},
	} {
		// The registry the backend builds, without an engine: its tools' handlers are never
		// called here, and Filtered is where the names are checked.
		full, err := serverRegistry(nil, tools.Filter{})
		if err != nil {
			return err
		}
		if _, err := full.Filtered(f.filter); err != nil {
			return usagef("%s: %v", f.flag, err)
		}
	}
	if c.auditLog != "" {
		// Opened the way the backend opens it (append, create 0600), then closed: a missing
		// directory or a read-only file is reported now rather than after the sandbox starts.
		a, err := tools.OpenAuditLog(c.auditLog)
		if err != nil {
			return fmt.Errorf("--audit-log: %w", err)
		}
		a.Close()
	}
	return nil
}

// defaultSecretsDir is where secret files go without --secrets-dir. With no home directory at
// all (an empty environment, as in a bare container) the real server fails closed, but the
// sandbox's secrets are fakes that die with the process: they go to a new private directory
// under the system's temporary directory, so that --sandbox needs nothing from the environment.
func (c *common) defaultSecretsDir(getenv func(string) string) (string, error) {
	dir, err := tools.DefaultSecretsDir(getenv)
	if err == nil || !c.sandbox {
		return dir, err
	}
	tmp, terr := os.MkdirTemp("", "exoscale-keys-mcp-sandbox-")
	if terr != nil {
		return "", fmt.Errorf("%w (and no temporary directory for the sandbox's: %v)", err, terr)
	}
	return filepath.Join(tmp, "secrets"), nil
}
