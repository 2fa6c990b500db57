package sandbox

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkServeHTTP_SignedGet measures the per-request cost of the common path (signature,
// policies, lookup, JSON) in-process, in parallel: the load test drives ~5000 req/s.
func BenchmarkServeHTTP_SignedGet(b *testing.B) {
	s := New()
	c := serverCreds(s)
	r := req{method: "GET", path: "/api-key/" + c.key, creds: c}.build()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, r)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d", rec.Code)
			}
		}
	})
}

// BenchmarkServeHTTP_CreateDeleteAIKey measures a write pair under the state lock.
func BenchmarkServeHTTP_CreateDeleteAIKey(b *testing.B) {
	s := New()
	c := serverCreds(s)
	b.ReportAllocs()
	for b.Loop() {
		got := must(b, s, req{method: "POST", path: "/ai/api-key", creds: c, body: `{"name":"bench","scope":"public"}`})
		must(b, s, req{method: "DELETE", path: "/ai/api-key/" + got["id"].(string), creds: c})
	}
}
