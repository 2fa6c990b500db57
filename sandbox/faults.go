package sandbox

import (
	"context"
	"net/http"
	"strings"
	"time"
)

// Fault makes the next Count requests matching Method and Path misbehave, so clients' retry,
// timeout and error handling can be tested against the sandbox. Faults are matched in the order
// they were injected; a request takes at most one fault (the first that matches and has uses
// left).
//
// What the response becomes, in order of precedence: Drop, then InvalidJSON, then Status/Body;
// a fault with none of these only delays (or, with AfterApply, delays after applying).
//
// Faults apply before authentication, so an unsigned request can be faulted too. Drop needs a
// connection to drop: served through Start or an httptest.Server it closes the connection; called
// in-process with a ResponseWriter that cannot be hijacked (httptest.ResponseRecorder) it panics
// with http.ErrAbortHandler, as net/http expects of a handler aborting a response.
type Fault struct {
	Method      string        // "" = any method
	Path        string        // path below /v2 ("/api-key"), decoded; a trailing "*" matches a prefix; "" = any
	Count       int           // how many matching requests it applies to (<= 0 means 1)
	Status      int           // respond with this status and a problem body (500 when only Body is set)
	RetryAfter  string        // Retry-After header sent with Status (optional)
	Delay       time.Duration // sleep before handling, or before answering with AfterApply; honours the request ctx
	Drop        bool          // hijack and close the connection without answering
	InvalidJSON bool          // answer 200 (or Status) with a body that is not JSON
	Body        []byte        // custom body sent with Status instead of the problem (to test error shapes)
	AfterApply  bool          // handle the request normally first (the change happens), then fault the response
}

func (f *Fault) matches(method, path string) bool {
	return (f.Method == "" || strings.EqualFold(f.Method, method)) && pathMatches(f.Path, path)
}

func pathMatches(pattern, path string) bool {
	if pattern == "" {
		return true
	}
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(path, prefix)
	}
	return pattern == path
}

// replacesResponse reports whether the fault answers instead of the handler.
func (f *Fault) replacesResponse() bool {
	return f.Drop || f.InvalidJSON || f.Status != 0 || f.Body != nil
}

// Inject adds a fault. It applies to requests received after Inject returns.
func (s *Sandbox) Inject(f Fault) {
	if f.Count <= 0 {
		f.Count = 1
	}
	s.faultMu.Lock()
	s.faults = append(s.faults, &f)
	s.nfaults.Store(int32(len(s.faults)))
	s.faultMu.Unlock()
}

// ClearFaults removes every fault not yet used up.
func (s *Sandbox) ClearFaults() {
	s.faultMu.Lock()
	s.faults = nil
	s.nfaults.Store(0)
	s.faultMu.Unlock()
}

// takeFault returns a copy of the first fault matching the request and uses one of its Count.
func (s *Sandbox) takeFault(method, path string) (Fault, bool) {
	if s.nfaults.Load() == 0 {
		return Fault{}, false
	}
	s.faultMu.Lock()
	defer s.faultMu.Unlock()
	for i, f := range s.faults {
		if !f.matches(method, path) {
			continue
		}
		taken := *f
		f.Count--
		if f.Count == 0 {
			s.faults = append(s.faults[:i:i], s.faults[i+1:]...)
			s.nfaults.Store(int32(len(s.faults)))
		}
		return taken, true
	}
	return Fault{}, false
}

// Requests counts the requests received (every request under /v2, before routing and
// authentication, faulted ones included) whose method and path match, with the same matching as
// Fault: "" matches any method or path, and a trailing "*" matches a path prefix.
func (s *Sandbox) Requests(method, path string) int {
	probe := Fault{Method: method, Path: path}
	s.countMu.Lock()
	defer s.countMu.Unlock()
	n := 0
	for k, c := range s.requests {
		if probe.matches(k.method, k.path) {
			n += c
		}
	}
	return n
}

func (s *Sandbox) countRequest(method, path string) {
	s.countMu.Lock()
	s.requests[requestKey{method, path}]++
	s.countMu.Unlock()
}

// sleepCtx sleeps for d or until ctx is done; it reports whether the full delay elapsed.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// writeFault answers the request as the fault says.
func writeFault(w http.ResponseWriter, f Fault) {
	if f.Drop {
		dropConnection(w)
		return
	}
	status := f.Status
	var resp response
	switch {
	case f.InvalidJSON:
		if status == 0 {
			status = http.StatusOK
		}
		// Looks like the start of a real answer, then stops: a truncated body is what a
		// proxy cutting a response short produces.
		resp = response{status: status, contentType: "application/json", body: []byte(`{"id":"5e1c9b4a-2f6d-4c3e-9a7b-`)}
	case f.Body != nil:
		if status == 0 {
			status = http.StatusInternalServerError
		}
		ct := "text/plain; charset=utf-8"
		if b := strings.TrimSpace(string(f.Body)); strings.HasPrefix(b, "{") || strings.HasPrefix(b, "[") {
			ct = "application/json"
		}
		resp = response{status: status, contentType: ct, body: f.Body}
	default:
		title := http.StatusText(status)
		if title == "" {
			title = "Error"
		}
		resp = problem(status, "injected-fault", title, "fault injected by the sandbox", nil)
	}
	if f.RetryAfter != "" {
		w.Header().Set("Retry-After", f.RetryAfter)
	}
	resp.write(w)
}

// dropConnection closes the client's connection without a response. When the ResponseWriter
// cannot be hijacked (HTTP/2, or a recorder), http.ErrAbortHandler makes net/http abort the
// response the same way without logging.
func dropConnection(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if ok {
		conn, _, err := hj.Hijack()
		if err == nil {
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}
