package tools

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/safefile"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
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
		return fail(Failed, "%s: Exoscale answered with a body that is not a JSON object (%v). %s", c.op.Name, err, unknownOutcomeAdvice(*c.op, e.Serves)), nil
	}
	c.touchResult(result)
	dep := e.deployment(ctx, c, result)
	if e.secrets.Mode != DeliverFile {
		// Inline delivery is the operator's choice to hand secrets to the model.
		note := cmp.Or(c.op.SecretNote, "This result holds a secret value: store it now and do not repeat it needlessly.")
		dep.show(result, "")
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
	keyID := secretKeyID(c, shown)
	var retired []string
	if c.op.Access == schemas.Rotate {
		// The old value stopped working with this answer: set aside the files that hold it
		// (written by earlier creates, reveals and rotations of this key) before the new file,
		// which carries the same key id, is written.
		retired = e.SetAsideSecretFiles(keyID, ".retired")
	}
	env := e.dotenv(c, result, secrets, withheld, dep)
	env.keyID = keyID
	path, err := writeSecretFile(e.secrets.Dir, fileStem(c, shown), env.content())
	if err != nil {
		// Never lose a minted secret: hand it over inline, with a warning.
		e.log.Warn("writing the secret file failed; returning the secret inline", "tool", c.op.Name, "error", unwrapPath(err))
		return ValueResult(OK, result, fmt.Sprintf("WARNING: the secret could not be written to %s (%v), so it is shown here instead. %s",
			e.secrets.Dir, unwrapPath(err), cmp.Or(c.op.SecretNote, "This result holds a secret value: store it now and do not repeat it needlessly.")))
	}
	e.written.add(keyID, path)
	shown["secret-file"] = path
	shown["usage"] = fmt.Sprintf(c.op.SecretFile.Usage, path)
	dep.show(shown, callLine(c.op.SecretFile.Call, path, dep.model))
	note := fmt.Sprintf("The secret was written to %s (mode 0600); it is not shown here. See usage below.", path)
	if len(retired) > 0 {
		shown["secret-files-retired"] = retired
		note += fmt.Sprintf(" The earlier secret files of this key hold the old value, which no longer works: renamed %s.", strings.Join(retired, ", "))
	}
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
	keyID string // the key the secret belongs to, in a comment line (see keyIDLine)
	vars  [][2]string
}

// keyIDLine marks which key a secret file belongs to, so that deleting the key finds the
// file again, after a restart too.
const keyIDLine = "# key-id: "

