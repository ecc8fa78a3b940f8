package testsupport

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Server is a server process of a test's own, which the test may stop and
// start again on the same data and address: an engine's outage. It is
// stopped when the test ends.
type Server struct {
	Addr string // host:port it listens on

	t    testing.TB
	name string
	args []string // the command
	log  *os.File
	cmd  *exec.Cmd
}

// StartServer runs args as a server called name that listens on addr, and
// waits until it accepts connections; its output goes to a log in the
// test's temp dir, shown if it does not start.
func StartServer(t testing.TB, name, addr string, args ...string) *Server {
	t.Helper()
	log, err := os.Create(filepath.Join(t.TempDir(), name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Addr: addr, t: t, name: name, args: args, log: log}
	s.Start()
	t.Cleanup(func() { s.Stop(); log.Close() })
	return s
}

// Start starts the server again after Stop; it does nothing if it runs.
func (s *Server) Start() {
	s.t.Helper()
	if s.cmd != nil {
		return
	}
	s.cmd = exec.Command(s.args[0], s.args[1:]...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	if err := s.cmd.Start(); err != nil {
		s.t.Fatalf("%s: %v", s.name, err)
	}
	for deadline := time.Now().Add(60 * time.Second); !Listening(s.Addr); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			out, _ := os.ReadFile(s.log.Name())
			s.t.Fatalf("%s did not start:\n%s", s.name, out)
		}
	}
}

// Stop ends the server as an operator would (SIGTERM), killing it after
// 30 s; it does nothing if it is stopped.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	WaitOrKill(s.cmd, 30*time.Second)
	s.cmd = nil
}

// WaitOrKill waits up to d for cmd to exit, then kills it.
func WaitOrKill(cmd *exec.Cmd, d time.Duration) {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(d):
		cmd.Process.Kill()
		<-done
	}
}
