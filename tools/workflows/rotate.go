package workflows

import (
	"context"
	"fmt"
	"strings"

	"github.com/exokeys/exoscale-keys-mcp/schemas"
	"github.com/exokeys/exoscale-keys-mcp/tools"
)

const rotateSchema = `{"type":"object","properties":{
"id":{"type":"string","pattern":"^EXO[0-9A-Za-z]+$","description":"key to rotate (EXO...)"},
"retire-old":{"type":"boolean","description":"delete the old key now (default false)"},
"dry-run":{"type":"boolean"}},
"required":["id"],"additionalProperties":false}`

func (w *workflows) rotateTool() tools.Tool {
	t := tools.Tool{
		Name: RotateKey, Title: "Rotate an IAM API key", Toolset: "api-keys",
		Description: "Replace a key: a new key with the same name and role, its secret delivered; retire-old:true then deletes the old key (irreversible), else the result gives that call.",
		InputSchema: compact(rotateSchema),
		// Destructive: with retire-old the old key is deleted.
		Annotations: tools.Annotations{Destructive: true, OpenWorld: true},
		Access:      schemas.Rotate,
	}
	return validated(t, w.rotate)
}

func (w *workflows) rotate(ctx context.Context, args map[string]any) (tools.Result, error) {
	const tool = RotateKey
	id := str(args, "id")
	retire := boolArg(args, "retire-old", false)
	if own := w.e.Identity(ctx).Key; strings.EqualFold(id, own) {
		instead := fmt.Sprintf("%s {\"template\":%q,\"name\":\"<new name>\"}", CloneKey, id)
		if !w.e.Serves(CloneKey) {
			instead = "the user creates a new key on the same role (e.g. in the Exoscale portal)"
		}
		return tools.Failure(tools.Refused, fmt.Sprintf("refused: %s: %s is the key this server signs with. The server cannot switch to a new key by itself, and retiring this one would lock it out. "+
			"Nothing was sent. Instead: %s, configure the server with the new key, restart it, then delete the old key from there.", tool, id, instead)), nil
	}
	old, err := w.call(ctx, "get-api-key", map[string]any{"id": id})
	if err != nil {
		return tools.Result{}, err
	}
	if !old.ok() {
		return failed(tool, old, "reading the key to rotate", "Nothing was created."), nil
	}
	name, roleID := str(old.obj, "name"), str(old.obj, "role-id")
	// The duplicate-name guard exists to stop a second key of one name by mistake; a rotation
	// makes exactly that second key on purpose, for the time the two overlap.
	createArgs := map[string]any{"name": name, "role-id": roleID, schemas.ParamAllowDuplicateName: true}
	deleteArgs := map[string]any{"id": id}
	oldKey := map[string]any{"key": id, "name": name, "role-id": roleID}

	if boolArg(args, schemas.ParamDryRun, false) {
		c, err := w.call(ctx, "create-api-key", withDryRun(createArgs))
		if err != nil {
			return tools.Result{}, err
		}
		if c.res.Outcome != tools.DryRun {
			return notDryRun(tool, c), nil
		}
		steps := []step{c}
		if retire {
			d, err := w.call(ctx, "delete-api-key", withDryRun(deleteArgs))
			if err != nil {
				return tools.Result{}, err
			}
			if d.res.Outcome != tools.DryRun {
				return notDryRun(tool, d), nil
			}
			steps = append(steps, d)
		}
		return dryRunResult(map[string]any{"old-key": oldKey}, steps...)
	}

	plan := []string{"create-api-key"}
	question := fmt.Sprintf("Create a new IAM API key '%s' on the same role, replacing %s?", name, id)
	if retire {
		plan = append(plan, "delete-api-key")
		question = fmt.Sprintf("Create a new IAM API key '%s' on the same role, then delete the old key %s? Whatever still uses the old key loses access; this cannot be undone.", name, id)
	}
	ctx, res, stop, err := w.e.ConfirmPlan(ctx, tool, args, plan, question)
	if err != nil || stop {
		if err == nil && retire && res.Outcome == tools.Refused && strings.Contains(res.Text, " calls delete-api-key,") {
			// Only the delete needs the human: the rotation itself can go on without it.
			res.Text += fmt.Sprintf(" Or rotate now without the delete: rotate-api-key {\"id\":%q} creates the new key and leaves %s to delete once everything uses the new key.", id, id)
		}
		return res, err
	}

	c, err := w.call(ctx, "create-api-key", createArgs)
	if err != nil {
		return tools.Result{}, err
	}
	if !c.ok() {
		return failed(tool, c, "creating the new key", "The old key "+id+" is unchanged and still works."), nil
	}
	out := map[string]any{"new-key": c.obj}
	notes := []string{c.res.Note}
	if retired := w.e.SetAsideSecretFiles(id, ".retired"); len(retired) > 0 {
		oldKey["secret-files-retired"] = retired
		notes = append(notes, fmt.Sprintf("The old key's secret file was renamed %s.", strings.Join(retired, ", ")))
	}
	out["old-key"] = oldKey
	next := toolCall{Tool: "delete-api-key", Arguments: map[string]any{"id": id}}
	if !retire {
		oldKey["state"] = "still active"
		out["next"] = w.served(&next)
		notes = append(notes, fmt.Sprintf("The old key %s still works: once everything uses the new key, %s.", id,
			w.callAdvice(next.Tool, next.Arguments, "the user can delete it in the Exoscale portal")))
		return tools.ValueResult(tools.OK, out, strings.Join(notes, " "))
	}
	d, err := w.call(ctx, "delete-api-key", deleteArgs)
	if err != nil {
		return tools.Result{}, err
	}
	if !d.ok() {
		// The new key exists and its secret was delivered: say so first, then what is left.
		oldKey["state"] = "still active: deleting it failed"
		oldKey["error"] = d.res.Text
		out["next"] = w.served(&next)
		again := "the user must delete it (e.g. in the Exoscale portal)"
		if w.e.Serves(next.Tool) {
			again = w.callAdvice(next.Tool, next.Arguments, "") + " again"
		}
		notes = append(notes, fmt.Sprintf("WARNING: the new key was created, but deleting the old key %s failed (see old-key.error): %s.", id, again))
		return tools.ValueResult(tools.OK, out, strings.Join(notes, " "))
	}
	oldKey["state"] = "deleted"
	notes = append(notes, fmt.Sprintf("The old key %s was deleted.", id))
	return tools.ValueResult(tools.OK, out, strings.Join(notes, " "))
}
