package apiclient

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Environment variables read by Resolve, as the exo CLI and the Terraform provider name them.
const (
	EnvAPIKey         = "EXOSCALE_API_KEY"
	EnvAPISecret      = "EXOSCALE_API_SECRET"
	EnvKey            = "EXOSCALE_KEY"
	EnvSecret         = "EXOSCALE_SECRET"
	EnvZone           = "EXOSCALE_ZONE"
	EnvAPIEndpoint    = "EXOSCALE_API_ENDPOINT"
	EnvAPIEnvironment = "EXOSCALE_API_ENVIRONMENT"
	EnvConfig         = "EXOSCALE_CONFIG"
	EnvAccount        = "EXOSCALE_ACCOUNT"
)

// ConfigFileName is the exo CLI's configuration file name.
const ConfigFileName = "exoscale.toml"

// Limits for reading configuration.
const (
	maxConfigBytes       = 1 << 20
	maxSecretOutputBytes = 64 << 10
	secretCommandTimeout = time.Minute
)

// Settings are the inputs of Resolve (the server's flags). Getenv defaults to os.Getenv; tests
// inject their own.
type Settings struct {
	Zone, Account string
	Getenv        func(string) string
	// ConfigFile is the exoscale.toml to read (the --config flag); it wins over EXOSCALE_CONFIG
	// and the search.
	ConfigFile string
	// ConfigDirs overrides the search order of exoscale.toml (tests). Default:
	// $XDG_CONFIG_HOME/exoscale (os.UserConfigDir), $HOME/.exoscale, $HOME. Unlike the exo CLI,
	// the working directory is not searched: MCP hosts start stdio servers in the project
	// directory, and a cloned repository's exoscale.toml must not choose the credentials, nor
	// run its secretCommand. Point ConfigFile or EXOSCALE_CONFIG at such a file to use it.
	ConfigDirs []string
	// EndpointOnly skips credentials (and so the config file): for a server whose requests each
	// bring their own. Zone and endpoint come from the settings and the environment.
	EndpointOnly bool
}

// Resolved is the endpoint, zone and credentials to use, and where they came from.
type Resolved struct {
	Endpoint    string
	Zone        string
	Credentials Credentials
	Source      string   // e.g. "environment (EXOSCALE_API_KEY)" or "/home/x/.config/exoscale/exoscale.toml account work"
	Warnings    []string // e.g. config file readable by others
}

// Resolve finds the endpoint, zone and credentials like the exo CLI does.
//
// Credentials: EXOSCALE_API_KEY/EXOSCALE_API_SECRET (or EXOSCALE_KEY/EXOSCALE_SECRET) when both
// a key and a secret are set; else the exo CLI's exoscale.toml (s.ConfigFile, EXOSCALE_CONFIG,
// or the first found in the search order, which leaves out the working directory), account from s.Account, EXOSCALE_ACCOUNT, defaultAccount, or the
// only account; its secret, or the output of its secretCommand, which runs without a shell and
// only from a file owned by the user (or root) that group and others cannot write.
//
// Zone: s.Zone, EXOSCALE_ZONE, the account's defaultZone, DefaultZone. Endpoint:
// EXOSCALE_API_ENDPOINT, the account's endpoint, else https://{EXOSCALE_API_ENVIRONMENT or
// "api"}-{zone}.exoscale.com/v2.
//
// Without credentials the error names every place looked and how to fix it. Nothing returned
// (error, warning, Source) ever holds a secret.
func Resolve(ctx context.Context, s Settings) (*Resolved, error) {
	getenv := s.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	env := func(name string) string { return strings.TrimSpace(getenv(name)) }
	r := &Resolved{}

	key, keyVar := firstEnv(env, EnvAPIKey, EnvKey)
	secret, _ := firstEnv(env, EnvAPISecret, EnvSecret)

	var acct *account
	var looked []string
	switch {
	case s.EndpointOnly:
		r.Source = "none: each request brings its own credentials"
	case key != "" && secret != "":
		r.Credentials = Credentials{Key: key, Secret: secret}
		r.Source = "environment (" + keyVar + ")"
		if s.Account != "" {
			r.Warnings = append(r.Warnings, fmt.Sprintf("account %q ignored: credentials come from the environment (%s)", s.Account, keyVar))
		}
	default:
		if key != "" || secret != "" {
			r.Warnings = append(r.Warnings, "ignoring a partial API key in the environment: set both "+EnvAPIKey+" and "+EnvAPISecret+" (or "+EnvKey+" and "+EnvSecret+")")
		}
		path, tried, err := findConfig(env, s.ConfigFile, s.ConfigDirs)
		if err != nil {
			return nil, err
		}
		looked = tried
		if path != "" {
			a, warnings, err := loadAccount(ctx, path, s.Account, env(EnvAccount))
			r.Warnings = append(r.Warnings, warnings...)
			if err != nil {
				return nil, err
			}
			if a != nil {
				acct = a
				r.Credentials = a.creds
				r.Source = path + " account " + a.Name
			} else {
				looked[len(looked)-1] = path + " (found, but it has no accounts)"
			}
		}
		if acct == nil {
			return nil, noCredentialsError(env, looked)
		}
	}

	zone := s.Zone
	if zone == "" {
		zone = env(EnvZone)
	}
	if zone == "" && acct != nil {
		zone = acct.DefaultZone
	}
	if zone == "" {
		zone = DefaultZone
	}
	zone = strings.ToLower(strings.TrimSpace(zone))
	if err := validateZone(zone); err != nil {
		return nil, err
	}
	r.Zone = zone

	endpoint, warnings, err := resolveEndpoint(env, acct, zone)
	r.Warnings = append(r.Warnings, warnings...)
	if err != nil {
		return nil, err
	}
	r.Endpoint = endpoint
	return r, nil
}

