package tools

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"time"

	"github.com/mark3labs/mcp-go/mcp"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
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

// deliver hands a secret-bearing result to the user by the configured mode.
func (h *Handler) deliver(ctx context.Context, c *call, result map[string]any) *mcp.CallToolResult {
	secrets := map[string]string{}
	for _, f := range c.op.Secrets {
		if s, ok := result[f].(string); ok && s != "" {
			secrets[f] = s
		}
	}
	if len(secrets) == 0 {
		return structuredResult(result, "")
	}
	if h.secrets.Mode != DeliverFile {
		return structuredResult(result, inlineNote(c))
	}
	env := h.dotenv(ctx, c, result, secrets)
	path, err := writeSecretFile(h.secrets.Dir, fileStem(c, result), env.content())
	if err != nil {
		// Never lose a minted secret: hand it over inline, with a warning.
		h.log.Warn("writing the secret file failed; returning the secret inline", "tool", c.op.Name, "error", unwrapPath(err))
		return structuredResult(result, fmt.Sprintf("WARNING: the secret could not be written to %s (%v), so it is shown here instead. %s",
			h.secrets.Dir, unwrapPath(err), inlineNote(c)))
	}
	out := maps.Clone(result)
	for f := range secrets {
		delete(out, f)
	}
	out["secret-file"] = path
	out["usage"] = env.usage(path)
	return structuredResult(out, fmt.Sprintf("The secret was written to %s (mode 0600); it is not shown here. See usage below.", path))
}

func inlineNote(c *call) string {
	switch c.op.Name {
	case "create-api-key":
		return "This result holds the IAM API secret: Exoscale shows it once, never again. Store it now."
	default:
		return "This result holds a secret value: store it now and do not repeat it needlessly."
	}
}

// dotenvFile is the content of a secret file: variables that existing tools read.
type dotenvFile struct {
	vars [][2]string
	kind string // "iam" or "ai"
}

func (e dotenvFile) content() []byte {
	var b strings.Builder
	b.WriteString("# Written by exoscale-keys-mcp. Keep private.\n")
	for _, kv := range e.vars {
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

func (e dotenvFile) usage(path string) string {
	if e.kind == "iam" {
		return fmt.Sprintf("Load it with `set -a; . %s; set +a`: the exo CLI, Terraform and this server read EXOSCALE_API_KEY and EXOSCALE_API_SECRET.", path)
	}
	return fmt.Sprintf("Load it with `set -a; . %s; set +a`: OpenAI-compatible clients read OPENAI_API_KEY (and OPENAI_BASE_URL when set).", path)
}

// dotenv builds the file for the call's secret. For AI keys scoped to one deployment, the
// deployment's URL is added, so the file is all a client needs.
func (h *Handler) dotenv(ctx context.Context, c *call, result map[string]any, secrets map[string]string) dotenvFile {
	switch c.op.Name {
	case "create-api-key":
		return dotenvFile{kind: "iam", vars: [][2]string{
			{"EXOSCALE_API_KEY", stringArg(result, "key")},
			{"EXOSCALE_API_SECRET", secrets["secret"]},
		}}
	case "reveal-deployment-api-key":
		e := dotenvFile{kind: "ai", vars: [][2]string{{"OPENAI_API_KEY", secrets["api-key"]}}}
		if u := h.deploymentURL(ctx, stringArg(c.args, "id")); u != "" {
			e.vars = append(e.vars, [2]string{"OPENAI_BASE_URL", u})
		}
		return e
	default: // create-, rotate-, reveal-ai-api-key
		value := secrets["value"]
		e := dotenvFile{kind: "ai", vars: [][2]string{{"EXOSCALE_AI_API_KEY", value}, {"OPENAI_API_KEY", value}}}
		scope := stringArg(result, "scope")
		if scope == "" && stringArg(c.args, "id") != "" {
			scope = h.aiKeyScope(ctx, stringArg(c.args, "id"))
		}
		if scope != "" && scope != "public" {
			if u := h.deploymentURL(ctx, scope); u != "" {
				e.vars = append(e.vars, [2]string{"OPENAI_BASE_URL", u})
			}
		}
		return e
	}
}

// aiKeyScope and deploymentURL add context to a secret file; failing to fetch them only
// leaves the line out.
func (h *Handler) aiKeyScope(ctx context.Context, id string) string {
	obj := h.getObject(ctx, "get-ai-api-key", "/ai/api-key/"+url.PathEscape(id))
	return stringArg(obj, "scope")
}

func (h *Handler) deploymentURL(ctx context.Context, id string) string {
	obj := h.getObject(ctx, "get-deployment", "/ai/deployment/"+url.PathEscape(id))
	return stringArg(obj, "deployment-url")
}

// getObject reads one object, or nil on any failure.
func (h *Handler) getObject(ctx context.Context, operation, path string) map[string]any {
	resp, err := h.client.Do(ctx, apiclient.Request{Operation: operation, Method: http.MethodGet, Path: path})
	if err != nil {
		h.log.Debug("lookup failed", "operation", operation, "error", err)
		return nil
	}
	obj, err := decodeObject(resp.Body)
	if err != nil {
		return nil
	}
	return obj
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
		id = stringArg(c.args, "id")
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
