package tools

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/safefile"
)

// DeliveryMode says how a secret in a result reaches the user.
type DeliveryMode string

const (
	// DeliverFile writes the secret to a 0600 dotenv file on the server's machine and gives the
	// model only its path: the secret never enters the model's context.
	DeliverFile DeliveryMode = "file"
	// DeliverInline returns the secret in the result, for remote servers whose users cannot
	// reach the server's disk.
	DeliverInline DeliveryMode = "inline"
)

// SecretDelivery configures secret delivery. The zero value delivers inline.
type SecretDelivery struct {
	Mode DeliveryMode
	Dir  string // for DeliverFile: an absolute directory, created 0700 when missing
}

// DefaultSecretsDir is $XDG_STATE_HOME/exoscale-keys-mcp/secrets, or
// ~/.local/state/exoscale-keys-mcp/secrets without XDG_STATE_HOME.
func DefaultSecretsDir(getenv func(string) string) (string, error) {
	if s := getenv("XDG_STATE_HOME"); s != "" && filepath.IsAbs(s) {
		return filepath.Join(s, "exoscale-keys-mcp", "secrets"), nil
	}
	home := getenv("HOME")
	if home == "" {
		var err error
		if home, err = os.UserHomeDir(); err != nil {
			return "", fmt.Errorf("no XDG_STATE_HOME and no home directory for the secrets directory: set --secrets-dir")
		}
	}
	return filepath.Join(home, ".local", "state", "exoscale-keys-mcp", "secrets"), nil
}

func (d SecretDelivery) validate() error {
	switch d.Mode {
	case "", DeliverInline:
		return nil
	case DeliverFile:
		if !filepath.IsAbs(d.Dir) {
			return fmt.Errorf("secret delivery file: the secrets directory must be an absolute path, got %q", d.Dir)
		}
		// A symlinked, foreign or shared directory is a start-up error; anything else unusable
		// is refused when a secret is about to be minted (ready).
		if fi, err := os.Lstat(d.Dir); err == nil && (fi.IsDir() || fi.Mode()&os.ModeSymlink != 0) {
			return safefile.CheckPrivateDir(d.Dir)
		}
		return nil
	default:
		return fmt.Errorf("secret delivery: expected file or inline, got %q", d.Mode)
	}
}