// firstEnv returns the first non-empty variable of names, and its name.
func firstEnv(env func(string) string, names ...string) (string, string) {
	for _, n := range names {
		if v := env(n); v != "" {
			return v, n
		}
	}
	return "", ""
}

var hostPrefixRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// resolveEndpoint picks the base URL: the environment override, the account's endpoint, or
// the zone's.
func resolveEndpoint(env func(string) string, acct *account, zone string) (string, []string, error) {
	prefix := env(EnvAPIEnvironment)
	if prefix == "" {
		prefix = "api"
	}
	if !hostPrefixRE.MatchString(prefix) {
		return "", nil, fmt.Errorf("%s=%q is not a host name prefix (expected e.g. \"api\")", EnvAPIEnvironment, oneLine(prefix, 64))
	}
	derived := "https://" + prefix + "-" + zone + ".exoscale.com/v2"

	if ep := env(EnvAPIEndpoint); ep != "" {
		u, legacy, err := normalizeEndpoint(ep)
		if err != nil {
			return "", nil, fmt.Errorf("%s: %w", EnvAPIEndpoint, err)
		}
		if legacy {
			return "", nil, fmt.Errorf("%s=%s is an API v1 endpoint; use the v2 one, e.g. %s", EnvAPIEndpoint, u, derived)
		}
		return u, nil, nil
	}
	if acct != nil && acct.Endpoint != "" {
		u, legacy, err := normalizeEndpoint(acct.Endpoint)
		if err != nil {
			return "", nil, fmt.Errorf("endpoint of account %q: %w", acct.Name, err)
		}
		if legacy {
			// Older exo CLI versions wrote the API v1 endpoint into every account.
			return derived, []string{fmt.Sprintf("account %q has the API v1 endpoint %s; using %s", acct.Name, u, derived)}, nil
		}
		return u, nil, nil
	}
	return derived, nil, nil
}

// normalizeEndpoint validates an endpoint, adds /v2 when it has no path, and reports an API
// v1 endpoint (path /v1 or /compute).
func normalizeEndpoint(raw string) (string, bool, error) {
	u, err := parseEndpoint(raw)
	if err != nil {
		return "", false, errors.New(strings.TrimPrefix(err.Error(), "apiclient: "))
	}
	p := strings.TrimRight(u.EscapedPath(), "/")
	if p == "" {
		p = "/v2"
	}
	out := u.Scheme + "://" + u.Host + p
	return out, p == "/v1" || p == "/compute", nil
}

