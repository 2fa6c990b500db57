// Package server builds what a transport serves from the flags stdio and http share: the API
// client (or the embedded sandbox), the engine, the registry of tools, resources and prompts,
// and the MCP server around them. Package main parses the flags and picks the transport.
package server

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	mcpserver "github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/internal/cli"
	"github.com/exokeys/exoscale-keys-mcp/internal/startgc"
	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"github.com/exokeys/exoscale-keys-mcp/tools"
	"github.com/exokeys/exoscale-keys-mcp/tools/iamtools"
	"github.com/exokeys/exoscale-keys-mcp/tools/mcpadapter"
	"github.com/exokeys/exoscale-keys-mcp/tools/workflows"
)

// Flags are the flags stdio and http share.
type Flags struct {
	sandbox          bool
	zone, account    string
	configFile       string
	logLevel         string
	timeout          time.Duration
	secretDelivery   string
	secretsDir       string
	allowSelfLockout bool
	confirm          string
	confirmFallback  string
	readOnly         bool
	toolsets, only   string
	exclude          string
	auditLog         string
	pollInterval     time.Duration
	waitTimeout      time.Duration
}

// Register defines the flags on fs; getenv supplies the defaults that come from the environment.
func (c *Flags) Register(fs *flag.FlagSet, getenv func(string) string) {
	fs.BoolVar(&c.sandbox, "sandbox", false, "serve against the embedded in-memory Exoscale sandbox (no account needed)")
	fs.StringVar(&c.zone, "zone", "", "Exoscale zone (default: EXOSCALE_ZONE, the account's defaultZone, ch-gva-2)")
	fs.StringVar(&c.configFile, "config", "", "exoscale.toml to read (default: EXOSCALE_CONFIG, else the exo CLI's places; never the working directory unless named)")
	fs.StringVar(&c.account, "account", "", "account in exoscale.toml (default: EXOSCALE_ACCOUNT, defaultAccount)")
	fs.StringVar(&c.logLevel, "log-level", "info", "log level on stderr: debug, info, warn, error")
	fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "timeout of one Exoscale API call")
	fs.StringVar(&c.secretDelivery, "secret-delivery", envOr(getenv, "EXOSCALE_MCP_SECRET_DELIVERY", "file"), "how created or revealed secrets reach the user: file (a 0600 file; the model sees its path) or inline (in the result)")
	fs.StringVar(&c.secretsDir, "secrets-dir", "", "directory of secret files (default $XDG_STATE_HOME/exoscale-keys-mcp/secrets)")
	fs.BoolVar(&c.allowSelfLockout, "allow-self-lockout", false, "let calls through that delete the server's own key or role or take from its key an operation it needs")
	fs.StringVar(&c.confirm, "confirm", "none", "ask the human before calls: none, destructive, writes")
	fs.StringVar(&c.confirmFallback, "confirm-fallback", "deny", "when the client cannot ask its human: deny or allow")
	fs.BoolVar(&c.readOnly, "read-only", false, "expose only list/get tools")
	fs.StringVar(&c.toolsets, "toolsets", "", "comma-separated toolsets to expose (default all)")
	fs.StringVar(&c.only, "tools", "", "comma-separated tools to expose (default all)")
	fs.StringVar(&c.exclude, "exclude-tools", "", "comma-separated tools to hide (wins over the others)")
	fs.DurationVar(&c.pollInterval, "poll-interval", 0, "poll asynchronous operations this often (default: Exoscale's cadence, 3 s growing to 60 s)")
	fs.DurationVar(&c.waitTimeout, "wait-timeout", tools.DefaultWaitTimeout, "longest wait for an asynchronous operation; past it the call ends and points to get-operation")
	fs.StringVar(&c.auditLog, "audit-log", "", "append one JSON line per changing, refused or dry-run call to this file (0600)")
}

// Sandbox reports whether --sandbox was given.
func (c *Flags) Sandbox() bool { return c.sandbox }

// FileDelivery reports whether secrets go to files (--secret-delivery file).
func (c *Flags) FileDelivery() bool { return tools.DeliveryMode(c.secretDelivery) == tools.DeliverFile }

// Logger is the logger --log-level asks for, writing to w.
func (c *Flags) Logger(w io.Writer) (*slog.Logger, error) { return newLogger(c.logLevel, w) }

func envOr(getenv func(string) string, name, def string) string {
	if v := getenv(name); v != "" {
		return v
	}
	return def
}

func newLogger(level string, w io.Writer) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: expected debug, info, warn or error, got %q", level)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l})), nil
}

// Shared replaces the engine's and the API client's in-process parts with ones several
// replicas share (see tools.Options and internal/scale); zero values keep the defaults.
type Shared struct {
	Locker   tools.Locker
	Sealer   tools.Sealer
	Nonces   tools.NonceStore
	Observer apiclient.Observer
}

