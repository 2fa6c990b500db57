package policy

import (
	"sync"
	"testing"

	"cel.dev/cel-go/cel"
	"github.com/stretchr/testify/require"
)

// TestCompile_ConcurrentOnAFreshEnvIsRaceFree holds the warm-up in newEnv: without it, cel-go
// v0.33.3 races between a check that reports an undeclared name and one that enters a
// comprehension scope (run with -race).
func TestCompile_ConcurrentOnAFreshEnvIsRaceFree(t *testing.T) {
	t.Parallel()
	for range 5 {
		env, err := newEnv()
		require.NoError(t, err)
		envFn := func() (*cel.Env, error) { return env, nil }
		exprs := []string{
			"frob(operation)", "['a', 'b'].exists(x, x == operation)", "nope.field == 1",
			"[1, 2].all(i, i > 0) && zone == 'x'", "operation.lowerAscii() == 'x'", "[1].map(j, j + 1).size() == 1",
		}
		var wg sync.WaitGroup
		for _, e := range exprs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := compile(envFn, e)
				require.NoError(t, err)
			}()
		}
		wg.Wait()
	}
}
