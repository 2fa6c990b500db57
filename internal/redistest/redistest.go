// Package redistest starts a real redis-server for tests, on a unix socket in a temporary
// directory: a socket needs no free port and nothing else on the machine can reach it.
//
// Tests that need Redis call Start; it skips the test, saying why, when the redis-server binary
// is absent, except under CI (CI set), which must install it (apt-get install -y redis-server).
package redistest

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Server is one redis-server process that a test started. Stop and Start let a test take Redis
// away and bring it back on the same socket.
type Server struct {
	t      testing.TB
	bin    string
	dir    string
	socket string

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Start starts redis-server on a unix socket and stops it when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		if os.Getenv("CI") != "" {
			// CI installs it (.ci/run): a skip there would hide a missing install step.
			t.Fatal("redis-server not installed, and CI is set: .ci/run must apt-get install -y redis-server")
		}
		t.Skip("redis-server not installed (apt-get install -y redis-server): skipping the tests that need a real Redis")
	}
	// Unix socket paths are limited to ~104 bytes: t.TempDir can be longer than that.
	dir, err := os.MkdirTemp("", "rt")
	if err != nil {
		t.Fatalf("redistest: %v", err)
	}
	s := &Server{t: t, bin: bin, dir: dir, socket: filepath.Join(dir, "redis.sock")}
	t.Cleanup(func() {
		s.Stop()
		os.RemoveAll(dir)
	})
	s.Start()
	return s
}

// Socket is the path of the unix socket Redis listens on.
func (s *Server) Socket() string { return s.socket }

// URL is the --redis-url of this server.
func (s *Server) URL() string { return "unix://" + s.socket }

// Start (re)starts the server on its socket and waits until it answers PING. It fails the test
// when Redis does not come up within 10 s.
func (s *Server) Start() {
	s.t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return
	}
	cmd := exec.Command(s.bin,
		"--port", "0", // no TCP listener at all
		"--unixsocket", s.socket, "--unixsocketperm", "700",
		"--dir", s.dir, "--save", "", "--appendonly", "no",
		"--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("redistest: start redis-server: %v", err)
	}
	s.cmd = cmd
	deadline := time.Now().Add(10 * time.Second)
	for {
		if err := ping(s.socket); err == nil {
			return
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "redis.log"))
			s.t.Fatalf("redistest: redis-server did not answer on %s within 10 s: %v\n%s", s.socket, err, log)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Stop kills the server (as a crash would) and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	s.cmd.Wait()
	s.cmd = nil
	os.Remove(s.socket)
}

// ping sends one PING in the inline protocol and expects +PONG.
func ping(socket string) error {
	c, err := net.DialTimeout("unix", socket, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if strings.TrimSpace(line) != "+PONG" {
		return fmt.Errorf("PING answered %q", line)
	}
	return nil
}
