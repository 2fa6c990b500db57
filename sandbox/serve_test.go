package sandbox

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serveInProcess runs Serve until the returned stop is called, and returns the banner up to the
// last export line.
func serveInProcess(t *testing.T, o ServeOptions) (banner []string, stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	o.Out = pw
	done := make(chan error, 1)
	go func() {
		err := Serve(ctx, o)
		pw.Close()
		done <- err
	}()
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		banner = append(banner, sc.Text())
		if strings.HasPrefix(sc.Text(), "export EXOSCALE_API_SECRET=") {
			break
		}
	}
	go io.Copy(io.Discard, pr) // nothing more is printed; never block Serve on the pipe
	stopped := false
	stop = func() error {
		if stopped {
			return nil
		}
		stopped = true
		cancel()
		return <-done
	}
	t.Cleanup(func() { stop() })
	return banner, stop
}

func TestServe_StateFileIsPrivateAndResumesTheCredentials(t *testing.T) {
	t.Parallel()
	statePath := filepath.Join(t.TempDir(), "state.json")
	banner, stop := serveInProcess(t, ServeOptions{Listen: "127.0.0.1:0", StatePath: statePath})
	text := strings.Join(banner, "\n")
	assert.Contains(t, text, "endpoint: http://127.0.0.1:")
	assert.Contains(t, text, "state file: "+statePath)
	assert.Contains(t, text, RestrictedKeyName, "the seeded restricted key is shown too")
	require.NoError(t, stop())

	info, err := os.Stat(statePath)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), "the state file holds secrets")
	leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(statePath), ".*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no temporary file left behind")

	again, stop2 := serveInProcess(t, ServeOptions{Listen: "127.0.0.1:0", StatePath: statePath})
	require.NoError(t, stop2())
	secretLine := func(lines []string) string {
		for _, l := range lines {
			if strings.HasPrefix(l, "export EXOSCALE_API_SECRET=") {
				return l
			}
		}
		return ""
	}
	require.NotEmpty(t, secretLine(banner))
	assert.Equal(t, secretLine(banner), secretLine(again), "the server credential survives the restart")
}

// TestStateSaver_AChangeWakesTheSaverAndItsFileRestoresIt: a change made through the API wakes
// the saver (off the request path: the hook only signals), and what it writes restores it.
func TestStateSaver_AChangeWakesTheSaverAndItsFileRestoresIt(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "state.json")
	saver := &stateSaver{path: path, log: slog.New(slog.DiscardHandler), wake: make(chan struct{}, 1), done: make(chan struct{})}
	s := New(WithChangeHook(saver.changed))
	saver.sb = s
	require.NoError(t, saver.save())
	require.Empty(t, saver.wake, "saving wakes nothing")
	createKey(t, s, serverCreds(s), "saved-key", RestrictedRoleID)
	createKey(t, s, serverCreds(s), "another-key", RestrictedRoleID)
	assert.Len(t, saver.wake, 1, "the changes woke the saver once; the second folded into the first")
	<-saver.wake // what loop does on a wake
	require.NoError(t, saver.save())

	data, err := os.ReadFile(path)
	require.NoError(t, err)
	r := New(WithoutSeed())
	require.NoError(t, r.RestoreState(data))
	var names []string
	for _, k := range must(t, r, req{method: "GET", path: "/api-key", creds: serverCreds(r)})["api-keys"].([]any) {
		names = append(names, k.(map[string]any)["name"].(string))
	}
	assert.Contains(t, names, "saved-key")
	assert.Contains(t, names, "another-key")
}

func TestServe_BadOptionsFailBeforeTheBanner(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	require.NoError(t, os.WriteFile(bad, []byte(`{"version":99}`), 0o600))
	for name, tc := range map[string]struct {
		o    ServeOptions
		want string
	}{
		"listen without port": {ServeOptions{Listen: "127.0.0.1"}, "--listen: expected host:port"},
		"state not a state":   {ServeOptions{Listen: "127.0.0.1:0", StatePath: bad}, "--state " + bad},
		"state dir missing":   {ServeOptions{Listen: "127.0.0.1:0", StatePath: filepath.Join(dir, "no", "such", "s.json")}, "--state"},
	} {
		var out strings.Builder
		tc.o.Out = &out
		err := Serve(context.Background(), tc.o)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), tc.want, name)
		assert.Empty(t, out.String(), "%s: nothing printed", name)
	}
}