// findConfig returns the config file to read ("" if none) and every path tried, each with
// what was found there.
func findConfig(env func(string) string, file string, dirs []string) (string, []string, error) {
	for _, c := range []struct{ path, how string }{{file, "--config"}, {env(EnvConfig), EnvConfig}} {
		p := c.path
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", nil, fmt.Errorf("%s=%s: no such file; unset it or point it at your exoscale.toml", c.how, p)
			}
			return "", nil, fmt.Errorf("%s=%s: %w", c.how, p, err)
		}
		return p, []string{p + " (" + c.how + ")"}, nil
	}
	if dirs == nil {
		dirs = defaultConfigDirs(env)
	}
	var tried []string
	seen := map[string]bool{}
	for _, d := range dirs {
		p := filepath.Join(d, ConfigFileName)
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		if seen[p] {
			continue
		}
		seen[p] = true
		fi, err := os.Stat(p)
		switch {
		case err == nil && fi.Mode().IsRegular():
			tried = append(tried, p)
			return p, tried, nil
		case err == nil:
			tried = append(tried, p+" (not a regular file)")
		case errors.Is(err, fs.ErrNotExist):
			tried = append(tried, p+" (not found)")
		default:
			tried = append(tried, p+" (unreadable: "+pathErrText(err)+")")
		}
	}
	return "", tried, nil
}

// defaultConfigDirs is the exo CLI's search order without its last entry, the working
// directory (see Settings.ConfigDirs).
func defaultConfigDirs(env func(string) string) []string {
	var dirs []string
	home := env("HOME")
	if home == "" {
		home, _ = os.UserHomeDir()
	}
	switch runtime.GOOS {
	case "windows", "darwin", "ios", "plan9":
		if d, err := os.UserConfigDir(); err == nil {
			dirs = append(dirs, filepath.Join(d, "exoscale"))
		}
	default:
		xdg := env("XDG_CONFIG_HOME")
		if xdg == "" && home != "" {
			xdg = filepath.Join(home, ".config")
		}
		if xdg != "" {
			dirs = append(dirs, filepath.Join(xdg, "exoscale"))
		}
	}
	if home != "" {
		dirs = append(dirs, filepath.Join(home, ".exoscale"), home)
	}
	return dirs
}

// noCredentialsError names every place looked and how to fix it.
func noCredentialsError(env func(string) string, looked []string) error {
	state := func(name string) string {
		if env(name) != "" {
			return name + " (set)"
		}
		return name + " (not set)"
	}
	var b strings.Builder
	b.WriteString("no Exoscale API credentials found. Looked in:\n")
	fmt.Fprintf(&b, "  - environment: %s and %s, or %s and %s\n", state(EnvAPIKey), state(EnvAPISecret), state(EnvKey), state(EnvSecret))
	if len(looked) == 0 {
		b.WriteString("  - exoscale.toml: no search directory\n")
	}
	for _, l := range looked {
		b.WriteString("  - " + l + "\n")
	}
	b.WriteString("  - (an exoscale.toml in the working directory is not read unless " + EnvConfig + " or --config names it)\n")
	b.WriteString("To fix it, either:\n")
	b.WriteString("  - export " + EnvAPIKey + "=EXO... and " + EnvAPISecret + "=... (create an API key in the Exoscale portal, IAM > Keys), or\n")
	b.WriteString("  - run `exo config` to create exoscale.toml, or set " + EnvConfig + " to the path of an existing one")
	return errors.New(b.String())
}

// fileConfig is the part of exoscale.toml we use.
type fileConfig struct {
	DefaultAccount string
	Accounts       []account
}

// account is one [[accounts]] entry.
type account struct {
	Name          string
	Key           string
	Secret        string
	SecretCommand []string
	DefaultZone   string
	Endpoint      string

	creds Credentials // resolved by loadAccount
}

// String never shows the secret.
func (a account) String() string {
	return fmt.Sprintf("account %q key %s", a.Name, Credentials{Key: a.Key, Secret: a.Secret})
}

// GoString makes %#v as safe as %v.
func (a account) GoString() string { return a.String() }

// Format makes every verb show the redacted form.
func (a account) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, a.String()) }

