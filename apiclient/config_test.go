package apiclient

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// envOf turns a map into a Settings.Getenv.
func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// writeConfig writes an exoscale.toml with mode perm into a new directory and returns it.
func writeConfig(t *testing.T, content string, perm os.FileMode) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, ConfigFileName)
	require.NoError(t, os.WriteFile(path, []byte(content), perm))
	require.NoError(t, os.Chmod(path, perm)) // umask-proof
	return dir, path
}

// writeScript writes a shell script for secretCommand and returns the TOML array elements
// that run it: "/bin/sh", "<path>". The script is run by /bin/sh rather than executed itself:
// a file just written by one parallel test can still be open for writing in a child that
// another test is forking, and executing it then fails with "text file busy" (ETXTBSY).
func writeScript(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "secret-cmd")
	require.NoError(t, os.WriteFile(path, []byte(body+"\n"), 0o600))
	return `"/bin/sh", "` + path + `"`
}

const twoAccounts = `
defaultAccount = "work"

[[accounts]]
name = "work"
key = "EXOwork000000000000000000"
secret = "work-SECRET-0000000000000000000000"
defaultZone = "de-fra-1"

[[accounts]]
name = "perso"
key = "EXOperso00000000000000000"
secret = "perso-SECRET-000000000000000000000"
endpoint = "http://127.0.0.1:8080/v2"
`

func TestResolve_CredentialsFromEnvironment(t *testing.T) {
	t.Parallel()
	dir, _ := writeConfig(t, twoAccounts, 0o600)
	tests := []struct {
		name       string
		env        map[string]string
		wantKey    string
		wantSource string
		warning    string
	}{
		{"EXOSCALE_API_KEY pair", map[string]string{EnvAPIKey: "EXOenv1", EnvAPISecret: "env-secret-1"}, "EXOenv1", "environment (EXOSCALE_API_KEY)", ""},
		{"EXOSCALE_KEY pair", map[string]string{EnvKey: "EXOenv2", EnvSecret: "env-secret-2"}, "EXOenv2", "environment (EXOSCALE_KEY)", ""},
		{"API_KEY wins over KEY", map[string]string{EnvAPIKey: "EXOenv1", EnvAPISecret: "s1", EnvKey: "EXOenv2", EnvSecret: "s2"}, "EXOenv1", "environment (EXOSCALE_API_KEY)", ""},
		{"key without secret falls back to the config", map[string]string{EnvAPIKey: "EXOenv1"}, "EXOwork000000000000000000", filepath.Join(dir, ConfigFileName) + " account work", "partial API key"},
		{"secret without key falls back to the config", map[string]string{EnvSecret: "lonely-secret"}, "EXOwork000000000000000000", filepath.Join(dir, ConfigFileName) + " account work", "partial API key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Resolve(context.Background(), Settings{Getenv: envOf(tt.env), ConfigDirs: []string{dir}})
			require.NoError(t, err)
			assert.Equal(t, tt.wantKey, r.Credentials.Key)
			assert.NotEmpty(t, r.Credentials.Secret)
			assert.Equal(t, tt.wantSource, r.Source)
			if tt.warning != "" {
				require.Len(t, r.Warnings, 1)
				assert.Contains(t, r.Warnings[0], tt.warning)
				assert.NotContains(t, r.Warnings[0], "lonely-secret")
			} else {
				assert.Empty(t, r.Warnings)
				assert.Equal(t, "https://api-ch-gva-2.exoscale.com/v2", r.Endpoint, "env credentials do not read the account's zone")
				assert.Equal(t, DefaultZone, r.Zone)
			}
		})
	}
}

