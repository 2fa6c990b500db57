package nearest

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestDistance(t *testing.T) {
	t.Parallel()
	assert.Equal(t, 1, Distance("list-instancez", "list-instances", 3))
	assert.Equal(t, 0, Distance("iam", "iam", 2))
	assert.Equal(t, 3, Distance("abc", "xyz", 2), "cut short past the limit")
	assert.Equal(t, 3, Distance("abc", "xyz", -1), "no limit")
	assert.Equal(t, 1, Distance("é", "e", -1), "runes, not bytes")
}

func TestNames(t *testing.T) {
	t.Parallel()
	assert.Equal(t, []string{"list-instances"}, Names("list-instancez", []string{"list-instances", "list-zones"}, 3, 3))
	names := []string{"get-api-key", "list-api-keys", "list-zones"}
	assert.Equal(t, []string{"list-api-keys", "get-api-key"}, Names("list-api-key", names, -1, 2), "closest first")
	assert.Empty(t, Names("x", nil, -1, 3))
}
