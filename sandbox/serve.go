package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
)

// ServeOptions configure Serve, the `exoscale-keys-mcp sandbox` command. Errors name the
// command's flags (--listen, --state), since that is where an operator fixes them.
type ServeOptions struct {
	// Listen is the address to serve on (host:port; port 0 picks a free one).
	Listen string
	// StatePath, when set, keeps the organization across restarts: loaded at start when the
	// file exists, written atomically (0600) after each change the API applies and at exit.
	StatePath string
	// Out receives the banner: the endpoint and the seeded keys' credentials.
	Out io.Writer
	// Log receives warnings and failed saves; nil discards them.
	Log *slog.Logger
}

// Serve runs a sandbox as a process of its own, so the MCP server over EXOSCALE_API_ENDPOINT,
// the exo CLI or Terraform can be pointed at it, and several replicas can share it. It prints
// its endpoint and the credentials of its seeded keys on o.Out, then serves until ctx ends.
// Everything that can fail on the options (address, state file) fails before the banner.
func Serve(ctx context.Context, o ServeOptions) error {
	host, _, err := net.SplitHostPort(o.Listen)
	if err != nil {
		return fmt.Errorf("--listen: expected host:port (127.0.0.1:8081), got %q", o.Listen)
	}
	log := o.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	saver := &stateSaver{path: o.StatePath, log: log, wake: make(chan struct{}, 1), done: make(chan struct{})}
	sb := New(WithChangeHook(saver.changed))
	if o.StatePath != "" {
		data, err := os.ReadFile(o.StatePath)
		switch {
		case err == nil:
			if err := sb.RestoreState(data); err != nil {
				return fmt.Errorf("--state %s: %w", o.StatePath, err)
			}
		case errors.Is(err, fs.ErrNotExist):
		default:
			return fmt.Errorf("--state: %w", err)
		}
	}
	saver.sb = sb
	// Written once before serving: a path that cannot be written fails now, not at the first
	// change, and a new state file exists from the start.
	if err := saver.save(); err != nil {
		return fmt.Errorf("--state: %w", err)
	}
	base, stop, err := sb.Listen(o.Listen)
	if err != nil {
		return fmt.Errorf("--listen %s: %w", o.Listen, err)
	}
	saver.wg.Add(1)
	go saver.loop()

	if ip := net.ParseIP(host); (ip == nil || !ip.IsLoopback()) && host != "localhost" {
		log.Warn("the sandbox listens beyond loopback over plain HTTP; exoscale-keys-mcp accepts http endpoints on loopback only", "listen", o.Listen)
	}
	if o.Out != nil {
		printBanner(o.Out, sb, base, o.StatePath)
	}

	<-ctx.Done()
	stop() // no request runs past here, so the last save below sees every change
	close(saver.done)
	saver.wg.Wait()
	if o.StatePath == "" {
		return nil
	}
	if err := saver.save(); err != nil {
		return fmt.Errorf("--state: saving at exit: %w", err)
	}
	return nil
}

// printBanner prints the endpoint and the seeded keys' credentials, as plain lines and as
// shell exports. They are the sandbox's own fake secrets, accepted nowhere else: showing them to
// the operator who started it is what makes it usable.
func printBanner(w io.Writer, sb *Sandbox, base, statePath string) {
	key, secret := sb.ServerCredentials()
	fmt.Fprintln(w, "exoscale-keys-mcp sandbox: an in-memory Exoscale API for trying things out; no real organization is touched.")
	fmt.Fprintln(w, "endpoint: "+base)
	if statePath != "" {
		fmt.Fprintln(w, "state file: "+statePath)
	}
	fmt.Fprintln(w, "sandbox credentials (fake; valid only against this sandbox):")
	fmt.Fprintf(w, "  key %s (role %s): %s secret %s\n", ServerKeyName, AdminRoleName, key, secret)
	if k, s, ok := sb.KeyCredentials(RestrictedKeyName); ok {
		fmt.Fprintf(w, "  key %s (role %s): %s secret %s\n", RestrictedKeyName, RestrictedRoleName, k, s)
	}
	fmt.Fprintln(w, "to point exoscale-keys-mcp, the exo CLI or Terraform at it (as the admin key):")
	fmt.Fprintln(w, "export EXOSCALE_API_ENDPOINT="+base)
	fmt.Fprintln(w, "export EXOSCALE_API_KEY="+key)
	fmt.Fprintln(w, "export EXOSCALE_API_SECRET="+secret)
}

// stateSaver writes the sandbox's state after changes, off the request path: the change hook
// only wakes the loop, and changes that arrive while a write runs are folded into the next one.
type stateSaver struct {
	path string
	log  *slog.Logger
	sb   *Sandbox
	wake chan struct{}
	done chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex // one write at a time
}

func (s *stateSaver) changed() {
	if s.path == "" {
		return
	}
	select {
	case s.wake <- struct{}{}:
	default: // a write is already due
	}
}

func (s *stateSaver) loop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.done:
			return
		case <-s.wake:
			if err := s.save(); err != nil {
				s.log.Error("saving the sandbox state", "state", s.path, "err", err)
			}
		}
	}
}

// save writes the state atomically: a temporary file in the same directory, synced, then
// renamed over the old one, so a crash leaves the old state or the new one, never half of one.
func (s *stateSaver) save() error {
	if s.path == "" || s.sb == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.sb.MarshalState()
	if err != nil {
		return err
	}
	return writeFileAtomic(s.path, data)
}

// writeFileAtomic replaces path with data, mode 0600.
func writeFileAtomic(path string, data []byte) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if err = tmp.Chmod(0o600); err != nil {
		return err
	}
	if _, err = tmp.Write(data); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	// The rename is durable once the directory is synced; not every platform allows it.
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync()
		d.Close()
	}
	return nil
}