func TestResolve_ConfigWithTwoAccounts(t *testing.T) {
	t.Parallel()
	dir, path := writeConfig(t, twoAccounts, 0o600)
	tests := []struct {
		name         string
		flag         string
		env          map[string]string
		wantAccount  string
		wantSecret   string
		wantZone     string
		wantEndpoint string
	}{
		{"defaultAccount", "", nil, "work", "work-SECRET-0000000000000000000000", "de-fra-1", "https://api-de-fra-1.exoscale.com/v2"},
		{"--account selects", "perso", nil, "perso", "perso-SECRET-000000000000000000000", DefaultZone, "http://127.0.0.1:8080/v2"},
		{"EXOSCALE_ACCOUNT selects", "", map[string]string{EnvAccount: "perso"}, "perso", "perso-SECRET-000000000000000000000", DefaultZone, "http://127.0.0.1:8080/v2"},
		{"--account beats EXOSCALE_ACCOUNT", "work", map[string]string{EnvAccount: "perso"}, "work", "work-SECRET-0000000000000000000000", "de-fra-1", "https://api-de-fra-1.exoscale.com/v2"},
		{"EXOSCALE_ZONE beats defaultZone", "", map[string]string{EnvZone: "at-vie-1"}, "work", "work-SECRET-0000000000000000000000", "at-vie-1", "https://api-at-vie-1.exoscale.com/v2"},
		{"EXOSCALE_API_ENDPOINT beats the account's", "perso", map[string]string{EnvAPIEndpoint: "https://api-hr-zag-1.exoscale.com/v2/"}, "perso", "perso-SECRET-000000000000000000000", DefaultZone, "https://api-hr-zag-1.exoscale.com/v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Resolve(context.Background(), Settings{Account: tt.flag, Getenv: envOf(tt.env), ConfigDirs: []string{dir}})
			require.NoError(t, err)
			assert.Equal(t, path+" account "+tt.wantAccount, r.Source)
			assert.Equal(t, tt.wantSecret, r.Credentials.Secret)
			assert.Equal(t, tt.wantZone, r.Zone)
			assert.Equal(t, tt.wantEndpoint, r.Endpoint)
			assert.Empty(t, r.Warnings)
		})
	}
}

func TestResolve_AccountSelectionErrorsListAccounts(t *testing.T) {
	t.Parallel()
	dir, _ := writeConfig(t, twoAccounts, 0o600)
	_, err := Resolve(context.Background(), Settings{Account: "nope", Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `account "nope" (from --account)`)
	assert.Contains(t, err.Error(), `"work", "perso"`)
	assert.NotContains(t, err.Error(), "SECRET")

	noDefault := strings.Replace(twoAccounts, `defaultAccount = "work"`, "", 1)
	dir2, _ := writeConfig(t, noDefault, 0o600)
	_, err = Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir2}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "none is selected")

	single := `[[accounts]]
name = "only"
key = "EXOonly"
secret = "only-secret"`
	dir3, _ := writeConfig(t, single, 0o600)
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir3}})
	require.NoError(t, err, "a single account needs no defaultAccount")
	assert.Equal(t, "EXOonly", r.Credentials.Key)
}

func TestResolve_ConfigKeysAreCaseInsensitive(t *testing.T) {
	t.Parallel()
	dir, _ := writeConfig(t, `
DefaultAccount = "Main"
[[Accounts]]
NAME = "Main"
Key = "EXOmain"
SECRET = "main-secret"
defaultzone = "ch-dk-2"
`, 0o600)
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.NoError(t, err)
	assert.Equal(t, Credentials{Key: "EXOmain", Secret: "main-secret"}, r.Credentials)
	assert.Equal(t, "ch-dk-2", r.Zone)

	dup, _ := writeConfig(t, "[[accounts]]\nname = \"a\"\nkey = \"EXO1\"\nKEY = \"EXO2\"\nsecret = \"s\"\n", 0o600)
	_, err = Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dup}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "set twice")
}

func TestResolve_SecretCommandRunsWithoutShell(t *testing.T) {
	t.Parallel()
	// The script prints its first argument: a shell would have split and run "echo pwned".
	script := writeScript(t, `printf '%s\n' "$1"`)
	arg := "from-cmd; echo pwned $(id)"
	dir, path := writeConfig(t, `
defaultAccount = "cmd"
[[accounts]]
name = "cmd"
key = "EXOcmd"
secretCommand = [`+script+`, "`+arg+`"]
`, 0o600)
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.NoError(t, err)
	assert.Equal(t, Credentials{Key: "EXOcmd", Secret: arg}, r.Credentials, "stdout, trailing newline trimmed")
	assert.Equal(t, path+" account cmd", r.Source)
	assert.Empty(t, r.Warnings)
}

