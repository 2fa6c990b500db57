package sandbox

import (
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
)

// response is what a handler produces; ServeHTTP writes it, or replaces it with a fault.
type response struct {
	status      int
	contentType string
	body        []byte
	allow       string // Allow header of a 405
}

func (r response) write(w http.ResponseWriter) {
	h := w.Header()
	if r.contentType != "" {
		h.Set("Content-Type", r.contentType)
	}
	if r.allow != "" {
		h.Set("Allow", r.allow)
	}
	h.Set("Content-Length", strconv.Itoa(len(r.body)))
	w.WriteHeader(r.status)
	_, _ = w.Write(r.body)
}

func jsonResponse(status int, v any) response {
	b, err := json.Marshal(v)
	if err != nil { // only our own types are marshalled: a failure is a sandbox bug
		return problem(http.StatusInternalServerError, "internal-error", "Internal Server Error", "sandbox could not encode its response", nil)
	}
	return response{status: status, contentType: "application/json", body: b}
}

// messageResponse is the {"message": "..."} shape the real API uses for signature and policy
// failures.
func messageResponse(status int, msg string) response {
	return jsonResponse(status, struct {
		Message string `json:"message"`
	}{msg})
}

// fieldError is one entry of a problem's "errors": which request field is wrong and why.
type fieldError struct {
	Path     string `json:"path"`     // dotted path ("policy.services.compute.type"); "" = the whole body
	Detail   string `json:"detail"`   // what is wrong, never echoing the value (it could be a secret)
	Pointer  string `json:"pointer"`  // RFC 6901 JSON pointer of the same field
	Location string `json:"location"` // body | path | query
}

// problemBody is an RFC 9457 problem details document, the shape of validation failures.
type problemBody struct {
	Type   string       `json:"type"`
	Title  string       `json:"title"`
	Status int          `json:"status"`
	Detail string       `json:"detail"`
	Errors []fieldError `json:"errors,omitempty"`
}

// problemTypeBase prefixes problem type slugs, so each kind of failure has its own type URI.
const problemTypeBase = "https://api.exoscale.com/problems/"

func problem(status int, slug, title, detail string, errs []fieldError) response {
	b, _ := json.Marshal(problemBody{Type: problemTypeBase + slug, Title: title, Status: status, Detail: detail, Errors: errs})
	return response{status: status, contentType: "application/problem+json", body: b}
}

func notFound(kind, id string) response {
	return problem(http.StatusNotFound, "not-found", "Not Found", kind+" "+quoteID(id)+" not found", nil)
}

// quoteID shows an id from the request path in a message, shortened: path ids are not secrets
// (IAM keys are public ids), but nothing stops a caller from putting one there by mistake.
func quoteID(id string) string {
	if len(id) > 64 {
		id = id[:64] + "…"
	}
	return strconv.Quote(id)
}

// invalidBody is a 400 listing every field error, summarised in detail so a reader of only the
// detail (or only the title) still learns what to fix.
func invalidBody(errs []fieldError) response {
	parts := make([]string, 0, len(errs))
	for _, e := range errs {
		if e.Path == "" {
			parts = append(parts, e.Detail)
		} else {
			parts = append(parts, e.Path+": "+e.Detail)
		}
	}
	return problem(http.StatusBadRequest, "invalid-request-body", "Invalid Request Body", strings.Join(parts, "; "), errs)
}