func (f dotenvFile) content() []byte {
	var b strings.Builder
	b.WriteString("# Written by exoscale-keys-mcp. Keep private.\n")
	if f.keyID != "" && plainValue.MatchString(f.keyID) {
		b.WriteString(keyIDLine + f.keyID + "\n")
	}
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
func (e *Engine) dotenv(c *call, result map[string]any, secrets map[string]string, withheld map[string]any, dep deploymentInfo) dotenvFile {
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
	if dep.url != "" {
		f.vars = append(f.vars, [2]string{spec.BaseURL.Var, dep.url})
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

// deploymentInfo is the AI deployment a secret is for: its URL and model ("" when the secret
// is for no one deployment, or reading it failed).
type deploymentInfo struct {
	url, model string
}

// show adds how to call the deployment to a result: its base URL, its model and the call
// line, when known.
func (d deploymentInfo) show(result map[string]any, call string) {
	if d.url == "" {
		return
	}
	result["base-url"] = d.url
	if d.model != "" {
		result["model"] = d.model
	}
	if call != "" {
		result["call"] = call
	}
}

// deployment finds the deployment the secret is for; failing to read it only leaves the
// lines out.
func (e *Engine) deployment(ctx context.Context, c *call, result map[string]any) deploymentInfo {
	if c.op.SecretFile == nil || c.op.SecretFile.BaseURL == nil {
		return deploymentInfo{}
	}
	b := c.op.SecretFile.BaseURL
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
		return deploymentInfo{}
	}
	d := e.read(ctx, b.Lookup, deployment)
	info := deploymentInfo{url: stringArg(d, b.URLField)}
	switch m := d[b.ModelField].(type) {
	case string:
		info.model = m
	case map[string]any:
		info.model = stringArg(m, "name")
	}
	return info
}

// safeModel: a model name goes into a shell line inside single quotes and JSON.
var safeModel = regexp.MustCompile(`^[A-Za-z0-9._:/@+-]+$`)

// callLine fills the catalog's call template with the file's path, shell-quoted, and the
// model; "" when there is no template or the model cannot be written safely.
func callLine(template, path, model string) string {
	if template == "" || !safeModel.MatchString(model) {
		return ""
	}
	return fmt.Sprintf(template, shellQuote(path), model)
}

var plainPath = regexp.MustCompile(`^[A-Za-z0-9._/+=@%,:-]+$`)

// shellQuote quotes s for a POSIX shell when it holds anything but plain path characters.
func shellQuote(s string) string {
	if plainPath.MatchString(s) {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

var unsafeFileChars = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

// secretKeyID is the id of the key a secret belongs to: the result's "key" (IAM) or "id"
// (AI), else the call's "id" argument (reveal, rotate).
func secretKeyID(c *call, result map[string]any) string {
	return cmp.Or(stringArg(result, "key"), stringArg(result, "id"), c.id)
}

// fileStem names a secret file after the tool and the key, so a person finds it.
func fileStem(c *call, result map[string]any) string {
	name := stringArg(result, "name")
	id := secretKeyID(c, result)
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

// secretIndex remembers which secret files this process wrote for which key id.
type secretIndex struct {
	mu    sync.Mutex
	files map[string][]string
}

func (x *secretIndex) add(keyID, path string) {
	if keyID == "" {
		return
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.files == nil {
		x.files = map[string][]string{}
	}
	x.files[keyID] = append(x.files[keyID], path)
}

func (x *secretIndex) take(keyID string) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	paths := x.files[keyID]
	delete(x.files, keyID)
	return paths
}

// maxSecretFileScan bounds how much of a file the directory scan reads: the key-id line is
// the second line of the files this server writes.
const maxSecretFileScan = 4096

// SetAsideSecretFiles renames the secret files this server wrote for keyID to <file><suffix>
// (".revoked" after a delete; a rotation may say ".retired"), so nobody loads a secret that no
// longer works, and returns the new paths. It finds the files in its memory of this process
// and by scanning the secrets directory for files that carry the key id (after a restart).
// Only regular files directly inside the secrets directory are renamed, never a symlink or
// what one points to. In inline mode there are no files: nil.
func (e *Engine) SetAsideSecretFiles(keyID, suffix string) []string {
	if e.secrets.Mode != DeliverFile || keyID == "" || suffix == "" {
		return nil
	}
	dir := filepath.Clean(e.secrets.Dir)
	candidates := append(e.written.take(keyID), scanSecretFiles(dir, keyID)...)
	slices.Sort(candidates)
	candidates = slices.Compact(candidates)
	var moved []string
	for _, p := range candidates {
		p = filepath.Clean(p)
		if filepath.Dir(p) != dir {
			continue
		}
		fi, err := os.Lstat(p)
		if err != nil || !fi.Mode().IsRegular() {
			continue
		}
		target := p + suffix
		for i := 1; ; i++ {
			if _, err := os.Lstat(target); errors.Is(err, os.ErrNotExist) {
				break
			}
			target = fmt.Sprintf("%s%s.%d", p, suffix, i)
		}
		if err := os.Rename(p, target); err != nil {
			e.log.Warn("setting a secret file aside failed", "error", unwrapPath(err))
			continue
		}
		moved = append(moved, target)
	}
	return moved
}

// scanSecretFiles returns the regular *.env files in dir that carry keyID's key-id line.
func scanSecretFiles(dir, keyID string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	want := keyIDLine + keyID
	var out []string
	for _, de := range entries {
		if !de.Type().IsRegular() || !strings.HasSuffix(de.Name(), ".env") {
			continue
		}
		p := filepath.Join(dir, de.Name())
		if fileHasLine(p, want) {
			out = append(out, p)
		}
	}
	return out
}

func fileHasLine(path, line string) bool {
	before, err := os.Lstat(path)
	if err != nil || !before.Mode().IsRegular() {
		return false
	}
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	// What was opened must be the regular file checked, not a symlink swapped in since.
	if fi, err := f.Stat(); err != nil || !os.SameFile(before, fi) {
		return false
	}
	buf := make([]byte, maxSecretFileScan)
	n, _ := io.ReadFull(f, buf)
	for l := range strings.Lines(string(buf[:n])) {
		if strings.TrimRight(l, "\r\n") == line {
			return true
		}
	}
	return false
}