// ready checks, before a secret is minted, that it can be stored: the directory exists (made
// 0700 when missing), is private, and takes a file.
func (d SecretDelivery) ready() error {
	if d.Mode != DeliverFile {
		return nil
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("cannot create the secrets directory %s: %w", d.Dir, unwrapPath(err))
	}
	if err := safefile.CheckPrivateDir(d.Dir); err != nil {
		return err
	}
	fi, err := os.Stat(d.Dir)
	if err != nil {
		return fmt.Errorf("cannot use the secrets directory %s: %w", d.Dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return fmt.Errorf("the secrets path %s is not a directory", d.Dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(d.Dir, 0o700); err != nil {
			return fmt.Errorf("the secrets directory %s is readable by others (%v) and cannot be made private: %w", d.Dir, fi.Mode().Perm(), unwrapPath(err))
		}
	}
	f, err := os.CreateTemp(d.Dir, ".probe-*")
	if err != nil {
		return fmt.Errorf("the secrets directory %s is not writable: %w", d.Dir, unwrapPath(err))
	}
	name := f.Name()
	f.Close()
	return os.Remove(name)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// deliver hands a secret-bearing answer to the user by the configured mode. In file mode it
// fails closed: the result is built from the catalog's allow-list (op.Public, scalar values
// only); the secrets and anything else (a value under another name, a nested object) are
// withheld from the model and written to the secret file, with a note.
func (e *Engine) deliver(ctx context.Context, c *call, body []byte) (Result, error) {
	result, err := decodeObject(body)
	if err != nil {
		return fail(Failed, "%s: Exoscale answered with a body that is not a JSON object (%v). %s", c.op.Name, err, unknownOutcomeAdvice(*c.op)), nil
	}
	c.touchResult(result)
	if e.secrets.Mode != DeliverFile {
		// Inline delivery is the operator's choice to hand secrets to the model.
		note := cmp.Or(c.op.SecretNote, "This result holds a secret value: store it now and do not repeat it needlessly.")
		return ValueResult(OK, result, note)
	}
	shown, secrets, withheld := map[string]any{}, map[string]string{}, map[string]any{}
	for k, v := range result {
		switch {
		case slices.Contains(c.op.Secrets, k):
			if s, ok := v.(string); ok {
				if s != "" {
					secrets[k] = s
				}
			} else if v != nil {
				withheld[k] = v
			}
		case slices.Contains(c.op.Public, k) && scalar(v):
			shown[k] = v
		default:
			withheld[k] = v
		}
	}
	if len(secrets) == 0 && len(withheld) == 0 {
		return ValueResult(OK, shown, "")
	}
	env := e.dotenv(ctx, c, result, secrets, withheld)
	path, err := writeSecretFile(e.secrets.Dir, fileStem(c, shown), env.content())
	if err != nil {
		// Never lose a minted secret: hand it over inline, with a warning.
		e.log.Warn("writing the secret file failed; returning the secret inline", "tool", c.op.Name, "error", unwrapPath(err))
		return ValueResult(OK, result, fmt.Sprintf("WARNING: the secret could not be written to %s (%v), so it is shown here instead. %s",
			e.secrets.Dir, unwrapPath(err), cmp.Or(c.op.SecretNote, "This result holds a secret value: store it now and do not repeat it needlessly.")))
	}
	shown["secret-file"] = path
	shown["usage"] = fmt.Sprintf(c.op.SecretFile.Usage, path)
	note := fmt.Sprintf("The secret was written to %s (mode 0600); it is not shown here. See usage below.", path)
	if len(withheld) > 0 {
		names := slices.Sorted(maps.Keys(withheld))
		shown["withheld"] = names
		note += fmt.Sprintf(" Fields this server does not know to be safe (%s) were withheld too and written to the same file.", strings.Join(names, ", "))
	}
	return ValueResult(OK, shown, note)
}

// scalar reports whether v is a plain value (not an object or array, where a secret may hide).
func scalar(v any) bool {
	switch v.(type) {
	case map[string]any, []any:
		return false
	}
	return true
}

// dotenvFile is the content of a secret file: variables that existing tools read.
type dotenvFile struct {
	vars [][2]string
}

func (f dotenvFile) content() []byte {
	var b strings.Builder
	b.WriteString("# Written by exoscale-keys-mcp. Keep private.\n")
	for _, kv := range f.vars {
		fmt.Fprintf(&b, "%s=%s\n", kv[0], dotenvValue(kv[1]))
	}
	return []byte(b.String())
}

var plainValue = regexp.MustCompile(`^[A-Za-z0-9._~:/+=@%,-]*$`)

// dotenvValue writes a value as is when every reader takes it the same way (keys, secrets and
// URLs always are), and single-quoted otherwise, so that sourcing the file in a shell never
// runs or splits anything a value holds.
func dotenvValue(v string) string {
	if plainValue.MatchString(v) {
		return v
	}
	return "'" + strings.ReplaceAll(v, "'", `'\''`) + "'"
}

var nonVarChars = regexp.MustCompile(`[^A-Z0-9_]+`)

// dotenv builds the file for the call's secrets as the catalog's SecretFile says: its
// variables, the deployment's URL when there is one, and every withheld field as JSON.
func (e *Engine) dotenv(ctx context.Context, c *call, result map[string]any, secrets map[string]string, withheld map[string]any) dotenvFile {
	var f dotenvFile
	spec := c.op.SecretFile
	for _, v := range spec.Vars {
		val, ok := secrets[v.Field]
		if !ok {
			if s, isStr := result[v.Field].(string); isStr && slices.Contains(c.op.Public, v.Field) {
				val, ok = s, s != ""
			}
		}
		if ok {
			f.vars = append(f.vars, [2]string{v.Name, val})
		}
	}
	if u := e.baseURL(ctx, c, result); u != "" {
		f.vars = append(f.vars, [2]string{spec.BaseURL.Var, u})
	}
	for _, k := range slices.Sorted(maps.Keys(withheld)) {
		b, err := json.Marshal(withheld[k])
		if err != nil {
			continue
		}
		name := "EXOSCALE_MCP_WITHHELD_" + strings.Trim(nonVarChars.ReplaceAllString(strings.ToUpper(k), "_"), "_")
		f.vars = append(f.vars, [2]string{name, string(b)})
	}
	return f
}

// baseURL finds the URL of the deployment the secret is for; failing to read it only leaves
// the line out.
func (e *Engine) baseURL(ctx context.Context, c *call, result map[string]any) string {
	b := c.op.SecretFile.BaseURL
	if b == nil {
		return ""
	}
	deployment := ""
	if b.Arg != "" {
		deployment = stringArg(c.args, b.Arg)
	} else {
		scope := stringArg(result, b.ScopeField)
		if scope == "" && c.id != "" && b.ScopeLookup != "" {
			scope = stringArg(e.read(ctx, b.ScopeLookup, c.id), b.ScopeField)
		}
		if !slices.Contains(b.Ignore, scope) {
			deployment = scope
		}
	}
	if deployment == "" {
		return ""
	}
	return stringArg(e.read(ctx, b.Lookup, deployment), b.URLField)
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// fileStem names a secret file after the tool and the key, so a person finds it.
func fileStem(c *call, result map[string]any) string {
	name := stringArg(result, "name")
	id := stringArg(result, "key")
	if id == "" {
		id = stringArg(result, "id")
	}
	if id == "" {
		id = c.id
	}
	stem := strings.Trim(unsafeFileChars.ReplaceAllString(strings.Join(nonEmpty(c.op.Name, name, id), "_"), "-"), "-.")
	return truncate(stem, 150)
}

func nonEmpty(ss ...string) []string {
	var out []string
	for _, s := range ss {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// writeSecretFile writes content to a new file in dir: created exclusively with mode 0600,
// written, fsynced and renamed into place, so the file that appears is whole.
func writeSecretFile(dir, stem string, content []byte) (string, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return "", err
	}
	final := filepath.Join(dir, fmt.Sprintf("%s_%s_%s.env", stem, time.Now().UTC().Format("20060102T150405Z"), hex.EncodeToString(suffix[:])))
	tmp := final + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", err
	}
	_, werr := f.Write(content)
	if werr == nil {
		werr = f.Sync()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		os.Remove(tmp)
		return "", werr
	}
	if err := os.Rename(tmp, final); err != nil {
		os.Remove(tmp)
		return "", err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		d.Close()
	}
	abs, err := filepath.Abs(final)
	if err != nil {
		return final, nil
	}
	return abs, nil
}
