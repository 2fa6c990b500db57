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
	"sync"
	"time"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// call is one tool call on its way through the handler: what the audit log and the debug log
// say about it.
type call struct {
	op         schemas.Operation
	bodyParams []string // op.BodyParams(), computed once per tool
	args       map[string]any
	outcome    string // ok, error, refused, invalid, dry-run, declined, confirming
	status     int    // upstream HTTP status, 0 when nothing was sent
	ids        []string
	started    time.Time
	session    string
	tenant     string
}

func (c *call) touch(ids ...string) {
	for _, id := range ids {
		if id != "" && !slices.Contains(c.ids, id) {
			c.ids = append(c.ids, id)
		}
	}
}

func (h *Handler) handler(op schemas.Operation) server.ToolHandlerFunc {
	// Parsed on the tool's first call, not at start-up: clients spawn stdio servers often.
	bodyParams := sync.OnceValue(op.BodyParams)
	return func(ctx context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		c := &call{op: op, bodyParams: bodyParams(), started: time.Now(), session: sessionID(ctx)}
		if creds, ok := apiclient.CredentialsFrom(ctx); ok {
			c.tenant = creds.Key
		}
		res := h.serve(ctx, c, req)
		h.finish(c)
		return res, nil
	}
}

func sessionID(ctx context.Context) string {
	if s := server.ClientSessionFromContext(ctx); s != nil {
		return s.SessionID()
	}
	return ""
}

// serve runs one call. Every path returns a result; the outcome is recorded on c.
func (h *Handler) serve(ctx context.Context, c *call, req mcp.CallToolRequest) *mcp.CallToolResult {
	op := c.op
	args, err := arguments(req)
	if err != nil {
		c.outcome = "invalid"
		return errorResult(fmt.Sprintf("invalid arguments for %s: %v; nothing was sent.", op.Name, err))
	}
	c.args = args
	c.touch(stringArg(args, "id"))
	if err := schemas.Validate(op, args); err != nil {
		c.outcome = "invalid"
		return errorResult(err.Error() + "\nNothing was sent to Exoscale; fix the arguments and call again.")
	}
	dryRun := args[schemas.ParamDryRun] == true
	r, err := buildRequest(op, c.bodyParams, args)
	if err != nil {
		c.outcome = "invalid"
		return errorResult(fmt.Sprintf("%s: %v; nothing was sent.", op.Name, err))
	}

	if unlock := h.guards.serializeCreate(ctx, c, args); unlock != nil {
		defer unlock()
	}
	if res := h.guards.check(ctx, c, args); res != nil {
		c.outcome = "refused"
		return res
	}
	if len(op.Secrets) > 0 && !dryRun {
		if err := h.secrets.ready(); err != nil {
			c.outcome = "refused"
			return errorResult(fmt.Sprintf("%s refused: %v. Nothing was sent, so no secret was minted; the operator must fix the secrets directory (--secrets-dir) or choose --secret-delivery inline.", op.Name, err))
		}
	}
	if dryRun {
		c.outcome = "dry-run"
		return h.dryRun(ctx, r)
	}
	if res, outcome := h.confirmCall(ctx, c, req, args); res != nil {
		c.outcome = outcome
		return res
	}

	resp, err := h.client.Do(ctx, r)
	if err != nil {
		c.outcome = "error"
		var apiErr *apiclient.Error
		if errors.As(err, &apiErr) {
			c.status = apiErr.Status
		}
		return errorResult(describeFailure(op, err, c.tenant != ""))
	}
	c.status = resp.Status
	if op.Access == schemas.Read {
		// The hot path: a read answers with Exoscale's own JSON, compacted, as both text and
		// structured content, without decoding it into maps and encoding it again.
		if res := rawObjectResult(resp.Body); res != nil {
			c.outcome = "ok"
			return res
		}
	}
	badBody := func(err error) *mcp.CallToolResult {
		c.outcome = "error"
		return errorResult(fmt.Sprintf("%s: Exoscale answered %d with a body that is not a JSON object of the expected shape (%v). %s",
			op.Name, resp.Status, err, unknownOutcomeAdvice(op)))
	}
	if op.Async {
		started, err := parseOperation(resp.Body)
		if err != nil {
			return badBody(err)
		}
		out, err := h.await(ctx, c, req, started)
		if err != nil {
			c.outcome = "error"
			return errorResult(describeFailure(op, err, c.tenant != ""))
		}
		c.outcome = "ok"
		return structuredResult(out, "")
	}
	result, err := decodeObject(resp.Body)
	if err != nil {
		return badBody(err)
	}
	touchResult(c, result)
	c.outcome = "ok"
	if len(op.Secrets) > 0 {
		return h.deliver(ctx, c, result)
	}
	return structuredResult(result, "")
}