func TestResolve_SecretCommandOutputHandling(t *testing.T) {
	t.Parallel()
	const leaked = "STDERR-SECRET-abcdef0123456789"
	tests := []struct {
		name       string
		script     string
		wantSecret string
		warning    string
		errHas     string
	}{
		{name: "pass-style several lines", script: `printf 'first-line-secret\nURL: example\n'`, wantSecret: "first-line-secret", warning: "several lines"},
		{name: "CRLF trimmed", script: `printf 'crlf-secret\r\n'`, wantSecret: "crlf-secret"},
		{name: "failure hides stderr", script: `echo "` + leaked + `" >&2; exit 3`, errHas: "exit status 3"},
		{name: "empty output", script: `exit 0`, errHas: "printed nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir, _ := writeConfig(t, "[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecretCommand = ["+writeScript(t, tt.script)+"]\n", 0o600)
			r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
			if tt.errHas != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errHas)
				assert.NotContains(t, err.Error(), leaked)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.wantSecret, r.Credentials.Secret)
			if tt.warning != "" {
				require.Len(t, r.Warnings, 1)
				assert.Contains(t, r.Warnings[0], tt.warning)
				assert.NotContains(t, r.Warnings[0], tt.wantSecret)
			}
		})
	}

	dir, _ := writeConfig(t, "[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecretCommand = \"pass show exoscale\"\n", 0o600)
	_, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "must be a list")

	dir, _ = writeConfig(t, "[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecretCommand = [\"/nonexistent/secret-tool\"]\n", 0o600)
	_, err = Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "could not run")
}

func TestResolve_WarnsWhenConfigIsReadableByOthers(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		perm os.FileMode
		warn bool
	}{{0o644, true}, {0o640, true}, {0o600, false}, {0o400, false}} {
		dir, path := writeConfig(t, twoAccounts, tt.perm)
		r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
		require.NoError(t, err)
		if !tt.warn {
			assert.Empty(t, r.Warnings, "%04o", tt.perm)
			continue
		}
		require.Len(t, r.Warnings, 1, "%04o", tt.perm)
		assert.Contains(t, r.Warnings[0], path)
		assert.Contains(t, r.Warnings[0], "chmod 600")
	}
}

func TestResolve_NoCredentialsErrorNamesEveryPlaceLooked(t *testing.T) {
	t.Parallel()
	d1, d2 := t.TempDir(), t.TempDir()
	empty, emptyPath := writeConfig(t, "defaultAccount = \"x\"\n", 0o600)
	_, err := Resolve(context.Background(), Settings{Getenv: envOf(map[string]string{EnvAPIKey: "EXOhalf"}), ConfigDirs: []string{d1, d2, empty}})
	require.Error(t, err)
	msg := err.Error()
	for _, want := range []string{
		"no Exoscale API credentials found",
		"EXOSCALE_API_KEY (set)", "EXOSCALE_API_SECRET (not set)", "EXOSCALE_KEY (not set)", "EXOSCALE_SECRET (not set)",
		filepath.Join(d1, ConfigFileName) + " (not found)",
		filepath.Join(d2, ConfigFileName) + " (not found)",
		emptyPath + " (found, but it has no accounts)",
		"exo config", "EXOSCALE_CONFIG", "export EXOSCALE_API_KEY",
	} {
		assert.Contains(t, msg, want)
	}
	assert.NotContains(t, msg, "EXOhalf", "values are never shown, only whether a variable is set")
}

