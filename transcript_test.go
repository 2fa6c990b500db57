package main

// Protocol transcripts over stdio, as the official Go SDK's conformance tests do: each
// testdata/transcripts/*.txtar holds what a client sends ("-- client --", a stream of JSON
// values, each sent as one line) and what the server must answer ("-- server --", every line
// the server writes, in order). Values that change from run to run (keys, ids, secrets,
// timestamps, the state directory) are replaced by placeholders before comparing.
//
// After an intended change of the protocol output, rewrite the files and review the diff:
//
//	go test -run TestTranscript -update .

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/exokeys/exoscale-keys-mcp/sandbox"
	"golang.org/x/tools/txtar"
)

var updateTranscripts = flag.Bool("update", false, "TestTranscript: rewrite testdata/transcripts/*.txtar with the server's answers")

// txtarFile returns the named file of an archive.
func txtarFile(a *txtar.Archive, name string) (string, bool) {
	for _, f := range a.Files {
		if f.Name == name {
			return string(f.Data), true
		}
	}
	return "", false
}

// setTxtarFile replaces the named file of an archive, or adds it.
func setTxtarFile(a *txtar.Archive, name, data string) {
	for i := range a.Files {
		if a.Files[i].Name == name {
			a.Files[i].Data = []byte(data)
			return
		}
	}
	a.Files = append(a.Files, txtar.File{Name: name, Data: []byte(data)})
}

// jsonStream decodes a stream of JSON values (one per line, or pretty-printed).
func jsonStream(s string) ([]json.RawMessage, error) {
	d := json.NewDecoder(strings.NewReader(s))
	var out []json.RawMessage
	for {
		var v json.RawMessage
		err := d.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
}

// canonicalJSON re-encodes a JSON value with sorted keys and 2-space indentation, the form
// the golden files hold and the form compared.
func canonicalJSON(raw []byte) (string, error) {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return "", err
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return "", err
	}
	return b.String(), nil
}

// transcriptNormalizer replaces what differs between runs with stable placeholders.
type transcriptNormalizer struct {
	env      *testEnv
	replacer *strings.Replacer
	seen     map[string]string // minted id → placeholder, in order of first appearance
	counts   map[string]int
}

var (
	iamKeyPattern    = regexp.MustCompile(`EXO[0-9a-f]{24}`)
	uuidPattern      = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	timestampPattern = regexp.MustCompile(`\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})`)
	// serverVersion: the binary's version depends on VERSION and on how it was built (a stamp,
	// the module version, VCS stamping); TestVersion_* check it.
	serverVersion = regexp.MustCompile(`("serverInfo":\{[^}]*"version":")[^"]*"`)
	// secretFileSuffix: secret files are named …_<UTC time>_<random>.env.
	secretFileSuffix = regexp.MustCompile(`_\d{8}T\d{6}Z_[0-9a-f]+\.env`)
	// stableUUIDs are the sandbox's seed ids: the same in every run, kept as they are.
	stableUUIDs = map[string]bool{
		sandbox.OrgID: true, sandbox.AdminRoleID: true, sandbox.RestrictedRoleID: true,
		sandbox.PrivateDeploymentID: true, sandbox.PublicDeploymentID: true, sandbox.SeedAIKeyID: true,
	}
)

func newTranscriptNormalizer(env *testEnv) *transcriptNormalizer {
	return &transcriptNormalizer{env: env, seen: map[string]string{}, counts: map[string]int{}}
}

func (n *transcriptNormalizer) placeholder(kind, value string) string {
	if p, ok := n.seen[value]; ok {
		return p
	}
	n.counts[kind]++
	p := fmt.Sprintf("$%s%d", kind, n.counts[kind])
	n.seen[value] = p
	return p
}

