package tools

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/apiclient"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// ConfirmMode says which calls need a human's yes.
type ConfirmMode string

// Confirmation modes.
const (
	ConfirmNone        ConfirmMode = "none"
	ConfirmDestructive ConfirmMode = "destructive"
	ConfirmWrites      ConfirmMode = "writes"
)

// ConfirmOptions configure human confirmation.
type ConfirmOptions struct {
	Mode ConfirmMode
	// AllowWithoutElicitation lets calls through when the client cannot ask its human
	// (--confirm-fallback allow). The default refuses them.
	AllowWithoutElicitation bool
}

func (o ConfirmOptions) validate() error {
	switch o.Mode {
	case "", ConfirmNone, ConfirmDestructive, ConfirmWrites:
		return nil
	}
	return fmt.Errorf("confirm: expected none, destructive or writes, got %q", o.Mode)
}

func (o ConfirmOptions) needed(op *schemas.Operation) bool {
	switch o.Mode {
	case ConfirmDestructive:
		return op.Destructive()
	case ConfirmWrites:
		return !op.ReadOnly()
	}
	return false
}

// ConfirmID keys the confirmation among a call's questions and answers.
const ConfirmID = "confirm"

// confirmTTL is how long a question's answer is accepted.
const confirmTTL = 5 * time.Minute

// confirmStage asks the human when the mode says so. An answer counts only with a request
// state this server sealed for exactly this call (tool, arguments, principal), unexpired and
// not used before; any other answer is ignored, as if none had been given: the server asks,
// or the fallback applies. MCP requires request state that affects authorization to be
// integrity-protected and single-use.
func (e *Engine) confirmStage(ctx context.Context, c *call) (Result, bool, error) {
	if !e.confirm.needed(c.op) || planConfirmed(ctx) {
		return Result{}, false, nil
	}
	digest, err := argsDigest(c.args)
	if err != nil {
		return Result{}, true, err
	}
	return e.confirmation(ctx, c.peer, c.op.Name, digest, c.op.Name, func() string { return e.confirmMessage(ctx, c) })
}

// confirmation is what a call and a composite's plan share once a confirmation is needed:
// the human's answer, when it carries a valid request state sealed for tool, digest and
// this principal, decides; else the client is asked (a question and a newly sealed state),
// or, when it cannot ask, the fallback applies. who starts the refusal's sentence ("x" or
// "x calls y, which"); message is called only when a question is asked (it may read names).
// stop false means the call may go on.
func (e *Engine) confirmation(ctx context.Context, peer Peer, tool, digest, who string, message func() string) (Result, bool, error) {
	principal := principalOf(peer.SessionID(), e.ownCredentials(ctx))
	if ans, ok := peer.Answer(ConfirmID); ok {
		if err := e.checkState(ans.State, tool, digest, principal); err != nil {
			e.log.Info("a confirmation answer was ignored", "tool", tool, "reason", err)
		} else if ans.Accepted && ans.Yes {
			return Result{}, false, nil
		} else {
			return fail(Declined, "declined: the user did not confirm %s. Nothing changed. Do not retry unless the user asks for it.", tool), true, nil
		}
	}
	if !peer.CanAsk() {
		if e.confirm.AllowWithoutElicitation {
			return Result{}, false, nil
		}
		return fail(Refused, "refused: %s needs a human's confirmation (--confirm %s), and this MCP client cannot ask for it (no elicitation support). Nothing changed. "+
			"Use a client that supports elicitation, or the operator can set --confirm-fallback allow.", who, e.confirm.Mode), true, nil
	}
	var nonce [16]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return Result{}, true, fmt.Errorf("tools: confirmation nonce: %w", err)
	}
	state, err := e.sealer.Seal(ConfirmState{
		Tool: tool, Digest: digest, Principal: principal,
		Expires: e.now().Add(confirmTTL).UTC(), Nonce: hex.EncodeToString(nonce[:]),
	})
	if err != nil {
		return Result{}, true, fmt.Errorf("tools: sealing a confirmation: %w", err)
	}
	return Result{Outcome: NeedsInput, Question: &Question{ID: ConfirmID, Message: message()}, State: state}, true, nil
}

// checkState verifies a returned request state for this call and spends its nonce.
func (e *Engine) checkState(token, tool, digest, principal string) error {
	if token == "" {
		return errors.New("no request state")
	}
	st, err := e.sealer.Open(token)
	if err != nil {
		return err
	}
	switch {
	case st.Tool != tool:
		return errors.New("request state for another tool")
	case st.Digest != digest:
		return errors.New("request state for other arguments")
	case st.Principal != principal:
		return errors.New("request state for another session")
	case !e.now().Before(st.Expires):
		return errors.New("request state expired")
	case !e.nonces.Use(st.Nonce, st.Expires):
		return errors.New("request state used before")
	}
	return nil
}

// argsDigest is the SHA-256 of the arguments' canonical JSON (keys sorted, as encoding/json
// writes maps), without the local dry-run flag: a previewed call and the real one are the
// same call.
func argsDigest(args map[string]any) (string, error) {
	a := maps.Clone(args)
	delete(a, schemas.ParamDryRun)
	if a == nil {
		a = map[string]any{}
	}
	b, err := json.Marshal(a)
	if err != nil {
		return "", fmt.Errorf("tools: digest of validated arguments: %w", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// principalOf names who was asked: the session, and the credential that signs (a tenant in
// multi-tenant mode), never in the clear.
func principalOf(session string, creds apiclient.Credentials) string {
	ck := cacheKey(creds)
	sum := sha256.Sum256(append([]byte(session+"\x00"), ck[:]...))
	return hex.EncodeToString(sum[:16])
}

// confirmMessage names the object by its fetched name, so the human knows what they approve;
// the catalog's toolset data says how to read it.
func (e *Engine) confirmMessage(ctx context.Context, c *call) string {
	ts := schemas.Toolset(c.op.Toolset)
	var b strings.Builder
	b.WriteString(c.op.Title)
	name, roleID := c.name, stringArg(c.args, "role-id")
	if c.id != "" {
		b.WriteString(" " + c.id)
		if ts.NameLookup != "" {
			if obj := e.read(ctx, ts.NameLookup, c.id); obj != nil {
				name, roleID = stringArg(obj, "name"), stringArg(obj, "role-id")
			}
		}
	}
	if name != "" && (ts.NameLookup != "" || c.id == "") {
		fmt.Fprintf(&b, " '%s'", name)
	}
	if roleID != "" && ts.RoleLookup != "" {
		if role := e.read(ctx, ts.RoleLookup, roleID); role != nil {
			fmt.Fprintf(&b, " (role '%s')", stringArg(role, "name"))
		}
	}
	b.WriteString("?")
	if c.op.Destructive() {
		b.WriteString(" This cannot be undone.")
	}
	return b.String()
}