func TestResolve_DefaultSearchOrderFollowsTheExoCLIButSkipsTheWorkingDirectory(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	xdg := filepath.Join(home, "xdg")
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}
	_, err := Resolve(context.Background(), Settings{Getenv: envOf(env)})
	require.Error(t, err)
	cwd, _ := filepath.Abs(ConfigFileName)
	assert.NotContains(t, err.Error(), cwd+" (not found)", "the working directory is not searched")
	assert.Contains(t, err.Error(), "working directory is not read unless EXOSCALE_CONFIG or --config")
	want := []string{
		filepath.Join(xdg, "exoscale", ConfigFileName),
		filepath.Join(home, ".exoscale", ConfigFileName),
		filepath.Join(home, ConfigFileName),
	}
	last := -1
	for _, p := range want {
		i := strings.Index(err.Error(), p+" (not found)")
		require.GreaterOrEqual(t, i, 0, "%s missing from %s", p, err)
		assert.Greater(t, i, last, "search order")
		last = i
	}

	require.NoError(t, os.MkdirAll(filepath.Join(home, ".exoscale"), 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(home, ".exoscale", ConfigFileName), []byte(twoAccounts), 0o600))
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(env)})
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(home, ".exoscale", ConfigFileName)+" account work", r.Source)
}

func TestResolve_ExoscaleConfigVariable(t *testing.T) {
	t.Parallel()
	_, path := writeConfig(t, twoAccounts, 0o600)
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(map[string]string{EnvConfig: path}), ConfigDirs: []string{t.TempDir()}})
	require.NoError(t, err)
	assert.Equal(t, path+" account work", r.Source)

	missing := filepath.Join(t.TempDir(), "nope.toml")
	_, err = Resolve(context.Background(), Settings{Getenv: envOf(map[string]string{EnvConfig: missing})})
	require.Error(t, err)
	assert.Contains(t, err.Error(), missing)
}

// An MCP host starts a stdio server in the project directory: a cloned repository's
// exoscale.toml must not be read, and above all its secretCommand must not run.
func TestResolve_ConfigInWorkingDirectoryIsNotReadUnlessNamed(t *testing.T) {
	cwd := t.TempDir()
	t.Chdir(cwd) // not parallel: the working directory is the process's
	marker := filepath.Join(t.TempDir(), "ran")
	script := writeScript(t, "touch "+marker+"; echo planted-secret")
	require.NoError(t, os.WriteFile(filepath.Join(cwd, ConfigFileName), []byte("[[accounts]]\nname = \"repo\"\nkey = \"EXOrepo\"\nsecretCommand = ["+script+"]\n"), 0o600))
	home := t.TempDir()
	env := map[string]string{"HOME": home, "XDG_CONFIG_HOME": filepath.Join(home, "xdg")}

	_, err := Resolve(context.Background(), Settings{Getenv: envOf(env)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no Exoscale API credentials found")
	assert.NoFileExists(t, marker, "the working directory's secretCommand must not run")

	// Named explicitly, by --config or EXOSCALE_CONFIG, it is the user's choice.
	for _, s := range []Settings{
		{Getenv: envOf(env), ConfigFile: ConfigFileName},
		{Getenv: envOf(map[string]string{"HOME": home, EnvConfig: ConfigFileName})},
	} {
		require.NoError(t, os.RemoveAll(marker))
		r, err := Resolve(context.Background(), s)
		require.NoError(t, err)
		assert.Equal(t, Credentials{Key: "EXOrepo", Secret: "planted-secret"}, r.Credentials)
		assert.FileExists(t, marker)
	}
}

// A secretCommand runs as us: a file another user could have written must not choose it.
func TestResolve_SecretCommandRefusedFromAnUntrustedFile(t *testing.T) {
	t.Parallel()
	newConfig := func(t *testing.T, perm os.FileMode) (dir, path, marker string) {
		marker = filepath.Join(t.TempDir(), "ran")
		script := writeScript(t, "touch "+marker+"; echo cmd-secret")
		dir, path = writeConfig(t, "[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecretCommand = ["+script+"]\n", perm)
		return dir, path, marker
	}
	for _, perm := range []os.FileMode{0o666, 0o620, 0o602} {
		t.Run("writable by group or others "+perm.String(), func(t *testing.T) {
			t.Parallel()
			dir, path, marker := newConfig(t, perm)
			_, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), path)
			assert.Contains(t, err.Error(), "writable by group or others")
			assert.Contains(t, err.Error(), "chmod 600 "+path)
			assert.NoFileExists(t, marker)
		})
	}
	t.Run("owned by another user", func(t *testing.T) {
		t.Parallel()
		if os.Geteuid() != 0 {
			t.Skip("needs root to chown the file to another user (uid 65534); CI runs as root")
		}
		dir, path, marker := newConfig(t, 0o600)
		require.NoError(t, os.Chown(path, 65534, 65534))
		_, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
		require.Error(t, err)
		assert.Contains(t, err.Error(), path)
		assert.Contains(t, err.Error(), "owned by uid 65534")
		assert.NoFileExists(t, marker)
	})
	t.Run("own private file runs it", func(t *testing.T) {
		t.Parallel()
		dir, _, marker := newConfig(t, 0o600)
		r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
		require.NoError(t, err)
		assert.Equal(t, "cmd-secret", r.Credentials.Secret)
		assert.FileExists(t, marker)
	})
	t.Run("a plain secret in a shared file is only a warning", func(t *testing.T) {
		t.Parallel()
		dir, _ := writeConfig(t, twoAccounts, 0o666)
		r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
		require.NoError(t, err)
		assert.NotEmpty(t, r.Warnings)
	})
}

