package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// call is one operation call on its way through the engine: its arguments decoded once into
// what the stages need, and what the audit log says about it.
type call struct {
	spec *opSpec
	op   *schemas.Operation

	// Decoded once from the validated arguments.
	args           map[string]any    // as given (audit, digest)
	id             string            // the "id" argument: the object the call is about
	name           string            // the "name" argument of a create
	dryRun         bool              // the local "dry-run" flag
	allowDuplicate bool              // the local "allow-duplicate-name" flag
	req            apiclient.Request // path, query and body
	warnings       []string          // said in the note of a result that went through (policy checks)

	peer    Peer
	outcome Outcome
	status  int // upstream HTTP status, 0 when nothing was sent
	ids     []string
	started time.Time
	session string
	tenant  string
}

// decode reads the validated arguments once.
func (c *call) decode(args map[string]any) error {
	if args == nil {
		args = map[string]any{}
	}
	c.args = args
	c.id = stringArg(args, "id")
	c.name = stringArg(args, "name")
	c.dryRun = args[schemas.ParamDryRun] == true
	c.allowDuplicate = args[schemas.ParamAllowDuplicateName] == true
	c.touch(c.id)
	r, err := buildRequest(*c.op, c.spec.bodyParams(), args)
	if err != nil {
		return err
	}
	c.req = r
	return nil
}

func (c *call) touch(ids ...string) {
	for _, id := range ids {
		if id != "" && !slices.Contains(c.ids, id) {
			c.ids = append(c.ids, id)
		}
	}
}

// touchResult records the ids a result names, for the audit log.
func (c *call) touchResult(result map[string]any) {
	for _, k := range []string{"id", "key"} {
		if s, ok := result[k].(string); ok {
			c.touch(s)
		}
	}
}

func stringArg(args map[string]any, name string) string {
	s, _ := args[name].(string)
	return s
}

// buildRequest splits validated arguments into the path, the query and the JSON body.
func buildRequest(op schemas.Operation, bodyParams []string, args map[string]any) (apiclient.Request, error) {
	path := op.Path
	for _, p := range op.PathParams {
		v := stringArg(args, p)
		if v == "" {
			return apiclient.Request{}, fmt.Errorf("%s: required, missing", p)
		}
		path = strings.Replace(path, "{"+p+"}", url.PathEscape(v), 1)
	}
	query := url.Values{}
	for _, p := range op.QueryParams {
		if v := stringArg(args, p); v != "" {
			query.Set(p, v)
		}
	}
	body := map[string]any{}
	for _, k := range bodyParams {
		if v, ok := args[k]; ok {
			body[k] = v
		}
	}
	r := apiclient.Request{Operation: op.Name, Method: op.Method, Path: path, Query: query, Unsigned: op.Unsigned}
	// PUT and PATCH always carry a body (the API replaces or patches with it); a POST only
	// when it has something to say (rotate and reset take none).
	if len(body) > 0 || op.Method == http.MethodPut || op.Method == http.MethodPatch {
		b, err := json.Marshal(body)
		if err != nil {
			return apiclient.Request{}, fmt.Errorf("encoding the request body: %w", err)
		}
		r.Body = b
	}
	return r, nil
}

// read reads one object with a catalog read operation, by id, for context (a confirmation's
// names, a secret file's URL): nil on any failure, which only leaves the detail out.
func (e *Engine) read(ctx context.Context, operation, id string) map[string]any {
	obj, err := e.readObject(ctx, operation, map[string]any{"id": id})
	if err != nil {
		e.log.Debug("lookup failed", "operation", operation, "error", err)
		return nil
	}
	return obj
}

// readObject sends a catalog read operation with args, bypassing the pipeline: lookups the
// engine makes on a call's behalf are not calls of their own.
func (e *Engine) readObject(ctx context.Context, operation string, args map[string]any) (map[string]any, error) {
	spec, ok := e.ops[operation]
	if !ok {
		return nil, fmt.Errorf("tools: no catalog operation %q", operation)
	}
	r, err := buildRequest(spec.op, nil, args)
	if err != nil {
		return nil, err
	}
	resp, err := e.client.Do(ctx, r)
	if err != nil {
		return nil, err
	}
	return decodeObject(resp.Body)
}

// await waits for an asynchronous operation, reporting each poll as progress, and returns
// what the tool answers: the final operation, or, when the catalog says so (FetchAfter), the
// object it made. started nil is an empty success answer (a delete may answer 204).
func (e *Engine) await(ctx context.Context, c *call, started *apiclient.Operation) (any, error) {
	if started == nil {
		return map[string]any{"state": apiclient.StateSuccess}, nil
	}
	c.touch(started.ID)
	progress := func(poll int, o *apiclient.Operation) {
		c.peer.Progress(ctx, poll, fmt.Sprintf("%s: operation %s is %s (poll %d)", c.op.Name, o.ID, o.State, poll))
	}
	wctx, cancel := context.WithTimeout(ctx, e.wait)
	defer cancel()
	final, err := e.client.Wait(wctx, started, progress)
	if err != nil {
		return nil, &waitError{op: started, err: err}
	}
	if final.Reference == nil || final.Reference.ID == "" {
		return final, nil
	}
	c.touch(final.Reference.ID)
	if c.op.FetchAfter == "" {
		return final, nil
	}
	// The model needs the new object's id and fields: answer with the object itself.
	obj, err := e.readObject(ctx, c.op.FetchAfter, map[string]any{"id": final.Reference.ID})
	if err != nil {
		return nil, fmt.Errorf("%s was created, but reading it failed: %w", final.Reference.ID, err)
	}
	return obj, nil
}