// loadAccount reads path, selects the account and resolves its secret. A config with no
// accounts yields (nil, warnings, nil).
func loadAccount(ctx context.Context, path, flagAccount, envAccount string) (*account, []string, error) {
	var warnings []string
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %s", path, pathErrText(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("reading %s: %s", path, pathErrText(err))
	}
	if runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		warnings = append(warnings, fmt.Sprintf("%s is accessible by group or others (mode %04o) and may hold API secrets: run chmod 600 %s", path, fi.Mode().Perm(), path))
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return nil, warnings, fmt.Errorf("reading %s: %w", path, err)
	}
	if len(data) > maxConfigBytes {
		return nil, warnings, fmt.Errorf("%s is larger than %d bytes: not an exo CLI config", path, maxConfigBytes)
	}
	cfg, err := parseConfig(data)
	if err != nil {
		return nil, warnings, fmt.Errorf("%s: %w", path, err)
	}
	if len(cfg.Accounts) == 0 {
		return nil, warnings, nil
	}

	names := make([]string, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		names[i] = fmt.Sprintf("%q", a.Name)
	}
	want, how := flagAccount, "--account"
	if want == "" {
		want, how = envAccount, EnvAccount
	}
	if want == "" {
		want, how = cfg.DefaultAccount, "defaultAccount"
	}
	var acct *account
	switch {
	case want != "":
		acct = findAccount(cfg.Accounts, want)
		if acct == nil {
			return nil, warnings, fmt.Errorf("account %q (from %s) is not in %s; its accounts are %s", want, how, path, strings.Join(names, ", "))
		}
	case len(cfg.Accounts) == 1:
		acct = &cfg.Accounts[0]
	default:
		return nil, warnings, fmt.Errorf("%s has %d accounts and none is selected: set defaultAccount, %s or --account to one of %s", path, len(cfg.Accounts), EnvAccount, strings.Join(names, ", "))
	}

	if acct.Key == "" {
		return nil, warnings, fmt.Errorf("account %q in %s has no key", acct.Name, path)
	}
	secret := acct.Secret
	if len(acct.SecretCommand) > 0 {
		// The file names a program to run as us: only trust it if no one else could have
		// written it. Checked on the opened file, so a swap after the check changes nothing.
		if err := checkTrustedForCommand(path, fi); err != nil {
			return nil, warnings, fmt.Errorf("account %q in %s: %w", acct.Name, path, err)
		}
		s, w, err := runSecretCommand(ctx, acct.SecretCommand)
		if err != nil {
			return nil, warnings, fmt.Errorf("account %q in %s: %w", acct.Name, path, err)
		}
		warnings = append(warnings, w...)
		secret = s
	}
	if secret == "" {
		return nil, warnings, fmt.Errorf("account %q in %s has neither secret nor secretCommand", acct.Name, path)
	}
	acct.creds = Credentials{Key: acct.Key, Secret: secret}
	return acct, warnings, nil
}

// checkTrustedForCommand refuses to run a secretCommand from a config file that another user
// could have written: one writable by group or others, or owned by someone other than the
// effective user or root (root may already do anything as us; ssh trusts its files alike).
func checkTrustedForCommand(path string, fi fs.FileInfo) error {
	if runtime.GOOS == "windows" {
		return nil // ownership there is an ACL, not a uid and mode bits
	}
	if fi.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("secretCommand not run: %s is writable by group or others (mode %04o), so another user could choose the program; run chmod 600 %s", path, fi.Mode().Perm(), path)
	}
	if uid, ok := fileOwner(fi); ok {
		if euid := os.Geteuid(); uid != euid && uid != 0 {
			return fmt.Errorf("secretCommand not run: %s is owned by uid %d, not by this user (uid %d) or root, so another user could choose the program; run chown %d %s if the file is yours", path, uid, euid, euid, path)
		}
	}
	return nil
}

// findAccount matches by exact name, then case-insensitively.
func findAccount(accounts []account, name string) *account {
	for i := range accounts {
		if accounts[i].Name == name {
			return &accounts[i]
		}
	}
	for i := range accounts {
		if strings.EqualFold(accounts[i].Name, name) {
			return &accounts[i]
		}
	}
	return nil
}

// runSecretCommand runs argv without a shell and returns its standard output, trailing newline
// trimmed. Its standard error is never shown (it could echo the secret); its standard input is
// not connected (in stdio mode ours carries the MCP stream).
func runSecretCommand(ctx context.Context, argv []string) (string, []string, error) {
	if argv[0] == "" {
		return "", nil, errors.New("secretCommand has an empty program name")
	}
	ctx, cancel := context.WithTimeout(ctx, secretCommandTimeout)
	defer cancel()
	var stdout, stderr limitedBuffer
	stdout.max, stderr.max = maxSecretOutputBytes, 4096
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		switch {
		case ctx.Err() != nil:
			return "", nil, fmt.Errorf("secretCommand %q did not finish: %w", argv[0], ctx.Err())
		case errors.As(err, &ee):
			return "", nil, fmt.Errorf("secretCommand %q failed with %s (its error output is not shown: it could contain the secret)", argv[0], ee.ProcessState.String())
		default:
			return "", nil, fmt.Errorf("secretCommand %q could not run: %w", argv[0], err)
		}
	}
	if stdout.overflow {
		return "", nil, fmt.Errorf("secretCommand %q printed more than %d bytes: it must print only the secret", argv[0], maxSecretOutputBytes)
	}
	out := strings.TrimSuffix(stdout.String(), "\n")
	out = strings.TrimSuffix(out, "\r")
	var warnings []string
	if i := strings.IndexAny(out, "\r\n"); i >= 0 {
		// pass(1) prints the password on the first line and notes after it.
		out = strings.TrimRight(out[:i], "\r")
		warnings = append(warnings, fmt.Sprintf("secretCommand %q printed several lines; using the first as the secret", argv[0]))
	}
	if out == "" {
		return "", nil, fmt.Errorf("secretCommand %q printed nothing", argv[0])
	}
	return out, warnings, nil
}

