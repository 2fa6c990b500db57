package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
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

// httpSession is one MCP session over streamable HTTP, on its own keep-alive connection.
// Requests are written as bytes and responses read with http.ReadResponse: no Transport, so no
// connection pool, no per-connection read and write goroutines and their hand-offs. On a 2-core
// machine every microsecond the load generator spends is taken from the server under test.
type httpSession struct {
	host, path string
	conn       net.Conn
	br         *bufio.Reader
	id         string
	next       int64
	req        []byte
	msg        []byte
	body       bytes.Buffer
}

// openHTTPSession initializes a session and sends notifications/initialized.
func openHTTPSession(mcpURL string) (*httpSession, error) {
	u, err := url.Parse(mcpURL)
	if err != nil {
		return nil, err
	}
	s := &httpSession{host: u.Host, path: u.Path}
	body, hdr, err := s.post([]byte(`{"jsonrpc":"2.0","id":0,"method":"initialize","params":` + initializeParams + `}`))
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
	if _, _, err := s.post([]byte(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)); err != nil {
		return nil, fmt.Errorf("notifications/initialized: %w", err)
	}
	return s, nil
}

// callTool calls a tool and returns the response body (a JSON-RPC response), valid until the
// session's next request.
func (s *httpSession) callTool(name, args string) ([]byte, error) {
	s.next++
	s.msg = fmt.Appendf(s.msg[:0], `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":%q,"arguments":%s}}`, s.next, name, args)
	body, _, err := s.post(s.msg)
	return body, err
}

// post sends one JSON-RPC message and returns the JSON-RPC response in the body, which is
// either application/json or an SSE stream whose last data event is the response.
func (s *httpSession) post(msg []byte) ([]byte, http.Header, error) {
	status, hdr, body, err := s.roundTrip(http.MethodPost, msg)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case status == http.StatusAccepted:
		return nil, hdr, nil
	case status != http.StatusOK:
		return nil, nil, fmt.Errorf("HTTP %d: %s", status, truncate(string(bytes.TrimSpace(body)), 200))
	}
	if strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		body = lastSSEData(body)
	}
	return body, hdr, nil
}

// roundTrip writes one HTTP/1.1 request on the session's connection (dialling it if needed)
// and reads the whole response.
func (s *httpSession) roundTrip(method string, body []byte) (int, http.Header, []byte, error) {
	if s.conn == nil {
		c, err := net.DialTimeout("tcp", s.host, 10*time.Second)
		if err != nil {
			return 0, nil, nil, err
		}
		s.conn, s.br = c, bufio.NewReaderSize(c, 32<<10)
	}
	s.req = fmt.Appendf(s.req[:0], "%s %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nAccept: application/json, text/event-stream\r\nContent-Length: %d\r\n", method, s.path, s.host, len(body))
	if s.id != "" {
		s.req = fmt.Appendf(s.req, "Mcp-Session-Id: %s\r\nMCP-Protocol-Version: %s\r\n", s.id, protocolVersion)
	}
	s.req = append(append(s.req, "\r\n"...), body...)
	s.conn.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := s.conn.Write(s.req); err != nil {
		s.drop()
		return 0, nil, nil, err
	}
	resp, err := http.ReadResponse(s.br, nil)
	if err != nil {
		s.drop()
		return 0, nil, nil, err
	}
	s.body.Reset()
	_, err = s.body.ReadFrom(resp.Body)
	resp.Body.Close()
	if err != nil || resp.Close {
		s.drop()
	}
	if err != nil {
		return 0, nil, nil, err
	}
	return resp.StatusCode, resp.Header, s.body.Bytes(), nil
}

func (s *httpSession) drop() {
	if s.conn != nil {
		s.conn.Close()
		s.conn = nil
	}
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

// close ends the session with DELETE and closes the connection.
func (s *httpSession) close() {
	if s.id != "" {
		s.roundTrip(http.MethodDelete, nil)
	}
	s.drop()
}
