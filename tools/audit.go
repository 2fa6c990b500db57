package tools

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"sync"
	"time"

	"github.com/exokeys/exoscale-keys-mcp/internal/safefile"
	"github.com/exokeys/exoscale-keys-mcp/schemas"
)

// AuditLog appends one JSON line per call that changes something, and per refused or dry-run
// call. The file is 0600, appended to, and each line is written whole with one write.
type AuditLog struct {
	mu sync.Mutex
	f  *os.File
}

// OpenAuditLog opens (or creates, mode 0600) the audit log for appending.
func OpenAuditLog(path string) (*AuditLog, error) {
	f, err := safefile.OpenAppend(path)
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &AuditLog{f: f}, nil
}

// Close closes the file.
func (a *AuditLog) Close() error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.f.Close()
}

// AuditRecord is one line of the audit log.
type AuditRecord struct {
	Time      time.Time      `json:"time"`
	Transport string         `json:"transport,omitempty"`
	Session   string         `json:"session,omitempty"`
	Tenant    string         `json:"tenant,omitempty"` // the API key that signed, in multi-tenant mode
	Tool      string         `json:"tool"`
	Arguments map[string]any `json:"arguments,omitempty"`
	Outcome   string         `json:"outcome"`
	Status    int            `json:"upstream-status,omitempty"`
	IDs       []string       `json:"ids,omitempty"`
	Millis    int64          `json:"duration-ms"`
}

func (a *AuditLog) write(r AuditRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	a.mu.Lock()
	defer a.mu.Unlock()
	_, err = a.f.Write(b)
	return err
}

// secretArgNames are removed from audited arguments whatever the tool: none of today's tools
// take a secret, but an argument of that name must never reach the log.
var secretArgNames = []string{"secret", "value", "api-key", "api-secret", "token", "password"}

// finish logs the call and writes its audit record.
func (e *Engine) finish(c *call) {
	elapsed := e.now().Sub(c.started)
	e.log.Debug("tool call", "tool", c.op.Name, "outcome", c.outcome.String(), "upstream-status", c.status, "duration", elapsed)
	if e.audit == nil || c.outcome == NeedsInput { // the answer comes with the next round
		return
	}
	// Reads are not audited, but reveals are: they hand out secrets.
	if c.op.Access == schemas.Read && c.outcome != Refused && c.outcome != DryRun {
		return
	}
	args := maps.Clone(c.args)
	for _, k := range secretArgNames {
		delete(args, k)
	}
	rec := AuditRecord{
		Time: c.started.UTC(), Transport: e.transport, Session: c.session, Tenant: c.tenant,
		Tool: c.op.Name, Arguments: args, Outcome: c.outcome.String(), Status: c.status, IDs: c.ids,
		Millis: elapsed.Milliseconds(),
	}
	if err := e.audit.write(rec); err != nil {
		e.log.Error("audit log write failed", "tool", c.op.Name, "error", err)
	}
}
