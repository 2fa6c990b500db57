// Package cli is exoscale-keys-mcp's command line apart from what the commands do: the command
// table, the help text, usage errors and the exit status. Package main parses each command's
// flags with ParseFlags and hands what a command returns to ExitStatus.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// Command is one subcommand as `help` lists it. README's command list is generated from
// Commands (TestREADME_CommandListIsCurrent).
type Command struct {
	Name, Args, Summary string
}

// Commands is every subcommand, in the order `help` lists them.
var Commands = []Command{
	{"stdio", "[flags]", "serve MCP over stdin/stdout (the default command)"},
	{"http", "[flags]", "serve MCP over streamable HTTP at /mcp"},
	{"sandbox", "[flags]", "run the embedded sandbox Exoscale API as a process of its own"},
	{"tools", "", "print the tool table (markdown)"},
	{"version", "", "print the version, VCS revision and Go version"},
	{"help", "[command]", "list the commands, or show one command's flags"},
}

// CommandList is the commands, one a line, as `help` prints them and README shows them.
func CommandList() string {
	var b strings.Builder
	for _, c := range Commands {
		fmt.Fprintf(&b, "  %-26s %s\n", strings.TrimSpace(c.Name+" "+c.Args), c.Summary)
	}
	return b.String()
}

// Usage is what `help` prints.
func Usage() string {
	return "usage: exoscale-keys-mcp [command] [flags]\n\nCommands:\n" + CommandList() + `
"exoscale-keys-mcp help COMMAND" (or COMMAND -h) shows a command's flags.
Add --sandbox to stdio or http to try the server on an in-memory Exoscale, no account needed.
`
}

// Summary is the named command's one-line summary, "" for no such command.
func Summary(name string) string {
	for _, c := range Commands {
		if c.Name == name {
			return c.Summary
		}
	}
	return ""
}

// UsageError is a mistake on the command line: one line on stderr and exit status 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// Usagef formats a UsageError.
func Usagef(format string, a ...any) error { return &UsageError{fmt.Sprintf(format, a...)} }

// ExitStatus reports err on stderr, on one line for a usage mistake, and returns the process's
// exit status: 0 for success and for help, 2 for a usage mistake, 1 for anything else.
func ExitStatus(err error, stderr io.Writer) int {
	var ue *UsageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "exoscale-keys-mcp: %s\n", ue.Msg)
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

// ParseFlags parses a command's flags. Mistakes come back as one usage error (the flag package
// would print the error and every flag, and the caller would print the error again); -h prints
// the command's flags on help and returns flag.ErrHelp. Positional arguments are refused: no
// command takes any.
func ParseFlags(fs *flag.FlagSet, args []string, help io.Writer) error {
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
		fmt.Fprintf(help, "\n\n%s\n", Summary(fs.Name()))
		if n > 0 {
			io.WriteString(help, "\nFlags:\n")
			fs.SetOutput(help)
			fs.PrintDefaults()
		}
		return flag.ErrHelp
	}
	if err != nil {
		return Usagef("%s: %v (exoscale-keys-mcp %s -h lists the flags)", fs.Name(), err, fs.Name())
	}
	if fs.NArg() > 0 {
		return Usagef("%s: unexpected argument %q: %s takes no arguments besides flags (exoscale-keys-mcp %s -h lists them)", fs.Name(), fs.Arg(0), fs.Name(), fs.Name())
	}
	return nil
}

// IsHelpFlag reports whether arg asks for help in any of the spellings people type.
func IsHelpFlag(arg string) bool {
	switch arg {
	case "-h", "-help", "--help":
		return true
	}
	return false
}

// Help lists the commands on stdout. (The caller hands "help COMMAND" to "COMMAND -h".)
func Help(args []string, stdout io.Writer) error {
	switch {
	case len(args) > 1:
		return Usagef("help: expected at most one command, got %d arguments", len(args))
	case len(args) == 1 && !IsHelpFlag(args[0]) && Summary(args[0]) == "":
		return Usagef("help: unknown command %q (exoscale-keys-mcp help lists the commands)", args[0])
	}
	_, err := io.WriteString(stdout, Usage())
	return err
}

// SplitList reads a comma-separated flag value ("a, b,,c"): its items, trimmed, empty ones
// dropped.
func SplitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
