// Command baseline is the floor the MCP library imposes: a bare mcp-go server with trivial
// tools, served over stdio or streamable HTTP exactly the way exoscale-keys-mcp serves them
// (stateful sessions at /mcp), so the benchmark can subtract what mcp-go costs by itself from
// what our server adds.
//
//	baseline stdio                      serve MCP on stdin/stdout
//	baseline http [-listen 127.0.0.1:0] serve streamable HTTP at /mcp; prints the URL on stdout
//
// It has as many tools as exoscale-keys-mcp (25): "echo", which returns its "text" argument,
// and 24 "noop-NN" tools with one string argument, so tools/list has a comparable count of
// entries, and a tools/call round trip does nothing but the library's own work.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"

	"github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"
)

// ToolCount matches the number of tools exoscale-keys-mcp serves.
const ToolCount = 25

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:]); err != nil {
		fmt.Fprintf(os.Stderr, "baseline: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	cmd := "stdio"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "stdio":
		err := server.NewStdioServer(newServer()).Listen(ctx, os.Stdin, os.Stdout)
		if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, io.EOF) {
			return nil
		}
		return err
	case "http":
		return serveHTTP(ctx, args)
	}
	return fmt.Errorf("unknown command %q: want stdio or http", cmd)
}

// newServer builds the bare MCP server: the same capabilities our server announces for tools,
// nothing else.
func newServer() *server.MCPServer {
	s := server.NewMCPServer("baseline", "1", server.WithToolCapabilities(false))
	s.AddTool(mcp.NewTool("echo",
		mcp.WithDescription("Return the text argument."),
		mcp.WithString("text", mcp.Description("text to return"), mcp.Required()),
		mcp.WithReadOnlyHintAnnotation(true),
	), func(_ context.Context, req mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		return mcp.NewToolResultText(req.GetString("text", "")), nil
	})
	for i := 1; i < ToolCount; i++ {
		s.AddTool(mcp.NewTool(fmt.Sprintf("noop-%02d", i),
			mcp.WithDescription("Do nothing and say so."),
			mcp.WithString("id", mcp.Description("any string")),
			mcp.WithReadOnlyHintAnnotation(true),
		), func(context.Context, mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return mcp.NewToolResultText("ok"), nil
		})
	}
	return s
}

func serveHTTP(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	streamable := server.NewStreamableHTTPServer(newServer(),
		server.WithEndpointPath("/mcp"),
		server.WithStateful(true),
	)
	mux := http.NewServeMux()
	mux.Handle("/mcp", streamable)
	hs := &http.Server{Handler: mux}
	// The benchmark reads this line to find the port.
	fmt.Printf("http://%s/mcp\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return errors.Join(streamable.Shutdown(context.Background()), hs.Shutdown(context.Background()))
}
