package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"

	"github.com/exokeys/exoscale-keys-mcp/internal/httpserve"
)

// runHTTP serves MCP over streamable HTTP (package httpserve holds the transport and its checks).
func runHTTP(ctx context.Context, args []string, stderr io.Writer, getenv func(string) string) error {
	fs := flag.NewFlagSet("http", flag.ContinueOnError)
	var c common
	var f httpserve.Flags
	var sf scaleFlags
	c.register(fs, getenv)
	f.Register(fs)
	sf.register(fs)
	if err := parseFlags(fs, args, stderr); err != nil {
		return err
	}
	if err := c.check(); err != nil {
		return err
	}
	token, err := f.AuthToken(getenv)
	if err != nil {
		return err
	}
	hs, err := httpserve.New(f, token)
	if err != nil {
		return err
	}
	if f.CredentialsFromHeaders && c.sandbox {
		return errors.New("--credentials-from-headers and --sandbox do not go together: the sandbox has its own credentials")
	}
	// A busy or bad --listen is reported before the sandbox starts: bind once and let go (Run
	// binds it again; handing Run this listener would close the gap, and is for httpserve).
	ln, err := net.Listen("tcp", f.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", f.Listen, err)
	}
	ln.Close()
	log, err := newLogger(c.logLevel, stderr)
	if err != nil {
		return err
	}
	scale, err := sf.setup(ctx, log, getenv)
	if err != nil {
		return err
	}
	defer scale.close()
	if err := scale.wire(hs, f.Limits, sf.replicas); err != nil {
		return err
	}
	c.shared = scale.engine
	b, err := c.newBackend(ctx, stderr, getenv, "http", !f.CredentialsFromHeaders)
	if err != nil {
		return err
	}
	defer b.close()
	if scale.metrics != nil {
		if err := scale.serveMetrics(b.log, b.registry); err != nil {
			return err
		}
		b.registry = b.registry.Observed(scale.metrics)
	}
	if f.CredentialsFromHeaders && c.secretDelivery == "file" {
		b.log.Warn("multi-tenant with --secret-delivery file: the secrets tenants create or reveal are written to this server's disk, under the secrets directory; use --secret-delivery inline to hand them to each tenant instead")
	}
	return hs.Run(ctx, b.log, newMCPServer(b, hs.ServerOptions()...))
}
