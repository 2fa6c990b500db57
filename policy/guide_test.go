package policy

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var jsonBlock = regexp.MustCompile("(?s)```json\n(.*?)```")

func guideExamples(t *testing.T) []*Policy {
	t.Helper()
	var out []*Policy
	for _, m := range jsonBlock.FindAllStringSubmatch(Guide(), -1) {
		p, err := Parse([]byte(m[1]))
		require.NoError(t, err, m[1])
		out = append(out, p)
	}
	require.Len(t, out, 5)
	return out
}

func TestGuide_ExamplesPassCheck(t *testing.T) {
	t.Parallel()
	for i, p := range guideExamples(t) {
		for _, pr := range Check(p) {
			// Only the zone example may warn (compute's async changes without get-operation).
			assert.NotEqual(t, SeverityError, pr.Severity, "example %d: %s", i, pr)
		}
	}
}

func TestGuide_ExamplesDecideAsTheTextSays(t *testing.T) {
	t.Parallel()
	ex := guideExamples(t)
	few, zone, readOnly, denyOne, network := ex[0], ex[1], ex[2], ex[3], ex[4]
	cases := []struct {
		p    *Policy
		req  Request
		want Outcome
	}{
		{few, Request{Operation: "list-api-keys"}, Allow},
		{few, Request{Operation: "get-operation"}, Allow},
		{few, Request{Operation: "create-api-key"}, Deny},
		{few, Request{Operation: "list-instances"}, Deny},
		{zone, Request{Operation: "create-instance", Zone: "ch-gva-2"}, Allow},
		{zone, Request{Operation: "create-instance", Zone: "de-fra-1"}, Deny},
		{zone, Request{Operation: "create-instance"}, Conditional},
		{zone, Request{Operation: "list-api-keys", Zone: "ch-gva-2"}, Deny},
		{readOnly, Request{Operation: "list-dns-domains"}, Allow},
		{readOnly, Request{Operation: "delete-dns-domain"}, Deny},
		{denyOne, Request{Operation: "delete-instance"}, Deny},
		{denyOne, Request{Operation: "create-instance"}, Allow},
		{denyOne, Request{Operation: "list-api-keys"}, Allow},
		{network, Request{Operation: "list-api-keys", SourceIP: "203.0.113.9"}, Allow},
		{network, Request{Operation: "list-api-keys", SourceIP: "198.51.100.1"}, Deny},
		{network, Request{Operation: "list-api-keys"}, Conditional},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Evaluate(nil, c.p, c.req).Outcome, "%s %+v", c.req.Operation, c.req)
	}
	// Restrict builds the guide's read-only example.
	built, err := Restrict(Restriction{Services: []string{"dns"}, ReadOnly: true})
	require.NoError(t, err)
	assert.True(t, Equivalent(readOnly, built), "%s", built.JSON())
}
