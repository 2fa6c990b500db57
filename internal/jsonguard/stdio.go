package jsonguard

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
)

// LineFilter sits between the stdio transport's input and the MCP server: it hands on only the
// lines that pass Check and are at most max bytes long, and answers every other one on out
// itself (a JSON-RPC error with the request's id when it can be read), so that a refused
// message is never handled. A line longer than max is discarded as it arrives, never
// buffered whole: memory stays bounded by max whatever the client sends, and the next line is
// read normally.
type LineFilter struct {
	in      *bufio.Reader
	out     io.Writer
	max     int
	log     *slog.Logger
	pending []byte // a checked line not yet handed on
	err     error  // the input's error, returned once pending is drained
}

// NewLineFilter filters in (max ≤ 0 means MaxMessageBytes). out must be the writer the server
// writes its own answers to, made safe for concurrent whole-line writes (SyncWriter): refusals
// are written from the reading goroutine. log may be nil.
func NewLineFilter(in io.Reader, out io.Writer, max int, log *slog.Logger) *LineFilter {
	if max <= 0 {
		max = MaxMessageBytes
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &LineFilter{in: bufio.NewReaderSize(in, 64<<10), out: out, max: max, log: log}
}

// Read hands on the checked lines, newline included.
func (f *LineFilter) Read(p []byte) (int, error) {
	for len(f.pending) == 0 {
		if f.err != nil {
			return 0, f.err
		}
		f.next()
	}
	n := copy(p, f.pending)
	f.pending = f.pending[n:]
	return n, nil
}

// next reads one line and either queues it or answers it.
func (f *LineFilter) next() {
	var line []byte
	tooLong := false
	for {
		chunk, err := f.in.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > f.max+2 { // +2: the line's own "\r\n"
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		if errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if err != nil {
			f.err = err
		}
		break
	}
	if tooLong {
		f.refuse(nil, &Error{Code: CodeParseError, Reason: fmt.Sprintf("parse error: message longer than %d bytes; it was discarded unread", f.max)})
		return
	}
	if len(bytes.TrimSpace(line)) == 0 {
		f.pending = line // blank lines are the server's business, as before
		return
	}
	if err := Check(line); err != nil {
		f.refuse(line, err)
		return
	}
	f.pending = line
}

func (f *LineFilter) refuse(line []byte, err error) {
	f.log.Warn("refused a JSON-RPC message before handling it", "error", err)
	reply := Answer(line, err)
	if reply == nil {
		return
	}
	if _, werr := f.out.Write(append(reply, '\n')); werr != nil {
		f.log.Error("could not answer a refused message", "error", werr)
	}
}

// SyncWriter serialises writes to w, so that answers written by a LineFilter and by the
// server never interleave within a line (each side writes a whole line per Write call).
func SyncWriter(w io.Writer) io.Writer { return &syncWriter{w: w} }

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}
