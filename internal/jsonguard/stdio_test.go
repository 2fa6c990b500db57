package jsonguard

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"runtime"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLineFilter_HandsOnGoodLinesAndAnswersTheOthers(t *testing.T) {
	t.Parallel()
	good1 := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}` + "\n"
	dup := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"delete-api-key","arguments":{"id":"EXO1","dry-run":true,"dry-run":false}}}` + "\n"
	long := `{"jsonrpc":"2.0","id":3,"method":"x","params":{"pad":"` + strings.Repeat("x", 2000) + `"}}` + "\n"
	note := `{"jsonrpc":"2.0","method":"notifications/x","params":{"a":1,"a":2}}` + "\n"
	big := `{"jsonrpc":"2.0","id":"s","method":"tools/call","params":{"n":9007199254740993}}` + "\r\n"
	good2 := `{"jsonrpc":"2.0","id":4,"method":"ping"}` + "\r\n"
	in := good1 + dup + long + "\n" + note + big + good2

	var out bytes.Buffer
	f := NewLineFilter(strings.NewReader(in), &out, 1024, nil)
	got, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, good1+"\n"+good2, string(got), "only the good lines (and the blank one) are handed on")

	var answers []struct {
		ID    any `json:"id"`
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
		} `json:"error"`
	}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		var a struct {
			ID    any `json:"id"`
			Error struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(sc.Bytes(), &a), sc.Text())
		answers = append(answers, a)
	}
	require.Len(t, answers, 3, "the notification gets no answer: %s", out.String())
	assert.Equal(t, float64(2), answers[0].ID)
	assert.Equal(t, CodeInvalidRequest, answers[0].Error.Code)
	assert.Contains(t, answers[0].Error.Message, "params.arguments.dry-run")
	assert.Nil(t, answers[1].ID, "an oversized line is not read, so its id is unknown")
	assert.Equal(t, CodeParseError, answers[1].Error.Code)
	assert.Contains(t, answers[1].Error.Message, "longer than 1024 bytes")
	assert.Equal(t, "s", answers[2].ID)
	assert.Contains(t, answers[2].Error.Message, "params.n")
}

// endless yields n bytes of 'x' and then a good line, without ever holding them.
type endless struct {
	n    int
	tail *strings.Reader
}

func (e *endless) Read(p []byte) (int, error) {
	if e.n > 0 {
		k := min(len(p), e.n)
		for i := range k {
			p[i] = 'x'
		}
		e.n -= k
		return k, nil
	}
	return e.tail.Read(p)
}

// A client that never sends a newline must not grow the server: 64 MiB without one allocate
// far less than 64 MiB, and the stream goes on after it. Not parallel: it counts allocations.
func TestLineFilter_LongLineIsDiscardedNotBuffered(t *testing.T) {
	next := `{"jsonrpc":"2.0","id":9,"method":"ping"}` + "\n"
	src := &endless{n: 64 << 20, tail: strings.NewReader("\n" + next)}
	var out bytes.Buffer
	f := NewLineFilter(src, &out, 1<<20, nil)

	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	got, err := io.ReadAll(f)
	runtime.ReadMemStats(&after)
	require.NoError(t, err)
	assert.Equal(t, next, string(got))
	assert.Less(t, after.TotalAlloc-before.TotalAlloc, uint64(8<<20), "bytes allocated while discarding 64 MiB")
	assert.Contains(t, out.String(), "longer than 1048576 bytes")
}

func TestLineFilter_LastLineWithoutNewlineAndEOF(t *testing.T) {
	t.Parallel()
	var out bytes.Buffer
	got, err := io.ReadAll(NewLineFilter(strings.NewReader(`{"a":1}`), &out, 0, nil))
	require.NoError(t, err)
	assert.Equal(t, `{"a":1}`, string(got))

	out.Reset()
	got, err = io.ReadAll(NewLineFilter(strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"m","x":1,"x":2}`), &out, 0, nil))
	require.NoError(t, err)
	assert.Empty(t, got)
	assert.Contains(t, out.String(), `"id":1`)
}
