package sandbox

import (
	"net/http"
	"net/url"
	"strings"
	"time"
)

// maxEvents bounds the event log: the oldest events go first.
const maxEvents = 10_000

// eventWindow is list-events' default window: the last 24 hours.
const eventWindow = 24 * time.Hour

// eventTimeLayout is an RFC 3339 timestamp with milliseconds, the resolution events carry.
const eventTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// event is one applied change, as list-events returns it.
type event struct {
	Timestamp  string         `json:"timestamp"`
	RequestID  string         `json:"request-id"`
	Zone       string         `json:"zone"`
	Handler    string         `json:"handler"` // the operationId
	Status     int            `json:"status"`
	Message    string         `json:"message"`
	ElapsedMS  int64          `json:"elapsed-ms"`
	SourceIP   string         `json:"source-ip"`
	URI        string         `json:"uri"`
	PathParams map[string]any `json:"path-params"`
	GetParams  map[string]any `json:"get-params"`
	BodyParams map[string]any `json:"body-params"`
	IAMAPIKey  *apiKeyJSON    `json:"iam-api-key,omitempty"`
	IAMRole    *roleRef       `json:"iam-role,omitempty"`
	IAMUser    *userJSON      `json:"iam-user,omitempty"`

	at time.Time
}

// roleRef names a role in events and users.
type roleRef struct {
	ID   string `json:"id"`
	Name string `json:"name,omitempty"`
}

// secretFields are body fields never recorded in an event, whatever the operation: a secret
// must not outlive the response that carried it.
var secretFields = map[string]bool{"secret": true, "value": true, "api-key": true, "password": true, "token": true}

// withoutSecrets copies a decoded JSON object without secretFields, at any depth.
func withoutSecrets(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if secretFields[strings.ToLower(k)] {
			continue
		}
		out[k] = withoutSecretsValue(v)
	}
	return out
}

func withoutSecretsValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return withoutSecrets(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = withoutSecretsValue(e)
		}
		return out
	}
	return v
}

// eventURI is the request URI as an event records it: a query parameter named like a secret
// field is left out, as it is from get-params.
func eventURI(u *url.URL) string {
	q := u.Query()
	redacted := false
	for k := range q {
		if secretFields[strings.ToLower(k)] {
			q.Del(k)
			redacted = true
		}
	}
	if !redacted {
		return u.RequestURI()
	}
	out := u.EscapedPath()
	if len(q) > 0 {
		out += "?" + q.Encode()
	}
	return out
}

// recordEvent records an applied change and calls the change hook.
func (s *Sandbox) recordEvent(c *call, rt route, status int) {
	at := s.opts.now().UTC()
	elapsed := time.Since(c.start).Milliseconds()
	if elapsed < 1 {
		elapsed = 1 // the document says elapsed-ms > 0
	}
	e := &event{
		Timestamp:  at.Format(eventTimeLayout),
		RequestID:  newUUID(),
		Zone:       c.zone,
		Handler:    rt.name,
		Status:     status,
		Message:    http.StatusText(status),
		ElapsedMS:  elapsed,
		SourceIP:   sourceIP(c.r),
		URI:        eventURI(c.r.URL),
		PathParams: map[string]any{},
		GetParams:  map[string]any{},
		BodyParams: map[string]any{},
		at:         at,
	}
	if c.id != "" {
		e.PathParams["id"] = c.id
	}
	for k, vs := range c.r.URL.Query() {
		if len(vs) > 0 && !secretFields[strings.ToLower(k)] {
			e.GetParams[k] = vs[0]
		}
	}
	if m := c.bodyParams(); m != nil {
		e.BodyParams = withoutSecrets(m)
	}
	if who := c.caller; who != nil {
		e.IAMAPIKey = &apiKeyJSON{Key: who.key, Name: who.name, RoleID: who.roleID}
		e.IAMRole = &roleRef{ID: who.roleID, Name: who.roleName}
	}
	s.mu.Lock()
	s.events = append(s.events, e)
	if n := len(s.events) - maxEvents; n > 0 {
		s.events = append(s.events[:0:0], s.events[n:]...)
	}
	s.mu.Unlock()
	if s.opts.onChange != nil {
		s.opts.onChange()
	}
}

// listEvents answers the events of [from, to], oldest first; by default the last 24 hours.
func (s *Sandbox) listEvents(c *call) response {
	q := c.r.URL.Query()
	var errs []fieldError
	parse := func(name string) (time.Time, bool) {
		v := q.Get(name)
		if v == "" {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, v)
		if err != nil {
			errs = append(errs, fieldError{Path: name, Detail: "expected an RFC 3339 date-time (2026-01-31T12:00:00Z)", Location: "query"})
			return time.Time{}, false
		}
		return t, true
	}
	from, hasFrom := parse("from")
	to, hasTo := parse("to")
	if len(errs) > 0 {
		return problem(http.StatusBadRequest, "invalid-request-parameter", "Invalid Request Parameter",
			errs[0].Path+": "+errs[0].Detail, errs)
	}
	if !hasTo {
		to = s.opts.now()
	}
	if !hasFrom {
		from = to.Add(-eventWindow)
	}
	if to.Before(from) {
		return problem(http.StatusBadRequest, "invalid-request-parameter", "Invalid Request Parameter",
			"from: must not be after to",
			[]fieldError{{Path: "from", Detail: "must not be after to", Location: "query"}})
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*event, 0)
	for _, e := range s.events {
		if !e.at.Before(from) && !e.at.After(to) {
			out = append(out, e)
		}
	}
	return jsonResponse(http.StatusOK, out)
}