// waitError: the change was accepted, but waiting for its outcome failed.
type waitError struct {
	op  *apiclient.Operation
	err error
}

func (e *waitError) Error() string { return e.err.Error() }
func (e *waitError) Unwrap() error { return e.err }

// parseOperation reads the operation a write answered with; nil for an empty answer.
func parseOperation(body []byte) (*apiclient.Operation, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, nil
	}
	var op apiclient.Operation
	if err := json.Unmarshal(body, &op); err != nil {
		return nil, err
	}
	if op.ID == "" {
		return nil, errors.New("an operation without an id")
	}
	return &op, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// gone reports whether a delete failed because its object does not exist: delete tools are
// idempotent, so the goal (the object is not there) is met.
func gone(op schemas.Operation, e *apiclient.Error) bool {
	return op.Access == schemas.Delete && e.Status == http.StatusNotFound
}

// deleted shapes a delete's answer: what was deleted (or found already gone), the secret files
// set aside, and a next step that points at the toolset's list, not at the object that is no
// longer there. out is the operation the delete ended with (nil when found gone).
func (e *Engine) deleted(c *call, out any, found bool) (Result, error) {
	obj := map[string]any{}
	if out != nil {
		b, err := json.Marshal(out)
		if err != nil {
			return Result{}, fmt.Errorf("tools: encoding a delete's answer: %w", err)
		}
		if obj, err = decodeObject(b); err != nil {
			return Result{}, fmt.Errorf("tools: decoding a delete's answer: %w", err)
		}
	}
	// The operation's reference names the object by its read tool ("command"), a call that
	// can only answer 404 now.
	if ref, ok := obj["reference"].(map[string]any); ok {
		delete(ref, "command")
		delete(ref, "link")
	}
	var note string
	if found {
		obj["deleted"] = c.id
		note = fmt.Sprintf("Deleted %s.", c.id)
	} else {
		obj["id"] = c.id
		obj["state"] = "not-found"
		obj["deleted"] = false
		note = fmt.Sprintf("Already deleted: Exoscale has no %s (404 Not Found), so it is not there now. This call deleted nothing; if you expected it to exist, the id may be wrong.", c.id)
	}
	if hint := listHint(*c.op, e.Serves); hint != "" {
		obj["next"] = hint
	}
	if moved := e.SetAsideSecretFiles(c.id, revokedSuffix); len(moved) > 0 {
		obj["secret-files-revoked"] = moved
		note += fmt.Sprintf(" The secret file this server wrote for it was renamed %s: the secret in it no longer works.", strings.Join(moved, ", "))
	}
	return ValueResult(OK, obj, note)
}

// revokedSuffix marks a secret file whose key was deleted.
const revokedSuffix = ".revoked"

// inUse, after Exoscale refused a delete because other objects still refer to the object,
// names them (the catalog's InUse says where to look) and says what to do: "" when it finds
// none, and the generic advice stands.
func (e *Engine) inUse(ctx context.Context, c *call, apiErr *apiclient.Error) string {
	u := c.op.InUse
	if u == nil || apiErr == nil || c.id == "" ||
		(apiErr.Status != http.StatusConflict && apiErr.Status != http.StatusBadRequest) {
		return ""
	}
	list, err := e.readObject(ctx, u.List, nil)
	if err != nil {
		e.log.Debug("listing what uses an object failed", "operation", u.List, "error", err)
		return ""
	}
	items, _ := list[u.Field].([]any)
	var names []string
	for _, it := range items {
		m, _ := it.(map[string]any)
		if stringArg(m, u.RefField) != c.id {
			continue
		}
		names = append(names, fmt.Sprintf("%s (%s)", stringArg(m, u.NameField), stringArg(m, u.IDField)))
	}
	if len(names) == 0 {
		return ""
	}
	const maxNamed = 20
	more := ""
	if len(names) > maxNamed {
		more = fmt.Sprintf(" and %d more", len(names)-maxNamed)
		names = names[:maxNamed]
	}
	return fmt.Sprintf("%s still on %s: %s%s. %s", u.What, c.id, strings.Join(names, ", "), more, inUseAdvice(u, c.id, e.Serves))
}

// inUseAdvice is what to do about the objects that still use id: the catalog's advice when the
// tools it names are served, else what the user can do.
func inUseAdvice(u *schemas.InUse, id string, serves func(string) bool) string {
	if sayable(serves, u.Advice) {
		return u.Advice
	}
	return "Remove or replace them first (the user can do it in " + portal + "), then delete " + id + " again."
}