// limitedBuffer keeps at most max bytes and remembers whether more came.
type limitedBuffer struct {
	bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.Buffer.Write(p[:room])
		}
		return len(p), nil
	}
	return b.Buffer.Write(p)
}

// parseConfig decodes exoscale.toml. Keys are matched case-insensitively, as the exo CLI reads
// them through viper. Errors give positions and key names, never values: a syntax error
// message can quote the line, and the line can be a secret.
func parseConfig(data []byte) (*fileConfig, error) {
	var raw map[string]any
	if err := toml.Unmarshal(data, &raw); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("invalid TOML at line %d, column %d (the text is not shown: it could be a secret)", pe.Position.Line, pe.Position.Col)
		}
		return nil, errors.New("invalid TOML")
	}
	top, err := foldKeys(raw, "")
	if err != nil {
		return nil, err
	}
	cfg := &fileConfig{}
	if cfg.DefaultAccount, err = stringKey(top, "defaultaccount", "defaultAccount"); err != nil {
		return nil, err
	}
	v, ok := top["accounts"]
	if !ok {
		return cfg, nil
	}
	var items []any
	switch t := v.(type) {
	case []map[string]any:
		for _, m := range t {
			items = append(items, m)
		}
	case []any:
		items = t
	default:
		return nil, errors.New("accounts must be an array of tables ([[accounts]])")
	}
	for i, it := range items {
		m, ok := it.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("accounts[%d] must be a table", i)
		}
		fields, err := foldKeys(m, fmt.Sprintf("accounts[%d].", i))
		if err != nil {
			return nil, err
		}
		var a account
		where := fmt.Sprintf("accounts[%d].", i)
		for _, f := range []struct {
			key, name string
			dst       *string
		}{
			{"name", "name", &a.Name},
			{"key", "key", &a.Key},
			{"secret", "secret", &a.Secret},
			{"defaultzone", "defaultZone", &a.DefaultZone},
			{"endpoint", "endpoint", &a.Endpoint},
		} {
			if *f.dst, err = stringKey(fields, f.key, where+f.name); err != nil {
				return nil, err
			}
		}
		if sc, ok := fields["secretcommand"]; ok {
			list, ok := sc.([]any)
			if !ok {
				return nil, fmt.Errorf("%ssecretCommand must be a list such as [\"pass\", \"show\", \"exoscale\"] (it runs without a shell)", where)
			}
			for _, el := range list {
				s, ok := el.(string)
				if !ok {
					return nil, fmt.Errorf("%ssecretCommand must hold only strings", where)
				}
				a.SecretCommand = append(a.SecretCommand, s)
			}
		}
		a.Key = strings.TrimSpace(a.Key)
		cfg.Accounts = append(cfg.Accounts, a)
	}
	return cfg, nil
}

// foldKeys lower-cases the keys of m, rejecting two keys that differ only by case.
func foldKeys(m map[string]any, where string) (map[string]any, error) {
	out := make(map[string]any, len(m))
	for k, v := range m {
		lk := strings.ToLower(k)
		if _, dup := out[lk]; dup {
			return nil, fmt.Errorf("%s%s is set twice (keys are case-insensitive)", where, oneLine(lk, 64))
		}
		out[lk] = v
	}
	return out, nil
}

// stringKey reads an optional string; a value of another type is an error naming the key only.
func stringKey(m map[string]any, key, name string) (string, error) {
	v, ok := m[key]
	if !ok {
		return "", nil
	}
	s, ok := v.(string)
	if !ok {
		return "", fmt.Errorf("%s must be a string", name)
	}
	return s, nil
}

// pathErrText is the reason of a file error without the path, which the caller already shows.
func pathErrText(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