// Options is how a backend is built besides the flags.
type Options struct {
	Stderr io.Writer // the log's destination
	Getenv func(string) string
	// Transport names the transport in the engine's audit lines ("stdio", "http").
	Transport string
	// RequireCredentials is false in multi-tenant HTTP mode, where each request brings its own.
	RequireCredentials bool
	// Version is the binary's version, for the User-Agent and the MCP serverInfo.
	Version string
	// Backoff replaces the API client's wait between retries when set (tests); nil in the binary.
	Backoff func(attempt int, retryAfter time.Duration) time.Duration
	Shared  Shared
}

// Backend is what a transport serves: the engine, the registry of what it serves, and what to
// close at the end.
type Backend struct {
	Engine   *tools.Engine
	Registry *tools.Registry
	Log      *slog.Logger
	Close    func()
	version  string
}

// NewBackend resolves endpoint and credentials (or starts the sandbox) and builds the engine
// and the registry.
func (c *Flags) NewBackend(ctx context.Context, o Options) (_ *Backend, err error) {
	// Flags first: nothing is started for a call that fails on its words.
	log, err := newLogger(c.logLevel, o.Stderr)
	if err != nil {
		return nil, err
	}
	delivery, err := c.delivery(o.Getenv)
	if err != nil {
		return nil, err
	}
	if c.confirmFallback != "deny" && c.confirmFallback != "allow" {
		return nil, fmt.Errorf("--confirm-fallback: expected deny or allow, got %q", c.confirmFallback)
	}

	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	cfg := apiclient.Config{Timeout: c.timeout, UserAgent: "exoscale-keys-mcp/" + o.Version, Logger: log, Backoff: o.Backoff, Observer: o.Shared.Observer}
	zone := c.zone // the zone the self-lockout guard evaluates policies in ("" = the default)
	if c.sandbox {
		sb := sandbox.New()
		base, stop, err := sb.Start()
		if err != nil {
			return nil, fmt.Errorf("starting the sandbox: %w", err)
		}
		closers = append(closers, stop)
		key, secret := sb.ServerCredentials()
		cfg.Endpoint, cfg.Credentials = base, apiclient.Credentials{Key: key, Secret: secret}
		// The sandbox settles operations in one poll: poll it briskly.
		cfg.Poll = apiclient.PollConfig{First: 20 * time.Millisecond, Interval: 50 * time.Millisecond}
		log.Info("serving the embedded sandbox: an in-memory Exoscale, no account used; nothing here touches a real organization", "endpoint", base, "key", key)
	} else {
		res, err := apiclient.Resolve(ctx, apiclient.Settings{Zone: c.zone, Account: c.account, ConfigFile: c.configFile, Getenv: o.Getenv, EndpointOnly: !o.RequireCredentials})
		if err != nil {
			return nil, err
		}
		for _, w := range res.Warnings {
			log.Warn(w)
		}
		cfg.Endpoint, cfg.Credentials, zone = res.Endpoint, res.Credentials, res.Zone
		log.Info("exoscale api", "endpoint", res.Endpoint, "credentials", res.Source, "key", res.Credentials.Key)
	}
	if c.pollInterval > 0 {
		cfg.Poll = apiclient.PollConfig{First: c.pollInterval, Interval: c.pollInterval}
	}
	client, err := apiclient.New(cfg)
	if err != nil {
		return nil, err
	}
	var audit *tools.AuditLog
	if c.auditLog != "" {
		if audit, err = tools.OpenAuditLog(c.auditLog); err != nil {
			return nil, err
		}
		closers = append(closers, func() { audit.Close() })
	}
	e, err := tools.New(tools.Options{
		Client:      client,
		Logger:      log,
		Secrets:     delivery,
		Guards:      tools.GuardOptions{AllowSelfLockout: c.allowSelfLockout, Zone: zone},
		Confirm:     tools.ConfirmOptions{Mode: tools.ConfirmMode(c.confirm), AllowWithoutElicitation: c.confirmFallback == "allow"},
		Audit:       audit,
		Transport:   o.Transport,
		WaitTimeout: c.waitTimeout,
		Locker:      o.Shared.Locker,
		Sealer:      o.Shared.Sealer,
		Nonces:      o.Shared.Nonces,
	})
	if err != nil {
		return nil, err
	}
	filter := tools.Filter{ReadOnly: c.readOnly, Toolsets: cli.SplitList(c.toolsets), Tools: cli.SplitList(c.only), Exclude: cli.SplitList(c.exclude)}
	full, err := Registry(e, filter)
	if err != nil {
		return nil, err
	}
	reg, err := full.Filtered(filter)
	if err != nil {
		return nil, err
	}
	// Advice names only tools the model can call; set before anything is served.
	served := map[string]bool{}
	for _, t := range reg.Tools() {
		served[t.Name] = true
	}
	e.SetServed(func(name string) bool { return served[name] })
	// The first tool call ends start-up: from then on the operator's GOGC applies.
	reg = reg.Observed(startupEnds{})
	return &Backend{Engine: e, Registry: reg, Log: log, Close: closeAll, version: o.Version}, nil
}