func (n *transcriptNormalizer) normalize(line string) string {
	// Secrets first (a secret could contain anything), then the fixed values, then patterns.
	var pairs []string
	for _, s := range n.env.sb.Secrets() {
		if s != "" {
			pairs = append(pairs, s, "$SECRET")
		}
	}
	pairs = append(pairs, n.env.state, "$STATE", n.env.key, "$SERVER_KEY")
	line = strings.NewReplacer(pairs...).Replace(line)
	line = iamKeyPattern.ReplaceAllStringFunc(line, func(k string) string { return n.placeholder("KEY", k) })
	line = uuidPattern.ReplaceAllStringFunc(line, func(u string) string {
		if stableUUIDs[u] {
			return u
		}
		return n.placeholder("UUID", u)
	})
	line = serverVersion.ReplaceAllString(line, `${1}$$VERSION"`)
	line = secretFileSuffix.ReplaceAllString(line, "_$$TIME_$$RANDOM.env")
	return timestampPattern.ReplaceAllString(line, "$$TIME")
}

// TestTranscript_Stdio replays every testdata/transcripts/*.txtar against a fresh stdio
// server and sandbox, and compares what the server writes with the golden answers.
func TestTranscript_Stdio(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "transcripts", "*.txtar"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			t.Parallel()
			runTranscript(t, file)
		})
	}
}

// TestTranscript_CoversTheProtocolBasics: the transcripts include what the issue asks for.
func TestTranscript_CoversTheProtocolBasics(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"initialize", "tools-list", "call-success", "validation-error", "unknown-tool"} {
		assert.FileExists(t, filepath.Join("testdata", "transcripts", name+".txtar"))
	}
}

func runTranscript(t *testing.T, file string) {
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	ar := txtar.Parse(raw)
	clientText, ok := txtarFile(ar, "client")
	require.True(t, ok, "%s has no client section", file)
	client, err := jsonStream(clientText)
	require.NoError(t, err, "%s: client section", file)

	env := newTestEnv(t)
	norm := newTranscriptNormalizer(env)
	got := replayStdio(t, env, client)

	var gotCanon []string
	for _, line := range got {
		c, err := canonicalJSON([]byte(norm.normalize(line)))
		require.NoError(t, err, "the server wrote a line that is not JSON: %q", line)
		gotCanon = append(gotCanon, c)
	}
	gotText := strings.Join(gotCanon, "")

	if *updateTranscripts {
		setTxtarFile(ar, "server", gotText)
		require.NoError(t, os.WriteFile(file, txtar.Format(ar), 0o644))
		return
	}
	serverText, ok := txtarFile(ar, "server")
	require.True(t, ok, "%s has no server section: run with -update to create it", file)
	want, err := jsonStream(serverText)
	require.NoError(t, err, "%s: server section", file)
	var wantCanon []string
	for _, w := range want {
		c, err := canonicalJSON(w)
		require.NoError(t, err)
		wantCanon = append(wantCanon, c)
	}
	assert.Equal(t, strings.Join(wantCanon, ""), gotText, "%s: the server's answers differ from the golden transcript (after an intended change: go test -run TestTranscript -update .)", file)
}

// replayStdio starts the stdio server, sends each client message as one line, waits for
// the answer to each request, and returns every line the server wrote.
func replayStdio(t *testing.T, env *testEnv, client []json.RawMessage) []string {
	t.Helper()
	r := env.startRawStdio(t)
	var got []string
	for _, msg := range client {
		var m struct {
			ID     json.RawMessage `json:"id"`
			Method string          `json:"method"`
		}
		require.NoError(t, json.Unmarshal(msg, &m))
		var compact bytes.Buffer
		require.NoError(t, json.Compact(&compact, msg))
		r.send(t, compact.String())
		if m.ID == nil || m.Method == "" {
			continue // a notification or a response: nothing comes back
		}
		for answered := false; !answered; {
			select {
			case line, ok := <-r.lines:
				require.True(t, ok, "the server stopped before answering %s\nstderr:\n%s", m.Method, r.stderr.String())
				got = append(got, line)
				var r struct {
					ID     json.RawMessage `json:"id"`
					Method string          `json:"method"`
				}
				answered = json.Unmarshal([]byte(line), &r) == nil && r.Method == "" && bytes.Equal(r.ID, m.ID)
			case <-time.After(30 * time.Second):
				t.Fatalf("no answer to %s (id %s)\nstderr:\n%s", m.Method, m.ID, r.stderr.String())
			}
		}
	}
	r.stop(t)
	for line := range r.lines { // whatever the server wrote after the last answer
		got = append(got, line)
	}
	return got
}