// arguments returns the call's arguments as an object (absent = empty).
func arguments(req mcp.CallToolRequest) (map[string]any, error) {
	switch a := req.Params.Arguments.(type) {
	case nil:
		return map[string]any{}, nil
	case map[string]any:
		return a, nil
	default:
		return nil, fmt.Errorf("expected an object of named arguments, got %T", a)
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

// decodeObject parses an API answer; an empty body (delete-ai-api-key may answer 204) is an
// empty object.
func decodeObject(body []byte) (map[string]any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return map[string]any{}, nil
	}
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	var out map[string]any
	if err := d.Decode(&out); err != nil {
		return nil, err
	}
	if out == nil {
		return nil, errors.New("null")
	}
	return out, nil
}

// await waits for an asynchronous operation, reporting each poll as MCP progress when the
// client asked for it, and returns what the tool answers: the final operation, or for
// create-iam-role the new role. started nil is an empty success answer (delete-ai-api-key
// may answer 204).
func (h *Handler) await(ctx context.Context, c *call, req mcp.CallToolRequest, started *apiclient.Operation) (any, error) {
	if started == nil {
		return map[string]any{"state": apiclient.StateSuccess}, nil
	}
	c.touch(started.ID)
	var token mcp.ProgressToken
	if req.Params.Meta != nil {
		token = req.Params.Meta.ProgressToken
	}
	srv := server.ServerFromContext(ctx)
	progress := func(poll int, o *apiclient.Operation) {
		if token == nil || srv == nil {
			return
		}
		// A failed notification must not fail the call: the client may have gone.
		_ = srv.SendNotificationToClient(ctx, string(mcp.MethodNotificationProgress), map[string]any{
			"progressToken": token,
			"progress":      poll,
			"message":       fmt.Sprintf("%s: operation %s is %s (poll %d)", c.op.Name, o.ID, o.State, poll),
		})
	}
	wctx, cancel := context.WithTimeout(ctx, h.wait)
	defer cancel()
	final, err := h.client.Wait(wctx, started, progress)
	if err != nil {
		return nil, &waitError{op: started, err: err}
	}
	if final.Reference == nil || final.Reference.ID == "" {
		return final, nil
	}
	c.touch(final.Reference.ID)
	if c.op.Name != "create-iam-role" {
		return final, nil
	}
	// The model needs the new role's id: answer with the role itself.
	resp, err := h.client.Do(ctx, apiclient.Request{
		Operation: "get-iam-role", Method: http.MethodGet, Path: "/iam-role/" + url.PathEscape(final.Reference.ID),
	})
	if err != nil {
		return nil, fmt.Errorf("the role %s was created, but fetching it failed: %w", final.Reference.ID, err)
	}
	return decodeObject(resp.Body)
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

// touchResult records the ids a result names, for the audit log.
func touchResult(c *call, result map[string]any) {
	for _, k := range []string{"id", "key"} {
		if s, ok := result[k].(string); ok {
			c.touch(s)
		}
	}
}

// structuredResult carries the object as structuredContent and the same JSON as compact text,
// with an optional note line before it.
func structuredResult(obj any, note string) *mcp.CallToolResult {
	b, err := json.Marshal(obj)
	if err != nil {
		return errorResult("internal error: encoding the result failed")
	}
	text := string(b)
	if note != "" {
		text = note + "\n" + text
	}
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(text)},
		StructuredContent: obj,
	}
}

// rawObjectResult is structuredResult for a body that is already a JSON object, or nil when
// it is not one.
func rawObjectResult(body []byte) *mcp.CallToolResult {
	var buf bytes.Buffer
	buf.Grow(len(body))
	if err := json.Compact(&buf, body); err != nil || buf.Len() == 0 || buf.Bytes()[0] != '{' {
		return nil
	}
	compact := buf.Bytes()
	return &mcp.CallToolResult{
		Content:           []mcp.Content{mcp.NewTextContent(string(compact))},
		StructuredContent: json.RawMessage(compact),
	}
}

func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{mcp.NewTextContent(text)}, IsError: true}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
