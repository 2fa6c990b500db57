package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// The clients below are deliberately raw: a JSON-RPC line written to a pipe, a POST with a
// pre-built body. Whatever the client costs, it costs the same for our server and for the
// baseline, and it stays small next to what is measured.

// protocolVersion is the MCP revision the benchmark speaks.
const protocolVersion = "2025-11-25"

// initializeParams is the initialize request's params, the same for every server.
const initializeParams = `{"protocolVersion":"` + protocolVersion + `","capabilities":{},"clientInfo":{"name":"exokeys-bench","version":"1"}}`

// rpcReply is the part of a JSON-RPC response the benchmark looks at.
type rpcReply struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
	Result json.RawMessage `json:"result"`
}

// stdioConn is a newline-delimited JSON-RPC connection to a child's stdin and stdout.
type stdioConn struct {
	cmd  *exec.Cmd
	in   io.WriteCloser
	out  *bufio.Reader
	next int64
	buf  []byte
}

// startStdio starts cmd with pipes on stdin and stdout; stderr goes where cmd.Stderr says.
func startStdio(cmd *exec.Cmd) (*stdioConn, error) {
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return &stdioConn{cmd: cmd, in: in, out: bufio.NewReaderSize(out, 1<<16)}, nil
}

// call sends one request and returns the raw line of its response, skipping notifications and
// requests the server sends in between.
func (c *stdioConn) call(method, params string) ([]byte, error) {
	c.next++
	id := c.next
	c.buf = fmt.Appendf(c.buf[:0], `{"jsonrpc":"2.0","id":%d,"method":%q`, id, method)
	if params != "" {
		c.buf = append(c.buf, `,"params":`...)
		c.buf = append(c.buf, params...)
	}
	c.buf = append(c.buf, "}\n"...)
	if _, err := c.in.Write(c.buf); err != nil {
		return nil, fmt.Errorf("writing %s: %w", method, err)
	}
	want := strconv.AppendInt(nil, id, 10)
	// mcp-go writes the id second: matching the prefix spares decoding the whole line.
	prefix := append(append([]byte(`{"jsonrpc":"2.0","id":`), want...), ',')
	for {
		line, err := c.out.ReadBytes('\n')
		if err != nil {
			return nil, fmt.Errorf("reading the %s response: %w", method, err)
		}
		if bytes.HasPrefix(line, prefix) {
			return line, nil
		}
		var r struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(line, &r) == nil && bytes.Equal(r.ID, want) {
			return line, nil
		}
	}
}

// notify sends a notification (no response).
func (c *stdioConn) notify(method string) error {
	_, err := fmt.Fprintf(c.in, `{"jsonrpc":"2.0","method":%q}`+"\n", method)
	return err
}

// initialize performs the MCP handshake: initialize, then notifications/initialized.
func (c *stdioConn) initialize() error {
	line, err := c.call("initialize", initializeParams)
	if err != nil {
		return err
	}
	if err := checkReply(line); err != nil {
		return fmt.Errorf("initialize: %w", err)
	}
	return c.notify("notifications/initialized")
}

// close ends the session the stdio way (EOF on stdin) and waits for the process.
func (c *stdioConn) close() error {
	c.in.Close()
	done := make(chan error, 1)
	go func() { done <- c.cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(5 * time.Second):
		c.cmd.Process.Kill()
		return <-done
	}
}

// checkReply fully decodes a response and reports a JSON-RPC error or an isError tool result.
func checkReply(line []byte) error {
	var r rpcReply
	if err := json.Unmarshal(line, &r); err != nil {
		return fmt.Errorf("response is not JSON: %w", err)
	}
	if r.Error != nil {
		return fmt.Errorf("JSON-RPC error %d: %s", r.Error.Code, r.Error.Message)
	}
	var res struct {
		IsError bool `json:"isError"`
		Content []struct {
			Text string `json:"text"`
		} `json:"content"`
	}
	if json.Unmarshal(r.Result, &res) == nil && res.IsError {
		text := ""
		if len(res.Content) > 0 {
			text = res.Content[0].Text
		}
		return fmt.Errorf("tool error: %s", truncate(text, 200))
	}
	return nil
}

// quickCheck classifies a response without decoding it, for the hot loop: a JSON-RPC error has
// a top-level "error" member right after the id, and a failed tool call has "isError":true
// (inside text content it would be escaped as \"isError\", which does not match).
func quickCheck(body []byte) error {
	head := body[:min(len(body), 64)]
	if bytes.Contains(head, []byte(`"error":`)) {
		return errors.New("JSON-RPC error: " + truncate(string(body), 200))
	}
	if bytes.Contains(body, []byte(`"isError":true`)) {
		return errors.New("tool error: " + truncate(string(body), 200))
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// httpSession is one MCP session over streamable HTTP.
type httpSession struct {
	client *http.Client
	url    string
	id     string
	next   int64
	buf    []byte
}

// openHTTPSession initializes a session and sends notifications/initialized.
func openHTTPSession(client *http.Client, url string) (*httpSession, error) {
	s := &httpSession{client: client, url: url}
	body, hdr, err := s.post(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":` + initializeParams + `}`)
	if err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	if err := checkReply(body); err != nil {
		return nil, fmt.Errorf("initialize: %w", err)
	}
	s.id = hdr.Get("Mcp-Session-Id")
	if s.id == "" {
		return nil, errors.New("initialize: no Mcp-Session-Id header in the response")
	}
	if _, _, err := s.post(`{"jsonrpc":"2.0","method":"notifications/initialized"}`); err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	return s, nil
}

// callTool calls a tool and returns the response body (a JSON-RPC response).
func (s *httpSession) callTool(name, args string) ([]byte, error) {
	s.next++
	s.buf = fmt.Appendf(s.buf[:0], `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, s.next, name, args)
	body, _, err := s.post(string(s.buf))
	return body, err
}

// post sends one JSON-RPC message and returns the JSON-RPC response in the body, which is
// either application/json or an SSE stream whose last data event is the response.
func (s *httpSession) post(msg string) ([]byte, http.Header, error) {
	req, err := http.NewRequest(http.MethodPost, s.url, strings.NewReader(msg))
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if s.id != "" {
		req.Header.Set("Mcp-Session-Id", s.id)
		req.Header.Set("MCP-Protocol-Version", protocolVersion)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case resp.StatusCode == http.StatusAccepted:
		return nil, resp.Header, nil
	case resp.StatusCode != http.StatusOK:
		return nil, nil, fmt.Errorf("HTTP %d: %s", resp.StatusCode, truncate(string(bytes.TrimSpace(body)), 200))
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		body = lastSSEData(body)
	}
	return body, resp.Header, nil
}

// lastSSEData returns the data of the last event in an SSE stream.
func lastSSEData(stream []byte) []byte {
	var last []byte
	for line := range bytes.Lines(stream) {
		if d, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r\n"), []byte("data:")); ok {
			last = bytes.TrimSpace(d)
		}
	}
	return last
}

// close ends the session with DELETE.
func (s *httpSession) close() {
	req, err := http.NewRequest(http.MethodDelete, s.url, nil)
	if err != nil {
		return
	}
	req.Header.Set("Mcp-Session-Id", s.id)
	req.Header.Set("MCP-Protocol-Version", protocolVersion)
	if resp, err := s.client.Do(req); err == nil {
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