func TestResolve_ValidatesZone(t *testing.T) {
	t.Parallel()
	env := map[string]string{EnvAPIKey: "EXOk", EnvAPISecret: "s"}
	_, err := Resolve(context.Background(), Settings{Zone: "ch-gva-3", Getenv: envOf(env)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown zone "ch-gva-3"`)
	for _, z := range Zones {
		assert.Contains(t, err.Error(), z)
	}

	r, err := Resolve(context.Background(), Settings{Zone: " BG-SOF-1 ", Getenv: envOf(env)})
	require.NoError(t, err)
	assert.Equal(t, "bg-sof-1", r.Zone)
	assert.Equal(t, "https://api-bg-sof-1.exoscale.com/v2", r.Endpoint)

	r, err = Resolve(context.Background(), Settings{Zone: "de-muc-1", Getenv: envOf(map[string]string{EnvAPIKey: "EXOk", EnvAPISecret: "s", EnvZone: "at-vie-2"})})
	require.NoError(t, err)
	assert.Equal(t, "de-muc-1", r.Zone, "the flag beats EXOSCALE_ZONE")
}

func TestResolve_Endpoint(t *testing.T) {
	t.Parallel()
	creds := map[string]string{EnvAPIKey: "EXOk", EnvAPISecret: "s"}
	with := func(kv ...string) map[string]string {
		m := map[string]string{}
		for k, v := range creds {
			m[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		env    map[string]string
		want   string
		errHas string
	}{
		{"default", with(), "https://api-ch-gva-2.exoscale.com/v2", ""},
		{"environment prefix", with(EnvAPIEnvironment, "ppapi"), "https://ppapi-ch-gva-2.exoscale.com/v2", ""},
		{"bad environment prefix", with(EnvAPIEnvironment, "api.evil.com/x"), "", "host name prefix"},
		{"loopback http override", with(EnvAPIEndpoint, "http://127.0.0.1:9999/v2"), "http://127.0.0.1:9999/v2", ""},
		{"override without path gets /v2", with(EnvAPIEndpoint, "https://api-ch-dk-2.exoscale.com"), "https://api-ch-dk-2.exoscale.com/v2", ""},
		{"remote http refused", with(EnvAPIEndpoint, "http://api-ch-gva-2.exoscale.com/v2"), "", "loopback"},
		{"v1 override refused", with(EnvAPIEndpoint, "https://api.exoscale.com/v1"), "", "API v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, err := Resolve(context.Background(), Settings{Getenv: envOf(tt.env)})
			if tt.errHas != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tt.errHas)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, r.Endpoint)
		})
	}

	// Older exo CLI versions wrote the v1 endpoint into every account.
	dir, _ := writeConfig(t, "[[accounts]]\nname = \"old\"\nkey = \"EXOold\"\nsecret = \"s\"\nendpoint = \"https://api.exoscale.com/v1\"\ndefaultZone = \"ch-dk-2\"\n", 0o600)
	r, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.NoError(t, err)
	assert.Equal(t, "https://api-ch-dk-2.exoscale.com/v2", r.Endpoint)
	require.Len(t, r.Warnings, 1)
	assert.Contains(t, r.Warnings[0], "API v1 endpoint")
}

func TestResolve_EnvCredentialsIgnoreAccountFlagWithWarning(t *testing.T) {
	t.Parallel()
	r, err := Resolve(context.Background(), Settings{Account: "work", Getenv: envOf(map[string]string{EnvAPIKey: "EXOk", EnvAPISecret: "s"})})
	require.NoError(t, err)
	assert.Equal(t, "EXOk", r.Credentials.Key)
	require.Len(t, r.Warnings, 1)
	assert.Contains(t, r.Warnings[0], `account "work" ignored`)
}

func TestResolve_InvalidConfigNeverQuotesIt(t *testing.T) {
	t.Parallel()
	const secret = "ConfigSecret-0123456789abcdef"
	for _, content := range []string{
		"[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = \"" + secret + "\\q\"\n", // bad escape
		"[[accounts]]\nname = \"a\"\nsecret = " + secret + "\n",                        // unquoted
		"[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecret = [\"" + secret + "\"]\n",  // wrong type
	} {
		dir, _ := writeConfig(t, content, 0o600)
		_, err := Resolve(context.Background(), Settings{Getenv: envOf(nil), ConfigDirs: []string{dir}})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
		assert.NotContains(t, err.Error(), "ConfigSecret")
	}
}

// FuzzParseConfig: no input panics the parser, and no error quotes a secret it contains.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(twoAccounts))
	f.Add([]byte("[[accounts]]\nname = \"a\"\nsecret = \"FUZZSECRET\\q\"\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := parseConfig(data)
		if err != nil {
			require.NotContains(t, err.Error(), "FUZZSECRET")
			return
		}
		require.NotNil(t, cfg)
		for _, a := range cfg.Accounts {
			if strings.Contains(a.Secret, "FUZZSECRET") && !strings.Contains(a.Name, "FUZZSECRET") && !strings.Contains(a.Key, "FUZZSECRET") {
				require.NotContains(t, a.String(), "FUZZSECRET")
			}
		}
	})
}

// TestResolve_EndpointOnly: a multi-tenant server resolves the endpoint as usual, with no
// credentials and without reading (or running anything from) a config file.
func TestResolve_EndpointOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, ConfigFileName),
		[]byte("[[accounts]]\nname = \"a\"\nkey = \"EXOa\"\nsecretCommand = [\"/nonexistent/never-run\"]\n"), 0o600))
	r, err := Resolve(context.Background(), Settings{EndpointOnly: true, Zone: "DE-FRA-1",
		Getenv: envOf(map[string]string{EnvAPIEnvironment: "ppapi"}), ConfigDirs: []string{dir}})
	require.NoError(t, err)
	assert.Equal(t, "https://ppapi-de-fra-1.exoscale.com/v2", r.Endpoint)
	assert.True(t, r.Credentials.IsZero())
	assert.Empty(t, r.Warnings)

	r, err = Resolve(context.Background(), Settings{EndpointOnly: true,
		Getenv: envOf(map[string]string{EnvAPIEndpoint: "https://api-ch-gva-2.exoscale.com"}), ConfigDirs: []string{dir}})
	require.NoError(t, err)
	assert.Equal(t, "https://api-ch-gva-2.exoscale.com/v2", r.Endpoint, "the path is added as in single-tenant mode")

	_, err = Resolve(context.Background(), Settings{EndpointOnly: true, Zone: "mars-1", Getenv: envOf(nil), ConfigDirs: []string{dir}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ch-gva-2")
}