// Registry is everything the server can serve before the operator's filter: the catalog's
// tools, the IAM policy tools with their resources, and the composite workflows with their
// prompts. The workflows see the filter: they name in their results only tools served. With a
// nil engine it serves to check names (--tools, --toolsets) before anything starts; its
// handlers need the engine only when called.
func Registry(e *tools.Engine, filter tools.Filter) (*tools.Registry, error) {
	reg, err := e.NewRegistry(tools.Filter{})
	if err != nil {
		return nil, err
	}
	var caller iamtools.Caller // nil without an engine: the handlers are never called then
	if e != nil {
		caller = e
	}
	if err := iamtools.Register(reg, caller); err != nil {
		return nil, err
	}
	if err := reg.AddTools(workflows.Tools(e, workflows.Options{Filter: filter})...); err != nil {
		return nil, err
	}
	reg.AddPrompts(workflows.Prompts()...)
	return reg, nil
}

// ToolTable is the README's tool table: the catalog's tools and the IAM policy tools, then the
// composite ones.
func ToolTable() string {
	return tools.MarkdownTable(iamtools.Tools(nil), workflows.Tools(nil, workflows.Options{}))
}

// MCPServer builds the MCP server around the backend's registry.
func (b *Backend) MCPServer(opts ...mcpserver.ServerOption) *mcpserver.MCPServer {
	return mcpadapter.NewServer("exoscale-keys-mcp", b.version, b.Registry, b.Engine.Instructions(b.Registry), b.Log, opts...)
}

func (c *Flags) delivery(getenv func(string) string) (tools.SecretDelivery, error) {
	switch tools.DeliveryMode(c.secretDelivery) {
	case tools.DeliverInline:
		return tools.SecretDelivery{Mode: tools.DeliverInline}, nil
	case tools.DeliverFile:
		dir := c.secretsDir
		if dir == "" {
			var err error
			if dir, err = c.defaultSecretsDir(getenv); err != nil {
				return tools.SecretDelivery{}, err
			}
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return tools.SecretDelivery{}, err
		}
		return tools.SecretDelivery{Mode: tools.DeliverFile, Dir: abs}, nil
	}
	return tools.SecretDelivery{}, fmt.Errorf("--secret-delivery: expected file or inline, got %q", c.secretDelivery)
}

// Check refuses bad flag values before anything starts (the sandbox, a listener, a
// secretCommand): the engine's own rules, worded with the flag's name (it checks them again when
// it is built), and an --audit-log it could not open. Mistakes are *cli.UsageError.
func (c *Flags) Check() error {
	if _, err := newLogger(c.logLevel, io.Discard); err != nil {
		return &cli.UsageError{Msg: err.Error()}
	}
	switch tools.ConfirmMode(c.confirm) {
	case tools.ConfirmNone, tools.ConfirmDestructive, tools.ConfirmWrites:
	default:
		return cli.Usagef("--confirm: expected none, destructive or writes, got %q", c.confirm)
	}
	if c.confirmFallback != "deny" && c.confirmFallback != "allow" {
		return cli.Usagef("--confirm-fallback: expected deny or allow, got %q", c.confirmFallback)
	}
	switch tools.DeliveryMode(c.secretDelivery) {
	case tools.DeliverFile, tools.DeliverInline:
	default:
		return cli.Usagef("--secret-delivery: expected file or inline, got %q", c.secretDelivery)
	}
	filters := []struct {
		flag   string
		filter tools.Filter
	}{
		{"--toolsets", tools.Filter{Toolsets: cli.SplitList(c.toolsets)}},
		{"--tools", tools.Filter{Tools: cli.SplitList(c.only)}},
		{"--exclude-tools", tools.Filter{Exclude: cli.SplitList(c.exclude)}},
	}
	var full *tools.Registry // built once, and only when a name is to be checked
	for _, f := range filters {
		if len(f.filter.Toolsets)+len(f.filter.Tools)+len(f.filter.Exclude) == 0 {
			continue
		}
		if full == nil {
			// The registry the backend builds, without an engine: its tools' handlers are
			// never called here, and Filtered is where the names are checked.
			var err error
			if full, err = Registry(nil, tools.Filter{}); err != nil {
				return err
			}
		}
		if _, err := full.Filtered(f.filter); err != nil {
			return cli.Usagef("%s: %v", f.flag, err)
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
func (c *Flags) defaultSecretsDir(getenv func(string) string) (string, error) {
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

// startupEnds is the CallObserver that ends the start-up collector setting (package startgc)
// at the first tool call.
type startupEnds struct{}

func (startupEnds) CallStarted(context.Context, string) func(context.Context, tools.Result, error) {
	startgc.Done()
	return func(context.Context, tools.Result, error) {}
}
